"""``rgasc demo``: the offline end-to-end run (:mod:`.run`) and its report (:mod:`.report`)."""

"""The evaluate stage: score a finished run on one split and write its report folder
(:func:`rgasc.evaluate.run.evaluate_run`). The numbers come from :mod:`rgasc.scoring`."""

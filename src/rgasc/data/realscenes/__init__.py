"""The real-sound scene benchmark: real recordings from pinned Debian packages, mixed into
10-s scene clips in the DCASE layout with three recording-disjoint folds.

``rgasc.data.realscenes.build.build(out)`` fetches (once) and writes it;
``python -m rgasc.data.realscenes --out DIR`` does the same from a shell.
"""

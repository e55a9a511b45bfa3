"""Using a trained model: self-describing checkpoints, layered prediction, formats, export.

Submodules import torch; import them where they are used (``rgasc.load_model`` is the entry).
"""

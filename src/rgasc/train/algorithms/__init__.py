"""Training algorithms as plain PyTorch/NumPy: the four losses (:mod:`.losses`), batch
augmentation (:mod:`.augment`), the optimiser and lr schedule (:mod:`.schedule`), weight
averaging (:mod:`.averaging`) and the model-selection rules (:mod:`.selection`). No Lightning.
"""

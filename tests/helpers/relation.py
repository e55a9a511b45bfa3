"""Hand-made pseudo-labels whose relation matrix is known, for the relation and CLI tests."""

from __future__ import annotations

import numpy as np

from rgasc.data.datasets import DcaseDataset, clip_key
from rgasc.labels.files import PseudoLabels

EVENTS = ["Speech", "Vehicle", "Bird", "test_marker"]


def hand_labels(ds: DcaseDataset) -> PseudoLabels:
    """Scene k -> event k at a clip-dependent level; 'test_marker' = 1 only on test clips."""
    test = {c.key for c in ds.split("test")}
    names, rows = [], []
    for i, c in enumerate(ds.clips):
        k = ds.scene_index(c.scene)
        row = np.full(len(EVENTS), 0.1, dtype=np.float32)
        row[k] = 0.5 + 0.05 * (i % 4)  # varies per clip so the mean is not trivial
        row[3] = 1.0 if c.key in test else 0.0
        rows.append(row)
        # every spelling of a clip name must join: audio/x.wav, x.wav, x
        names.append([c.filename, c.key + ".wav", c.key][i % 3])
    return PseudoLabels(names, np.stack(rows), list(EVENTS), {"teacher": "hand"})


def expected_relation(
    ds: DcaseDataset, pl: PseudoLabels, split: str, binarize: float | None = None
) -> np.ndarray:
    """Per-scene means by an explicit loop, independent of relation_matrix."""
    keys = {clip_key(n): i for i, n in enumerate(pl.filenames)}
    clips = ds.split(split)
    out = np.zeros((len(ds.scenes), len(EVENTS)))
    for k, scene in enumerate(ds.scenes):
        rows = [pl.probs[keys[c.key]] for c in clips if c.scene == scene]
        if binarize is not None:
            rows = [(r >= binarize).astype(float) for r in rows]
        out[k] = np.mean(rows, axis=0)
    return out

"""The event-only scene lookup ``argmax(y_e . R^T)`` scored on a dataset split (Table I #2)."""

from __future__ import annotations

import os
from typing import TYPE_CHECKING, Any

import numpy as np

from rgasc.errors import LabelSpaceError
from rgasc.labels.files import PseudoLabels, as_labels
from rgasc.relation.io import Relation
from rgasc.relation.matrix import event_to_scene

if TYPE_CHECKING:
    from rgasc.data.datasets import DcaseDataset


def lookup_predictions(probs: np.ndarray, rel: Relation) -> np.ndarray:
    """Scene index [N] per clip from event probabilities [N, E] via ``argmax(y_e . R^T)``.

    When R was built from binarised labels, the clips' labels are binarised at the same
    threshold, so both sides of the product live in the same space.
    """
    t = rel.meta.get("binarize")
    if t is not None:
        probs = (np.asarray(probs) >= float(t)).astype(np.float32)
    return event_to_scene(probs, rel.matrix).argmax(axis=1)


def evaluate_lookup(
    dataset: DcaseDataset,
    labels: PseudoLabels | str | os.PathLike[str],
    rel: Relation,
    split: str = "test",
) -> dict[str, Any]:
    """Score the event-only scene lookup ``argmax(y_e . R^T)`` on a split (Table I #2).

    When R was built from binarised labels, the split's labels are binarised at the same
    threshold, so both sides of the product live in the same space. The fold, validation
    fraction and seed are those recorded in ``rel.meta``.

    Returns:
        dict with split, n_clips, macro_accuracy, overall_accuracy, chance (1/K),
        per_class ({scene: accuracy}) and confusion (K x K list).
    """
    from rgasc.scoring.metrics import (
        confusion_matrix,
        macro_accuracy,
        overall_accuracy,
        per_class_accuracy,
    )

    pl, source = as_labels(labels)
    if list(rel.scenes) != list(dataset.scenes):
        raise LabelSpaceError(
            f"R's scenes {rel.scenes} differ from {dataset.root}'s {dataset.scenes}; rebuild R "
            "on this dataset with `rgasc relation`"
        )
    if list(rel.events) != list(pl.labels):
        raise LabelSpaceError(
            f"{source}: its {len(pl.labels)} event labels differ from R's {len(rel.events)}; "
            "use the label file R was built from"
        )
    clips = dataset.split(
        split,
        fold=int(rel.meta.get("fold", 1)),
        val_fraction=float(rel.meta.get("val_fraction", 0.3)),
        seed=int(rel.meta.get("seed", 0)),
        check_audio=False,
    )
    probs = pl.select([c.filename for c in clips], source=f"{source} ({split} split)")
    y_true = dataset.labels(clips)
    y_pred = lookup_predictions(probs, rel)
    k = len(rel.scenes)
    acc = per_class_accuracy(y_true, y_pred, k)
    return {
        "split": split,
        "n_clips": int(len(clips)),
        "macro_accuracy": macro_accuracy(y_true, y_pred, k),
        "overall_accuracy": overall_accuracy(y_true, y_pred),
        "chance": 1.0 / k,
        "per_class": {s: float(a) for s, a in zip(rel.scenes, acc, strict=True)},
        "confusion": confusion_matrix(y_true, y_pred, k).tolist(),
    }

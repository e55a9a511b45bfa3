"""Evaluation metrics: arrays in, numbers out (numpy around scikit-learn).

Scene metrics take integer class ids ``y_true``/``y_pred`` of shape [N] (ids in
``0..n_classes-1``) or class probabilities ``probs`` [N, K]. Event metrics take targets and
scores of shape [N, E] (clips x events), with soft targets turned into presence at a
threshold, as the event tower is scored against the teacher's pseudo-labels.

scikit-learn computes the confusion matrix, the macro (balanced) accuracy, the log loss and
the average precision; this module fixes the conventions around them that the paper's
tables need and that scikit-learn leaves open or warns about: ids checked against K, every
class a row of the confusion matrix, classes absent from ``y_true`` left out of the macro
mean, an empty input scored NaN, probabilities clipped at :data:`LOG_LOSS_EPS`.
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
from sklearn import metrics as skm

__all__ = [
    "confusion_matrix",
    "log_loss",
    "macro_accuracy",
    "mean_average_precision",
    "mean_clip_auc",
    "overall_accuracy",
    "per_class_accuracy",
    "per_class_table",
    "per_device_accuracy",
    "summarize",
]

# Probabilities are clipped to [EPS, 1] before the log so a confident mistake costs a large
# but finite amount (same value as scikit-learn's historical default).
LOG_LOSS_EPS = 1e-15


def _ids(y: Any, name: str) -> np.ndarray:
    a = np.asarray(y)
    if a.ndim != 1:
        raise ValueError(f"{name} must be 1-D class ids, got shape {a.shape}")
    if a.size and not np.issubdtype(a.dtype, np.integer):
        if not np.all(np.equal(np.mod(a, 1), 0)):
            raise ValueError(f"{name} must hold integer class ids")
        a = a.astype(np.int64)
    return a.astype(np.int64, copy=False)


def _pair(y_true: Any, y_pred: Any, n_classes: int | None = None) -> tuple[np.ndarray, np.ndarray]:
    t, p = _ids(y_true, "y_true"), _ids(y_pred, "y_pred")
    if t.shape != p.shape:
        raise ValueError(f"y_true {t.shape} and y_pred {p.shape} differ in length")
    if n_classes is not None and t.size:
        lo, hi = min(t.min(), p.min()), max(t.max(), p.max())
        if lo < 0 or hi >= n_classes:
            raise ValueError(f"class ids must lie in [0, {n_classes}), got [{lo}, {hi}]")
    return t, p


def overall_accuracy(y_true: Any, y_pred: Any) -> float:
    """Fraction of clips whose predicted class is right.

    Args:
        y_true, y_pred: int class ids [N].
    Returns:
        accuracy in [0, 1]; NaN when N == 0.
    """
    t, p = _pair(y_true, y_pred)
    return float(np.mean(t == p)) if t.size else float("nan")


def confusion_matrix(y_true: Any, y_pred: Any, n_classes: int) -> np.ndarray:
    """Counts [K, K] int64: row = true class, column = predicted class.

    Every class has its row and column, present or not (scikit-learn's ``labels=``).
    """
    t, p = _pair(y_true, y_pred, n_classes)
    if not t.size:  # scikit-learn refuses empty input; no clip is an all-zero matrix
        return np.zeros((n_classes, n_classes), dtype=np.int64)
    return skm.confusion_matrix(t, p, labels=np.arange(n_classes)).astype(np.int64)


def per_class_accuracy(y_true: Any, y_pred: Any, n_classes: int) -> np.ndarray:
    """Recall of each class: correct clips of class k / clips of class k.

    Args:
        y_true, y_pred: int class ids [N].
        n_classes: K.
    Returns:
        float64 [K]; NaN for classes with no clip in ``y_true``.
    """
    cm = confusion_matrix(y_true, y_pred, n_classes)
    n = cm.sum(axis=1).astype(np.float64)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(n > 0, np.diag(cm) / np.maximum(n, 1), np.nan)


def macro_accuracy(y_true: Any, y_pred: Any, n_classes: int) -> float:
    """Class-wise accuracy averaged over classes: the paper's Acc.

    Each class present in ``y_true`` counts once, whatever its number of clips; classes
    absent from ``y_true`` are left out of the mean (their accuracy is undefined), so a
    subset of the test set is scored on the classes it contains. That is scikit-learn's
    ``balanced_accuracy_score``, which also leaves such classes out (with a warning, silenced
    here: it is the documented behaviour, not an accident).

    Args:
        y_true, y_pred: int class ids [N].
        n_classes: K.
    Returns:
        macro accuracy in [0, 1]; NaN when ``y_true`` is empty.
    """
    t, p = _pair(y_true, y_pred, n_classes)
    if not t.size:
        return float("nan")
    with warnings.catch_warnings():
        warnings.filterwarnings("ignore", message="y_pred contains classes not in y_true")
        return float(skm.balanced_accuracy_score(t, p))


def log_loss(y_true: Any, probs: Any, eps: float = LOG_LOSS_EPS) -> float:
    """Multi-class log loss: mean over clips of -log p[true class].

    Args:
        y_true: int class ids [N].
        probs: class probabilities [N, K] (softmax outputs; rows are not renormalised:
            scikit-learn >= 1.5, the pinned minimum, scores them as given).
        eps: probabilities are clipped to [eps, 1] first.
    Returns:
        mean negative log-likelihood (natural log); NaN when N == 0.
    """
    t = _ids(y_true, "y_true")
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] != t.size:
        raise ValueError(f"probs must be [N={t.size}, K], got shape {p.shape}")
    if t.size and (t.min() < 0 or t.max() >= p.shape[1]):
        raise ValueError(f"class ids must lie in [0, {p.shape[1]})")
    if not t.size:
        return float("nan")
    # scikit-learn clips at the float's machine epsilon; clipping at eps first keeps our
    # (documented, larger) floor. Its second clip to 1 - 2.2e-16 changes a loss by < 1e-15.
    p = np.clip(p, eps, 1.0)
    if p.shape[1] == 1:  # scikit-learn needs two labels; an extra never-true class adds 0
        p = np.concatenate([p, np.zeros_like(p)], axis=1)
    with warnings.catch_warnings():
        # float32 softmax rows sum to 1 only to ~1e-7 (and the clip adds up to K * eps):
        # scikit-learn's "do not sum to one" warning would fire on every real batch
        warnings.filterwarnings("ignore", message="The y_prob values do not sum to one")
        return float(skm.log_loss(t, p, labels=np.arange(p.shape[1])))


def _event_arrays(targets: Any, scores: Any, threshold: float) -> tuple[np.ndarray, np.ndarray]:
    y = np.asarray(targets, dtype=np.float64)
    s = np.asarray(scores, dtype=np.float64)
    if y.ndim != 2 or y.shape != s.shape:
        raise ValueError(f"targets {y.shape} and scores {s.shape} must both be [N, E]")
    return (y >= threshold), s


def mean_average_precision(targets: Any, scores: Any, threshold: float = 0.5) -> float:
    """Mean over events of the average precision of ``scores`` against ``targets``.

    Args:
        targets: [N, E] presence (0/1) or soft targets (teacher probabilities).
        scores: [N, E] predicted event probabilities.
        threshold: a soft target >= threshold counts as present.
    Returns:
        mAP over the events with at least one positive clip (AP is undefined without one);
        NaN when no event has a positive.
    """
    y, s = _event_arrays(targets, scores, threshold)
    cols = np.flatnonzero(y.any(axis=0))
    if cols.size == 0:
        return float("nan")
    # average="macro" over the kept columns: the mean of the per-event APs
    return float(skm.average_precision_score(y[:, cols], s[:, cols], average="macro"))


def mean_clip_auc(targets: Any, scores: Any, threshold: float = 0.5) -> float:
    """The authors' event metric: ROC AUC of each clip over its events, averaged over clips.

    Per clip, AUC = P(score of a present event > score of an absent one), ties count half
    (the Mann-Whitney form, computed from average ranks, equal to scikit-learn's
    ``roc_auc_score`` on that row). Computed here rather than by ``roc_auc_score`` because
    it is per *row*: one vectorised rank pass instead of one scikit-learn call (with its
    input validation) per clip, which is seconds on a full evaluation set.

    Args:
        targets: [N, E] presence or soft targets; scores: [N, E].
        threshold: a soft target >= threshold counts as present.
    Returns:
        mean AUC over clips with both present and absent events; NaN when none has both.
    """
    from scipy.stats import rankdata

    y, s = _event_arrays(targets, scores, threshold)
    n_pos = y.sum(axis=1)
    n_neg = y.shape[1] - n_pos
    ok = (n_pos > 0) & (n_neg > 0)
    if not ok.any():
        return float("nan")
    ranks = rankdata(s[ok], axis=1, method="average")
    pos_rank_sum = np.where(y[ok], ranks, 0.0).sum(axis=1)
    npos, nneg = n_pos[ok], n_neg[ok]
    auc = (pos_rank_sum - npos * (npos + 1) / 2.0) / (npos * nneg)
    return float(auc.mean())


def per_device_accuracy(y_true: Any, y_pred: Any, devices: Sequence[str]) -> dict[str, float]:
    """Overall accuracy of the clips of each recording device.

    Args:
        y_true, y_pred: int class ids [N]; devices: device name of each clip, length N.
    Returns:
        {device: accuracy}, devices in sorted order.
    """
    t, p = _pair(y_true, y_pred)
    d = np.asarray([str(x) for x in devices])
    if d.shape != t.shape:
        raise ValueError(f"devices has {d.size} entries for {t.size} clips")
    return {str(k): float(np.mean(t[d == k] == p[d == k])) for k in sorted(set(d.tolist()))}


def per_class_table(y_true: Any, y_pred: Any, class_names: Sequence[str]) -> list[dict[str, Any]]:
    """Rows in the layout of the paper's Table V: one per class.

    Returns:
        ``[{"class": name, "n": clips, "correct": right, "accuracy": right / clips}]`` in
        ``class_names`` order; accuracy is NaN for a class without clips.
    """
    cm = confusion_matrix(y_true, y_pred, len(class_names))
    n, correct = cm.sum(axis=1), np.diag(cm)
    return [
        {
            "class": str(name),
            "n": int(n[i]),
            "correct": int(correct[i]),
            "accuracy": float(correct[i] / n[i]) if n[i] else float("nan"),
        }
        for i, name in enumerate(class_names)
    ]


def summarize(
    y_true: Any,
    probs: Any,
    class_names: Sequence[str],
    devices: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Every scene metric of one split in one JSON-ready dict.

    Args:
        y_true: int class ids [N]; probs: class probabilities [N, K]; class_names: K names;
        devices: optional device name per clip (adds ``per_device``).
    Returns:
        dict with n, macro_accuracy, overall_accuracy, log_loss, per_class (Table V rows),
        confusion (K x K list), and per_device when ``devices`` is given.
    """
    p = np.asarray(probs)
    if p.ndim != 2 or p.shape[1] != len(class_names):
        raise ValueError(f"probs must be [N, K={len(class_names)}], got shape {p.shape}")
    k = len(class_names)
    y_pred = p.argmax(axis=1)
    out: dict[str, Any] = {
        "n": int(p.shape[0]),
        "macro_accuracy": macro_accuracy(y_true, y_pred, k),
        "overall_accuracy": overall_accuracy(y_true, y_pred),
        "log_loss": log_loss(y_true, p),
        "per_class": per_class_table(y_true, y_pred, class_names),
        "confusion": confusion_matrix(y_true, y_pred, k).tolist(),
    }
    if devices is not None:
        out["per_device"] = per_device_accuracy(y_true, y_pred, devices)
    return out

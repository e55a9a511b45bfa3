"""Baselines that need no network training: the event-only lookup and PANN "fixed mode".

Both take the :class:`~rgasc.train.TrainConfig` of the run they stand in for (dataset, label
file, relation folder, split and selection settings) and write ``<cfg.out>/metrics.json`` in
the layout of a trained run (``val``/``test`` with ``macro_accuracy``), so a sweep treats
them like any other run.

- Event-only lookup (Table I #2): ``argmax(y_e . R_SE^T)`` with y_e the teacher's
  pseudo-labels of each clip: no training at all.
- PANN fixed mode (Table III): the teacher stays frozen and a linear classifier (multinomial
  logistic regression on standardised inputs) learns the scenes from its clip embeddings
  when the label file stores them (``rgasc tag --embeddings``), else from its event
  probabilities. The regularisation C is chosen on the selection split. It is named after
  the teacher that made the label file (:func:`labels_teacher`): "YAMNet fixed mode" for
  YAMNet's labels; ``pann_fixed`` stays its folder and runner name.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rgasc.artefacts import METRICS_FILE
from rgasc.errors import ArtefactError
from rgasc.experiments.settings import teacher_title
from rgasc.utils import write_json

#: Inverse regularisation strengths tried by :func:`pann_fixed` (log-spaced).
DEFAULT_CS: tuple[float, ...] = (0.001, 0.01, 0.1, 1.0, 10.0, 100.0)
METRICS = METRICS_FILE
H5 = (".h5", ".hdf5")


def _split_scores(
    y_true: np.ndarray,
    y_pred: np.ndarray,
    scenes: Sequence[str],
    probs: np.ndarray | None = None,
    devices: Sequence[str] | None = None,
    unseen: Sequence[str] = (),
) -> dict[str, Any]:
    """n, macro/overall accuracy, per-class rows and confusion of one split's predictions.

    With class probabilities ``probs`` [N, K] also the log loss and, given each clip's
    device, the per-device report (None on a one-device split).
    """
    from rgasc.scoring.devices import device_report
    from rgasc.scoring.metrics import (
        confusion_matrix,
        log_loss,
        macro_accuracy,
        overall_accuracy,
        per_class_table,
    )

    k = len(scenes)
    out = {
        "n": int(len(y_true)),
        "macro_accuracy": macro_accuracy(y_true, y_pred, k),
        "overall_accuracy": overall_accuracy(y_true, y_pred),
        "per_class": per_class_table(y_true, y_pred, scenes),
        "confusion": confusion_matrix(y_true, y_pred, k).tolist(),
    }
    if probs is not None:
        out["log_loss"] = log_loss(y_true, probs)
        out["devices"] = device_report(y_true, probs, devices, unseen)
    return out


def _full_proba(clf: Any, z: np.ndarray, k: int) -> np.ndarray:
    """predict_proba as [N, K]: a scene absent from the training split gets probability 0."""
    p = np.zeros((z.shape[0], k), dtype=np.float64)
    p[:, np.asarray(clf.classes_, dtype=np.int64)] = clf.predict_proba(z)
    return p


def event_lookup(cfg: Any) -> dict[str, Any]:
    """Score the event-only lookup ``argmax(y_e . R^T)`` on the val and test splits.

    Args:
        cfg: a TrainConfig (dataset, labels, relation, fold, val_fraction, split_seed, out).

    Returns:
        the metrics written to ``cfg.out/metrics.json``.
    """
    from rgasc.data.datasets import DcaseDataset
    from rgasc.labels.files import read_labels
    from rgasc.relation import load_relation, lookup_predictions

    d = cfg.data
    ds = DcaseDataset(d.dataset)
    labels = read_labels(d.labels)
    rel = load_relation(d.relation)
    if list(rel.events) != list(labels.labels) or list(rel.scenes) != list(ds.scenes):
        raise ArtefactError(
            f"{d.relation}: R_SE's scenes/events differ from {d.dataset} / {d.labels}; "
            f"rebuild it with `rgasc relation {d.labels} --dataset {d.dataset}`"
        )
    out: dict[str, Any] = {
        "kind": "event-only lookup",
        "method": "argmax over scenes of y_e . R_SE^T; y_e = the teacher's pseudo-labels "
        "(binarised at R's threshold when R was)",
        "selection_split": cfg.optim.select_on,
        "selection": "none (no training)",
        "relation": str(cfg.data.relation),
    }
    for split in ("val", "test"):
        clips = cfg.data.clips(ds, split)
        if not clips:
            out[split] = None
            continue
        y_e = labels.select([c.filename for c in clips], source=str(cfg.data.labels))
        pred = lookup_predictions(y_e, rel)
        out[split] = _split_scores(ds.labels(clips), pred, ds.scenes)
    write_json(Path(cfg.out) / METRICS, _safe(out))
    return out


def labels_teacher(path: str | Path | None) -> str | None:
    """The ``teacher`` attribute of an HDF5 label file (``rgasc tag`` writes it), or None for
    a CSV, a file without it or no file. Only the attributes are read."""
    if path is None or not Path(path).is_file() or Path(path).suffix.lower() not in H5:
        return None
    import h5py

    with h5py.File(path, "r") as f:
        value = f.attrs.get("teacher")
    if isinstance(value, bytes):
        value = value.decode()
    return str(value) if value else None


def _features(cfg: Any, names: list[str]) -> tuple[np.ndarray, str]:
    """Teacher embeddings of ``names`` when stored in the label file, else probabilities."""
    from rgasc.data.datasets import clip_key
    from rgasc.labels.files import read_labels

    path = Path(cfg.data.labels)
    if path.suffix.lower() in H5:
        import h5py

        with h5py.File(path, "r") as f:
            has_emb = "embedding" in f
        if has_emb:
            from rgasc.labels.tagging import read_embeddings

            stored, emb = read_embeddings(path)
            index = {clip_key(n): i for i, n in enumerate(stored)}
            missing = [n for n in names if clip_key(n) not in index]
            if missing:
                raise ArtefactError(
                    f"{path}: no embedding for {len(missing)} clip(s), e.g. {missing[:3]}"
                )
            return emb[[index[clip_key(n)] for n in names]], "teacher embeddings"
    labels = read_labels(path)
    return labels.select(names, source=str(path)), "teacher event probabilities"


def pann_fixed(cfg: Any, cs: Sequence[float] = DEFAULT_CS) -> dict[str, Any]:
    """Linear classifier on the frozen teacher's outputs; writes ``cfg.out/metrics.json``.

    Fit on the training split (the same clips the networks train on), C chosen by macro
    accuracy on ``cfg.optim.select_on`` (ties: the smaller C, i.e. the simpler model), then scored
    on val and test.

    Args:
        cfg: a TrainConfig. cs: values of C to try.

    Returns:
        the metrics written (also holds the chosen C and the score of every C tried).
    """
    from sklearn.linear_model import LogisticRegression
    from sklearn.preprocessing import StandardScaler

    from rgasc.data.datasets import DcaseDataset
    from rgasc.scoring.metrics import macro_accuracy

    ds = DcaseDataset(cfg.data.dataset)
    splits = {s: cfg.data.clips(ds, s) for s in ("train", "val", "test")}
    if not splits["train"] or not splits[cfg.optim.select_on]:
        raise ArtefactError(f"{cfg.data.dataset}: empty train or {cfg.optim.select_on} split")
    x: dict[str, np.ndarray] = {}
    source = ""
    for s, clips in splits.items():
        if clips:
            x[s], source = _features(cfg, [c.filename for c in clips])
    y = {s: ds.labels(c) for s, c in splits.items()}
    scaler = StandardScaler().fit(x["train"])
    z = {s: scaler.transform(v) for s, v in x.items()}
    k = len(ds.scenes)
    tried: dict[str, float] = {}
    best: tuple[float, float, Any] | None = None
    for c in sorted(cs):
        clf = LogisticRegression(C=c, max_iter=2000, random_state=cfg.seed)
        clf.fit(z["train"], y["train"])
        score = macro_accuracy(y[cfg.optim.select_on], clf.predict(z[cfg.optim.select_on]), k)
        tried[f"{c:g}"] = score
        if best is None or score > best[0]:
            best = (score, c, clf)
    assert best is not None
    _, c_best, clf = best
    out: dict[str, Any] = {
        "kind": f"{teacher_title(labels_teacher(cfg.data.labels))} fixed mode",
        "method": f"multinomial logistic regression on standardised {source}",
        "input": source,
        "C": c_best,
        "selection_split": cfg.optim.select_on,
        "selection": f"C chosen on the {cfg.optim.select_on} split",
        "selection_scores": tried,
    }
    unseen = ds.unseen_devices(cfg.data.fold)
    for s in ("val", "test"):
        if s not in z:
            out[s] = None
            continue
        devices = [c.device for c in splits[s]]
        probs = _full_proba(clf, z[s], k)
        out[s] = _split_scores(y[s], clf.predict(z[s]), ds.scenes, probs, devices, unseen)
    write_json(Path(cfg.out) / METRICS, _safe(out))
    return out


def _safe(obj: Any) -> Any:
    from rgasc.utils import json_safe

    return json_safe(obj)

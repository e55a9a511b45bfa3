"""The scene-event relation matrix R_SE (paper eq. 1-3) and the event-only scene lookup.

``R[k, e]`` is the mean, over the clips of scene k, of the teacher's probability of event e:
a row is the average event profile of a scene. It is computed on training clips only by
default, so nothing about the test clips leaks into the model through R.

The authors' code differs in two ways, both available here: it binarises the teacher's
outputs first (``binarize=T``: ``p >= T`` counts as present, so R becomes the fraction of a
scene's clips in which an event is present), and it uses every clip (``split="all"``).

Rows follow the dataset's scene order (:attr:`DcaseDataset.scenes`), columns the label
file's event order.
"""

from __future__ import annotations

import csv
import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rgasc.errors import ArtefactError, LabelSpaceError, RgascError
from rgasc.pseudolabels import PseudoLabels, read_labels
from rgasc.utils import atomic_path, write_json

if TYPE_CHECKING:
    from rgasc.data.datasets import DcaseDataset

RELATION_SPLITS = ("train", "trainval", "all")
FILES = ("relation.npy", "relation.json", "relation.csv", "top_events.csv", "relation.png")
# Columns in relation.png: enough to show each scene's distinctive events, few enough that
# the event names stay legible.
FIGURE_EVENTS = 30


# --- the maths -----------------------------------------------------------------------------
def relation_matrix(
    probs: np.ndarray,
    scene_ids: np.ndarray,
    n_scenes: int,
    binarize: float | None = None,
    *,
    scene_names: Sequence[str] | None = None,
) -> np.ndarray:
    """R_SE from per-clip event probabilities (eq. 1-3).

    Args:
        probs: event probabilities [N, E] of N clips.
        scene_ids: int scene index [N] of each clip, in ``0..n_scenes-1``.
        n_scenes: K.
        binarize: if given, ``probs >= binarize`` becomes 1 and the rest 0 before averaging
            (the authors' code).
        scene_names: K names, used only in error messages.
    Returns:
        float32 [K, E]; row k = mean of the (binarised) probabilities of scene k's clips.
    Raises:
        RgascError naming a scene that has no clip (its row would be undefined).
    """
    p = np.asarray(probs, dtype=np.float64)
    s = np.asarray(scene_ids)
    if p.ndim != 2:
        raise ValueError(f"probs must be [N, E], got shape {p.shape}")
    if s.shape != (p.shape[0],):
        raise ValueError(f"scene_ids must be [N={p.shape[0]}], got shape {s.shape}")
    if s.size and (s.min() < 0 or s.max() >= n_scenes):
        raise ValueError(f"scene ids must lie in [0, {n_scenes}), got [{s.min()}, {s.max()}]")
    if not np.all(np.isfinite(p)):
        raise RgascError("event probabilities contain NaN or inf; re-run `rgasc tag`")
    if binarize is not None:
        p = (p >= binarize).astype(np.float64)
    counts = np.bincount(s.astype(np.int64), minlength=n_scenes)
    empty = np.flatnonzero(counts == 0)
    if empty.size:
        names = [scene_names[int(i)] if scene_names else f"#{i}" for i in empty]
        raise RgascError(
            f"scene(s) {names} have no clips, so their relation row is undefined; "
            "use a split that contains every scene (e.g. --split trainval or all)"
        )
    sums = np.zeros((n_scenes, p.shape[1]), dtype=np.float64)
    np.add.at(sums, s.astype(np.int64), p)
    return (sums / counts[:, None]).astype(np.float32)


def event_to_scene(event_probs: np.ndarray, relation: np.ndarray) -> np.ndarray:
    """Event-only scene scores (Table I #2): ``y_s = y_e . R^T``.

    Args:
        event_probs: [N, E] (or [E] for one clip).
        relation: R [K, E].
    Returns:
        float32 [N, K] (or [K]); argmax over K is the predicted scene.
    """
    y = np.asarray(event_probs, dtype=np.float32)
    r = np.asarray(relation, dtype=np.float32)
    if r.ndim != 2 or y.shape[-1] != r.shape[1]:
        raise LabelSpaceError(
            f"event probabilities have {y.shape[-1]} events but R has {r.shape[-1]}: they come "
            "from different teachers/label files; rebuild R with `rgasc relation`"
        )
    return y @ r.T


def top_events(
    relation: np.ndarray, events: Sequence[str], k: int
) -> list[list[tuple[str, float]]]:
    """The k largest entries of each row of R.

    Returns:
        one list per scene (row order) of ``(event, R[scene, event])``, largest first; ties
        keep the label file's event order.
    """
    r = np.asarray(relation)
    if r.shape[1] != len(events):
        raise ValueError(f"R has {r.shape[1]} columns but {len(events)} event names")
    k = max(0, min(k, r.shape[1]))
    out = []
    for row in r:
        order = np.argsort(-row, kind="stable")[:k]
        out.append([(str(events[e]), float(row[e])) for e in order])
    return out


def informative_events(relation: np.ndarray, k: int) -> np.ndarray:
    """Indices of the k events whose relation varies most across scenes.

    Score = standard deviation of the column ``R[:, e]`` over scenes: an event that is
    equally likely in every scene (or never present) says nothing about the scene, and one
    that is frequent in some scenes and rare in others says most. The std (rather than a
    max/mean ratio) keeps near-zero events, whose ratios are noise, out of the selection.

    Returns:
        int64 [min(k, E)], most informative first (ties: label file order).
    """
    r = np.asarray(relation, dtype=np.float64)
    score = r.std(axis=0)
    return np.argsort(-score, kind="stable")[: max(0, min(k, r.shape[1]))].astype(np.int64)


def event_evidence(
    event_probs: np.ndarray,
    relation: np.ndarray,
    scene: int,
    events: Sequence[str],
    k: int,
) -> list[tuple[str, float]]:
    """Which events of one clip support a scene: ``p_e * R[scene, e]``, largest first.

    The terms sum to that clip's event-only score for the scene, so the list explains the
    lookup's decision.

    Args:
        event_probs: [E] one clip's event probabilities; relation: [K, E]; scene: row index.
    Returns:
        up to k ``(event, score)`` pairs.
    """
    p = np.asarray(event_probs, dtype=np.float64).reshape(-1)
    r = np.asarray(relation, dtype=np.float64)
    if p.shape[0] != r.shape[1] or len(events) != r.shape[1]:
        raise LabelSpaceError(
            f"{p.shape[0]} event probabilities, {len(events)} names and R with {r.shape[1]} "
            "events disagree; use the label file R was built from"
        )
    contrib = p * r[scene]
    order = np.argsort(-contrib, kind="stable")[: max(0, min(k, contrib.size))]
    return [(str(events[e]), float(contrib[e])) for e in order]


# --- the artefact --------------------------------------------------------------------------
@dataclasses.dataclass
class Relation:
    """A relation matrix with its names and provenance.

    Attributes:
        matrix: float32 [K, E].
        scenes: K scene names (dataset order); events: E event names (label file order).
        meta: split, binarize, label file, teacher attributes, clips per scene, dataset root.
    """

    matrix: np.ndarray
    scenes: list[str]
    events: list[str]
    meta: dict[str, Any] = dataclasses.field(default_factory=dict)

    def __post_init__(self) -> None:
        self.matrix = np.asarray(self.matrix, dtype=np.float32)
        shape = (len(self.scenes), len(self.events))
        if self.matrix.shape != shape:
            raise ValueError(f"matrix shape {self.matrix.shape} != (scenes, events) {shape}")


def save_relation(out_dir: str | os.PathLike[str], rel: Relation, top_k: int = 10) -> list[Path]:
    """Write relation.npy/.json/.csv, top_events.csv and relation.png into ``out_dir``.

    Every file is written atomically. Returns the paths written.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "relation.npy") as tmp, open(tmp, "wb") as f:
        np.save(f, rel.matrix)
    write_json(
        out / "relation.json",
        {
            "shape": list(rel.matrix.shape),
            "scenes": rel.scenes,
            "events": rel.events,
            "meta": rel.meta,
        },
    )
    with atomic_path(out / "relation.csv") as tmp, open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["scene", *rel.events])
        for scene, row in zip(rel.scenes, rel.matrix, strict=True):
            w.writerow([scene, *(f"{v:.6g}" for v in row)])
    with atomic_path(out / "top_events.csv") as tmp, open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["scene", "rank", "event", "value"])
        for scene, tops in zip(rel.scenes, top_events(rel.matrix, rel.events, top_k), strict=True):
            for rank, (event, value) in enumerate(tops, start=1):
                w.writerow([scene, rank, event, f"{value:.6g}"])

    from rgasc.evaluate.plots import relation_figure, save_figure

    binarized = rel.meta.get("binarize") is not None
    fig = relation_figure(
        rel.matrix,
        rel.scenes,
        rel.events,
        k=FIGURE_EVENTS,
        value_label="fraction of clips with the event" if binarized else "mean event probability",
    )
    save_figure(fig, out / "relation.png")
    return [out / name for name in FILES]


def load_relation(out_dir: str | os.PathLike[str]) -> Relation:
    """Read a folder written by :func:`save_relation`.

    Raises:
        ArtefactError when relation.npy/.json are missing, unreadable or disagree.
    """
    d = Path(out_dir)
    npy, js = d / "relation.npy", d / "relation.json"
    for p in (npy, js):
        if not p.is_file():
            raise ArtefactError(f"{p}: missing; build the relation folder with `rgasc relation`")
    try:
        matrix = np.load(npy, allow_pickle=False)
        import json

        info = json.loads(js.read_text())
        scenes, events = [str(s) for s in info["scenes"]], [str(e) for e in info["events"]]
        meta = dict(info.get("meta", {}))
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ArtefactError(f"{d}: unreadable relation files ({e}); re-run `rgasc relation`") from e
    if matrix.shape != (len(scenes), len(events)):
        raise ArtefactError(
            f"{npy}: shape {matrix.shape} disagrees with {js} ({len(scenes)} scenes x "
            f"{len(events)} events); re-run `rgasc relation`"
        )
    if not np.all(np.isfinite(matrix)):
        raise ArtefactError(f"{npy}: holds NaN or inf; re-run `rgasc relation`")
    return Relation(matrix.astype(np.float32), scenes, events, meta)


# --- from a dataset and a label file ------------------------------------------------------
def _as_labels(labels: PseudoLabels | str | os.PathLike[str]) -> tuple[PseudoLabels, str]:
    if isinstance(labels, PseudoLabels):
        return labels, str(labels.attrs.get("source", "<in-memory labels>"))
    return read_labels(labels), str(labels)


def compute_relation(
    dataset: DcaseDataset,
    labels: PseudoLabels | str | os.PathLike[str],
    *,
    split: str = "train",
    fold: int = 1,
    val_fraction: float = 0.3,
    seed: int = 0,
    binarize: float | None = None,
) -> Relation:
    """R_SE of a dataset's split from a pseudo-label file.

    Args:
        dataset: the DCASE-layout dataset (gives scenes and splits).
        labels: PseudoLabels, or the path of an `rgasc tag` output (.h5/.csv).
        split: ``train`` (default: the training fold minus the validation locations carved
            with ``val_fraction``/``seed``, exactly the clips the model trains on),
            ``trainval`` (the whole training fold), or ``all`` (every clip, test included,
            as in the authors' code; leaks test statistics into R).
        fold, val_fraction, seed: as in :meth:`DcaseDataset.split`.
        binarize: threshold T to turn probabilities into presence first, or None.
    Raises:
        LabelSpaceError naming clips of the split the label file lacks; RgascError for a
        scene without clips in the split or an unknown split.
    """
    if split not in RELATION_SPLITS:
        raise RgascError(
            f"relation split must be one of {RELATION_SPLITS}, got {split!r} (the test split "
            "is never used to build R)"
        )
    pl, source = _as_labels(labels)
    # R needs only labels and scenes, not audio: do not require the waveforms to be present.
    clips = dataset.split(split, fold=fold, val_fraction=val_fraction, seed=seed, check_audio=False)
    probs = pl.select(
        [c.filename for c in clips], source=f"{source} ({split} split of {dataset.root})"
    )
    ids = dataset.labels(clips)
    counts = np.bincount(ids, minlength=len(dataset.scenes))
    if (counts == 0).any():
        missing = [dataset.scenes[i] for i in np.flatnonzero(counts == 0)]
        raise RgascError(
            f"{dataset.root}: scene(s) {missing} have no clips in the {split!r} split (fold "
            f"{fold}); their relation row is undefined. Use --split trainval or all"
        )
    matrix = relation_matrix(
        probs, ids, len(dataset.scenes), binarize=binarize, scene_names=dataset.scenes
    )
    meta: dict[str, Any] = {
        "split": split,
        "fold": fold,
        "val_fraction": val_fraction,
        "seed": seed,
        "binarize": binarize,
        "labels_file": source,
        "teacher": {k: v for k, v in pl.attrs.items()},
        "n_clips": int(len(clips)),
        "clips_per_scene": {s: int(n) for s, n in zip(dataset.scenes, counts, strict=True)},
        "dataset": str(dataset.root),
    }
    return Relation(matrix, list(dataset.scenes), list(pl.labels), meta)


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
    from rgasc.evaluate.metrics import (
        confusion_matrix,
        macro_accuracy,
        overall_accuracy,
        per_class_accuracy,
    )

    pl, source = _as_labels(labels)
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
    t = rel.meta.get("binarize")
    if t is not None:
        probs = (probs >= float(t)).astype(np.float32)
    y_true = dataset.labels(clips)
    y_pred = event_to_scene(probs, rel.matrix).argmax(axis=1)
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


def run_relation(
    labels: str | os.PathLike[str],
    dataset: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    split: str = "train",
    binarize: float | None = None,
    fold: int = 1,
    top_k: int = 10,
    evaluate: bool = False,
) -> tuple[Relation, dict[str, Any] | None]:
    """What ``rgasc relation`` does: compute, save, and optionally score the lookup.

    With ``evaluate``, the lookup's scores are also written to ``out_dir/lookup.json``.
    Returns the relation and the lookup scores (None without ``evaluate``).
    """
    from rgasc.data.datasets import DcaseDataset

    ds = DcaseDataset(dataset)
    pl = read_labels(labels)
    pl.attrs.setdefault("source", str(labels))
    rel = compute_relation(ds, pl, split=split, fold=fold, binarize=binarize)
    rel.meta["labels_file"] = str(labels)
    save_relation(out_dir, rel, top_k=top_k)
    scores = None
    if evaluate:
        scores = evaluate_lookup(ds, pl, rel, split="test")
        write_json(Path(out_dir) / "lookup.json", scores)
    return rel, scores

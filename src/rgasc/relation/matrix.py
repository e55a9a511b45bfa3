"""The maths of R_SE (paper eq. 1-3) and of the event-only scene lookup: arrays in, arrays out.

``R[k, e]`` is the mean, over the clips of scene k, of the teacher's probability of event e:
a row is the average event profile of a scene. Rows follow the dataset's scene order, columns
the label file's event order.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rgasc.errors import LabelSpaceError, RgascError


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

"""What the report shows, as plain dataclasses: arrays of one split in, views out (pure).

:func:`collect` turns a split's predictions (:class:`SplitData`: true and predicted scenes,
scene probabilities, R_SE, the teacher's and the event tower's event probabilities) into a
:class:`Report`: the confusion matrix with the clips of each cell, one row per class, one
:class:`ClipView` per clip and the lists the pages are made of (misclassified clips, a sample
of correct ones, disagreements with a second run). Nothing here reads a file or draws.

Why a clip was classified as it was is read off R_SE: with event probabilities p [E], the
event e pushed the decision from scene ``o`` to scene ``s`` by ``(R[s, e] - R[o, e]) * p[e]``
(an event that the predicted scene expects more than the other one, and that the clip holds).
For a misclassified clip ``o`` is the true scene; for a correct one, the runner-up.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence

import numpy as np

#: Events listed per clip and per scene (teacher, event tower, R_SE rows, pushes).
TOP_EVENTS = 5
#: Scenes listed per clip (the most probable first).
TOP_SCENES = 5
#: Correct clips per class that get a card with audio (misclassified clips all do).
CORRECT_PER_CLASS = 3


@dataclasses.dataclass(frozen=True)
class Scored:
    """A name with a value (a scene's probability, an event's probability or R_SE entry)."""

    name: str
    value: float


@dataclasses.dataclass(frozen=True)
class Push:
    """One event's share of a decision: ``push = (r_pred - r_other) * prob``."""

    event: str
    r_pred: float
    r_other: float
    prob: float
    push: float


@dataclasses.dataclass(frozen=True)
class SplitData:
    """One run's outputs on one split, as arrays (what the report is made from).

    Attributes:
        names: N clip names. scenes: K scene names. y: int [N] true scene ids.
        pred: int [N] predicted scene ids. probs: float [N, K] scene probabilities.
        events: E event names of the model (R_SE columns, event tower outputs).
        relation: float [K, E] R_SE.
        tower: float [N, E] the event tower's probabilities, or None when unavailable.
        teacher_events: E' event names of the pseudo-label file.
        teacher: float [N, E'] the teacher's probabilities, or None when unavailable.
        devices: the recording device of each clip, or None (unknown or a single device).
    """

    names: list[str]
    scenes: list[str]
    y: np.ndarray
    pred: np.ndarray
    probs: np.ndarray
    events: list[str]
    relation: np.ndarray
    tower: np.ndarray | None = None
    teacher_events: list[str] = dataclasses.field(default_factory=list)
    teacher: np.ndarray | None = None
    devices: list[str] | None = None

    def __post_init__(self) -> None:
        n, k = len(self.names), len(self.scenes)
        shapes = {
            "y": (np.shape(self.y), (n,)),
            "pred": (np.shape(self.pred), (n,)),
            "probs": (np.shape(self.probs), (n, k)),
            "relation": (np.shape(self.relation), (k, len(self.events))),
        }
        if self.tower is not None:
            shapes["tower"] = (np.shape(self.tower), (n, len(self.events)))
        if self.teacher is not None:
            shapes["teacher"] = (np.shape(self.teacher), (n, len(self.teacher_events)))
        if self.devices is not None:
            shapes["devices"] = ((len(self.devices),), (n,))
        for what, (got, want) in shapes.items():
            if tuple(got) != want:
                raise ValueError(f"{what}: shape {tuple(got)}, expected {want}")


@dataclasses.dataclass(frozen=True)
class ClipView:
    """Everything one clip's card shows.

    Attributes:
        index: the clip's row in :class:`SplitData`. anchor: its HTML id.
        versus: the scene the decision is explained against (true scene, or the runner-up
            when the clip is correct). pushes_from: "event tower" or "teacher" (whose
            probabilities weigh the R_SE differences), "" when neither is known.
        other: the second run's predicted scene and its probability (``--compare``).
    """

    index: int
    anchor: str
    name: str
    true: str
    predicted: str
    correct: bool
    device: str | None
    scene_probs: list[Scored]
    teacher_top: list[Scored]
    tower_top: list[Scored]
    versus: str
    relation_pred: list[Scored]
    relation_versus: list[Scored]
    pushes: list[Push]
    pushes_from: str
    other: Scored | None = None


@dataclasses.dataclass(frozen=True)
class ClassRow:
    """One scene: its clips, accuracy, the scene it is most often taken for, R_SE's events."""

    scene: str
    n: int
    correct: int
    accuracy: float
    confused_with: str | None
    confused_count: int
    top_events: list[Scored]


@dataclasses.dataclass(frozen=True)
class Report:
    """A split, ready to render.

    Attributes:
        confusion: int [K, K] counts (rows: true, columns: predicted).
        cells: (true, predicted) -> clip indices of that cell, in split order.
        wrong: indices of the misclassified clips; correct_sample: the correct ones with a card
            in the sample list (a few per class).
        disagree: indices where the second run predicts another scene (empty without one).
    """

    scenes: list[str]
    clips: list[ClipView]
    confusion: np.ndarray
    cells: dict[tuple[int, int], list[int]]
    classes: list[ClassRow]
    wrong: list[int]
    correct_sample: list[int]
    disagree: list[int]


def top_k(values: np.ndarray, names: Sequence[str], k: int = TOP_EVENTS) -> list[Scored]:
    """The k largest of ``values`` [E] with their names; ties keep the names' order."""
    v = np.asarray(values, dtype=np.float64)
    order = np.argsort(-v, kind="stable")[: max(0, k)]
    return [Scored(str(names[i]), float(v[i])) for i in order]


def runner_up(probs: np.ndarray, pred: int) -> int:
    """The most probable scene other than ``pred`` (``pred`` itself with one scene)."""
    p = np.asarray(probs, dtype=np.float64).copy()
    if p.size < 2:
        return pred
    p[pred] = -np.inf
    return int(np.argmax(p))


def pushing_events(
    relation: np.ndarray,
    event_probs: np.ndarray,
    pred: int,
    other: int,
    events: Sequence[str],
    k: int = TOP_EVENTS,
) -> list[Push]:
    """The events that pushed a clip towards scene ``pred`` rather than ``other``.

    Args:
        relation: float [K, E] R_SE. event_probs: float [E] one clip's event probabilities.
        pred, other: scene ids. events: E names.

    Returns:
        Up to k events with a positive ``(R[pred, e] - R[other, e]) * p[e]``, largest first;
        none when ``pred == other``.
    """
    r = np.asarray(relation, dtype=np.float64)
    p = np.asarray(event_probs, dtype=np.float64)
    if pred == other:
        return []
    push = (r[pred] - r[other]) * p
    order = np.argsort(-push, kind="stable")[: max(0, k)]
    return [
        Push(str(events[e]), float(r[pred, e]), float(r[other, e]), float(p[e]), float(push[e]))
        for e in order
        if push[e] > 0
    ]


def confusion_cells(
    y: np.ndarray, pred: np.ndarray, n_classes: int
) -> tuple[np.ndarray, dict[tuple[int, int], list[int]]]:
    """Counts [K, K] (rows: true, columns: predicted) and the clip indices of each cell."""
    counts = np.zeros((n_classes, n_classes), dtype=np.int64)
    cells: dict[tuple[int, int], list[int]] = {}
    for i, (t, p) in enumerate(zip(np.asarray(y), np.asarray(pred), strict=True)):
        counts[int(t), int(p)] += 1
        cells.setdefault((int(t), int(p)), []).append(i)
    return counts, cells


def class_rows(
    confusion: np.ndarray, scenes: Sequence[str], relation: np.ndarray, events: Sequence[str]
) -> list[ClassRow]:
    """Per scene: clips, correct, accuracy (NaN without clips), the most confused-with scene
    (None when no clip of it is misclassified) and R_SE's top events."""
    rows = []
    cm = np.asarray(confusion)
    for i, scene in enumerate(scenes):
        n = int(cm[i].sum())
        correct = int(cm[i, i])
        off = cm[i].astype(np.int64).copy()
        off[i] = -1
        j = int(np.argmax(off)) if len(scenes) > 1 else i
        worst = int(off[j]) if j != i else 0
        rows.append(
            ClassRow(
                scene=str(scene),
                n=n,
                correct=correct,
                accuracy=correct / n if n else float("nan"),
                confused_with=str(scenes[j]) if worst > 0 else None,
                confused_count=max(worst, 0),
                top_events=top_k(relation[i], events),
            )
        )
    return rows


def sample_correct(
    y: np.ndarray, pred: np.ndarray, per_class: int = CORRECT_PER_CLASS, seed: int = 0
) -> list[int]:
    """Up to ``per_class`` correct clips of each scene, drawn with a fixed seed (the same
    clips on every rebuild), in split order."""
    y, pred = np.asarray(y), np.asarray(pred)
    rng = np.random.default_rng(seed)
    picked: list[int] = []
    for scene in np.unique(y):
        ok = np.flatnonzero((y == scene) & (pred == scene))
        if ok.size:
            picked += rng.choice(ok, size=min(per_class, ok.size), replace=False).tolist()
    return sorted(int(i) for i in picked)


def disagreements(names: Sequence[str], pred: np.ndarray, other: dict[str, int]) -> list[int]:
    """Indices of the clips whose predicted scene differs in ``other`` (name -> scene id);
    clips the other run lacks are left out."""
    return [i for i, n in enumerate(names) if n in other and other[n] != int(pred[i])]


def clip_view(data: SplitData, i: int, other: Scored | None = None) -> ClipView:
    """The card of clip ``i``."""
    t, s = int(data.y[i]), int(data.pred[i])
    vs = t if t != s else runner_up(data.probs[i], s)
    weights, source = None, ""
    if data.tower is not None:
        weights, source = data.tower[i], "event tower"
    elif data.teacher is not None and list(data.teacher_events) == list(data.events):
        weights, source = data.teacher[i], "teacher"
    return ClipView(
        index=i,
        anchor=f"clip{i}",
        name=data.names[i],
        true=data.scenes[t],
        predicted=data.scenes[s],
        correct=t == s,
        device=data.devices[i] if data.devices is not None else None,
        scene_probs=top_k(data.probs[i], data.scenes, TOP_SCENES),
        teacher_top=(
            top_k(data.teacher[i], data.teacher_events) if data.teacher is not None else []
        ),
        tower_top=top_k(data.tower[i], data.events) if data.tower is not None else [],
        versus=data.scenes[vs],
        relation_pred=top_k(data.relation[s], data.events),
        relation_versus=top_k(data.relation[vs], data.events),
        pushes=(
            pushing_events(data.relation, weights, s, vs, data.events)
            if weights is not None
            else []
        ),
        pushes_from=source,
        other=other,
    )


def collect(
    data: SplitData,
    other: tuple[list[str], np.ndarray, np.ndarray] | None = None,
    *,
    correct_per_class: int = CORRECT_PER_CLASS,
) -> Report:
    """The whole report of one split.

    Args:
        data: the run's outputs on the split.
        other: a second run on the same split and scenes: (names, predicted ids [M],
            scene probabilities [M, K]); its clips are matched by name.
        correct_per_class: correct clips per scene in the sample list.
    """
    k = len(data.scenes)
    confusion, cells = confusion_cells(data.y, data.pred, k)
    others: dict[str, Scored] = {}
    other_pred: dict[str, int] = {}
    if other is not None:
        names, pred, probs = other
        for n, p, row in zip(names, np.asarray(pred), np.asarray(probs), strict=True):
            other_pred[n] = int(p)
            others[n] = Scored(data.scenes[int(p)], float(row[int(p)]))
    clips = [clip_view(data, i, others.get(n)) for i, n in enumerate(data.names)]
    wrong = [i for i, c in enumerate(clips) if not c.correct]
    return Report(
        scenes=list(data.scenes),
        clips=clips,
        confusion=confusion,
        cells=cells,
        classes=class_rows(confusion, data.scenes, data.relation, data.events),
        wrong=wrong,
        correct_sample=sample_correct(data.y, data.pred, correct_per_class),
        disagree=disagreements(data.names, data.pred, other_pred) if other is not None else [],
    )


def pages(items: Sequence[int], size: int) -> list[list[int]]:
    """``items`` in consecutive pages of at most ``size`` (one empty page for no item)."""
    if size < 1:
        raise ValueError(f"page size must be >= 1, got {size}")
    return [list(items[i : i + size]) for i in range(0, len(items), size)] or [[]]

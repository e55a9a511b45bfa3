"""The report's views: hand-computed pushes, confusion cells, per-class rows, samples, pages."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rgasc.report.collect import (
    SplitData,
    class_rows,
    collect,
    confusion_cells,
    disagreements,
    pages,
    pushing_events,
    runner_up,
    sample_correct,
    top_k,
)

SCENES = ["airport", "bus", "park"]
EVENTS = ["Speech", "Vehicle", "Bird"]
R = np.array([[0.8, 0.3, 0.1], [0.2, 0.9, 0.1], [0.1, 0.2, 0.7]])


def _data(**changes: object) -> SplitData:
    y = np.array([0, 0, 1, 2, 2, 1])
    pred = np.array([0, 1, 1, 2, 0, 2])
    probs = np.full((6, 3), 0.2)
    probs[np.arange(6), pred] = 0.6
    base = {
        "names": [f"c{i}.wav" for i in range(6)],
        "scenes": SCENES,
        "y": y,
        "pred": pred,
        "probs": probs,
        "events": EVENTS,
        "relation": R,
        "tower": np.tile([0.5, 0.9, 0.2], (6, 1)),
        "teacher_events": EVENTS,
        "teacher": np.tile([0.9, 0.1, 0.3], (6, 1)),
    }
    return SplitData(**{**base, **changes})  # type: ignore[arg-type]


def test_pushing_events_by_hand() -> None:
    # pred bus (1) over true airport (0), p = [0.5, 0.9, 0.2]:
    # Speech (0.2 - 0.8) * 0.5 = -0.3, Vehicle (0.9 - 0.3) * 0.9 = 0.54, Bird 0 * 0.2 = 0
    pushes = pushing_events(R, np.array([0.5, 0.9, 0.2]), 1, 0, EVENTS)
    assert [p.event for p in pushes] == ["Vehicle"]  # only events that pushed towards bus
    assert pushes[0].push == pytest.approx(0.54)
    assert (pushes[0].r_pred, pushes[0].r_other, pushes[0].prob) == pytest.approx((0.9, 0.3, 0.9))
    # the other way round, Speech pushed airport over bus
    back = pushing_events(R, np.array([0.5, 0.9, 0.2]), 0, 1, EVENTS)
    assert [p.event for p in back] == ["Speech"] and back[0].push == pytest.approx(0.3)
    assert pushing_events(R, np.ones(3), 2, 2, EVENTS) == []
    assert len(pushing_events(R, np.ones(3), 0, 2, EVENTS, k=1)) == 1


def test_top_k_and_runner_up() -> None:
    tops = top_k(np.array([0.1, 0.5, 0.5, 0.2]), ["a", "b", "c", "d"], 3)
    assert [(s.name, s.value) for s in tops] == [("b", 0.5), ("c", 0.5), ("d", 0.2)]
    assert runner_up(np.array([0.1, 0.7, 0.2]), 1) == 2
    assert runner_up(np.array([1.0]), 0) == 0


def test_confusion_cells_hold_every_clip_once() -> None:
    d = _data()
    cm, cells = confusion_cells(d.y, d.pred, 3)
    assert cm.tolist() == [[1, 1, 0], [0, 1, 1], [1, 0, 1]]
    assert cells[(0, 1)] == [1] and cells[(2, 0)] == [4] and (1, 0) not in cells
    assert sorted(i for v in cells.values() for i in v) == list(range(6))
    assert all(cm[k] == len(v) for k, v in cells.items())


def test_class_rows() -> None:
    cm = np.array([[5, 3, 2], [0, 4, 0], [0, 0, 0]])
    rows = class_rows(cm, SCENES, R, EVENTS)
    assert (rows[0].n, rows[0].correct, rows[0].accuracy) == (10, 5, 0.5)
    assert (rows[0].confused_with, rows[0].confused_count) == ("bus", 3)
    assert rows[1].confused_with is None and rows[1].accuracy == 1.0
    assert rows[2].n == 0 and math.isnan(rows[2].accuracy)
    assert [e.name for e in rows[1].top_events] == ["Vehicle", "Speech", "Bird"]


def test_sample_correct_is_fixed_and_correct() -> None:
    y = np.repeat([0, 1, 2], 10)
    pred = y.copy()
    pred[::4] = (pred[::4] + 1) % 3
    a = sample_correct(y, pred, per_class=2, seed=0)
    assert a == sample_correct(y, pred, per_class=2, seed=0) == sorted(a)
    assert len(a) == 6 and all(y[i] == pred[i] for i in a)
    assert sorted(np.bincount(y[a]).tolist()) == [2, 2, 2]
    assert sample_correct(y, (y + 1) % 3) == []


def test_disagreements_skip_clips_the_other_run_lacks() -> None:
    names = ["a", "b", "c"]
    assert disagreements(names, np.array([0, 1, 2]), {"a": 0, "b": 2}) == [1]


def test_pages() -> None:
    assert pages(list(range(250)), 100) == [
        list(range(100)),
        list(range(100, 200)),
        list(range(200, 250)),
    ]
    assert pages([], 100) == [[]]
    with pytest.raises(ValueError):
        pages([1], 0)


def test_collect() -> None:
    other = (["c0.wav", "c1.wav", "c9.wav"], np.array([2, 1, 0]), np.full((3, 3), 1 / 3))
    r = collect(_data(), other, correct_per_class=1)
    assert r.wrong == [1, 4, 5]
    assert r.disagree == [0]  # c1 agrees, c9 is not in this run
    assert all(r.clips[i].correct for i in r.correct_sample) and len(r.correct_sample) == 3
    wrong = r.clips[1]
    assert (wrong.true, wrong.predicted, wrong.versus) == ("airport", "bus", "airport")
    assert wrong.pushes_from == "event tower" and wrong.pushes[0].event == "Vehicle"
    assert [e.name for e in wrong.teacher_top][:1] == ["Speech"]
    right = r.clips[0]
    assert right.versus != right.predicted  # a correct clip is explained against its runner-up
    assert right.other is not None and right.other.name == "park"


def test_collect_falls_back_on_the_teacher() -> None:
    r = collect(_data(tower=None))
    assert r.clips[1].pushes_from == "teacher" and r.clips[1].tower_top == []
    # the teacher's own label space differs from R_SE's columns: no pushes, said so
    r = collect(_data(tower=None, teacher_events=["x", "y", "z"]))
    assert r.clips[1].pushes == [] and r.clips[1].pushes_from == ""


def test_split_data_checks_shapes() -> None:
    with pytest.raises(ValueError, match="probs"):
        _data(probs=np.zeros((6, 2)))
    with pytest.raises(ValueError, match="tower"):
        _data(tower=np.zeros((5, 3)))

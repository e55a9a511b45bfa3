"""Per-device scores and the seen/unseen summary, on hand-made predictions."""

from __future__ import annotations

import csv
import math
from pathlib import Path

import numpy as np
import pytest

from rgasc.scoring.devices import (
    device_lines,
    device_report,
    device_rows,
    device_summary,
    summary_lines,
    write_device_csv,
)
from rgasc.scoring.metrics import log_loss

# K = 3. Device a has every class, b lacks class 2, s4 (unseen) only has class 2.
Y = np.array([0, 0, 1, 2, 0, 1, 1, 2, 2])
PRED = np.array([0, 1, 1, 2, 0, 0, 1, 0, 2])
DEV = ["a", "a", "a", "a", "b", "b", "b", "s4", "s4"]


def _probs(pred: np.ndarray, k: int = 3) -> np.ndarray:
    p = np.full((pred.size, k), 0.15)
    p[np.arange(pred.size), pred] = 0.7
    return p


def test_device_rows_macro_accuracy_per_device() -> None:
    probs = _probs(PRED)
    rows = device_rows(Y, probs, DEV, unseen=("s4", "s5"))
    assert [r["device"] for r in rows] == ["a", "b", "s4"]
    a, b, s4 = rows
    # a: class 0 1/2, class 1 1/1, class 2 1/1 -> (0.5 + 1 + 1) / 3
    assert a["macro_accuracy"] == pytest.approx(2.5 / 3) and a["overall_accuracy"] == 0.75
    assert (a["n"], a["classes"], a["unseen"]) == (4, 3, False)
    # b has no clip of class 2: its macro mean is over classes 0 (1/1) and 1 (1/2) only
    assert b["macro_accuracy"] == pytest.approx(0.75) and b["classes"] == 2
    assert b["overall_accuracy"] == pytest.approx(2 / 3)
    assert s4["macro_accuracy"] == pytest.approx(0.5) and s4["unseen"] and s4["n"] == 2
    # each device's log loss is the log loss of its own clips
    m = np.array(DEV) == "b"
    assert b["log_loss"] == pytest.approx(log_loss(Y[m], probs[m]))


def test_device_rows_natural_order_and_checks() -> None:
    dev = ["s10", "s2", "a", "s1"]
    rows = device_rows([0, 1, 0, 1], _probs(np.array([0, 1, 0, 1]), 2), dev)
    assert [r["device"] for r in rows] == ["a", "s1", "s2", "s10"]
    with pytest.raises(ValueError, match="devices has 2 entries for 4 clips"):
        device_rows([0, 1, 0, 1], _probs(np.array([0, 1, 0, 1]), 2), ["a", "b"])


def test_seen_unseen_summary_is_a_mean_over_devices() -> None:
    rows = device_rows(Y, _probs(PRED), DEV, unseen=("s4",))
    s = device_summary(rows)
    # the mean of the devices' macro accuracies, not the pooled clips' (a has more clips)
    assert s["seen"]["macro_accuracy"] == pytest.approx((2.5 / 3 + 0.75) / 2)
    assert s["seen"]["devices"] == ["a", "b"] and s["seen"]["n"] == 7
    assert s["unseen"] == {
        "devices": ["s4"],
        "n": 2,
        "macro_accuracy": pytest.approx(0.5),
        "log_loss": pytest.approx(rows[2]["log_loss"]),
    }
    # no unseen device in the split: NaN, not 0
    none = device_summary(device_rows(Y[:7], _probs(PRED[:7]), DEV[:7], unseen=("s4",)))
    assert none["unseen"]["devices"] == [] and math.isnan(none["unseen"]["macro_accuracy"])


def test_single_device_gives_no_report() -> None:
    assert device_report(Y, _probs(PRED), ["a"] * Y.size, unseen=("s4",)) is None
    assert device_report(Y, _probs(PRED), None) is None
    assert device_lines(None) == [] and summary_lines(None) == []


def test_report_lines_and_csv(tmp_path: Path) -> None:
    rep = device_report(Y, _probs(PRED), DEV, unseen=("s6", "s4", "s5"))
    assert rep is not None and rep["unseen_devices"] == ["s4", "s5", "s6"]
    lines = device_lines(rep)
    assert lines[0].split() == ["per", "device", "macro", "acc", "log", "loss", "clips"]
    assert lines[1].split()[:2] == ["a", "0.8333"] and lines[1].split()[-1] == "4"
    assert lines[3].startswith("  s4 (unseen)")
    assert lines[4].startswith("seen devices (a, b): macro acc 0.7917")
    assert lines[5].startswith("unseen devices (s4): macro acc 0.5000") and "(2 clips)" in lines[5]
    write_device_csv(tmp_path / "per_device.csv", rep["rows"])
    with open(tmp_path / "per_device.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["device"], r["unseen"], r["n"], r["classes"]) for r in rows] == [
        ("a", "no", "4", "3"),
        ("b", "no", "3", "2"),
        ("s4", "yes", "2", "1"),
    ]
    assert float(rows[1]["macro_accuracy"]) == pytest.approx(0.75)


def test_lines_read_back_from_json_and_no_unseen_in_split() -> None:
    from rgasc.utils import json_safe

    rep = json_safe(device_report(Y[:7], _probs(PRED[:7]), DEV[:7], unseen=("s4",)))
    lines = device_lines(rep)
    assert lines[-1] == "unseen devices: none in this split (the dataset's: s4)"
    rep = json_safe(device_report(Y[:7], _probs(PRED[:7]), DEV[:7]))
    assert summary_lines(rep)[-1] == "unseen devices: none (every device was heard in training)"

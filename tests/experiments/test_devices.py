"""Experiment tables: test log loss beside macro accuracy, per-device accuracy over seeds."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import numpy as np

from rgasc.experiments.devices import device_markdown, device_table, devices_csv, loss_table
from rgasc.experiments.sweep import run_experiment
from rgasc.experiments.tables import RunRecord
from rgasc.scoring.devices import device_report
from rgasc.train import TrainConfig
from rgasc.train.config.tree import make_config

CONFIGS = [("puasc", "puASC"), ("rgasc", "RGASC")]


def _report(acc_a: float, acc_s4: float) -> dict[str, Any]:
    """A hand-made device report: a, b seen (b always 1.0), s4 unseen."""
    row = {"unseen": False, "n": 4, "classes": 2, "overall_accuracy": 0.5, "log_loss": 1.0}
    rows = [
        {**row, "device": "a", "macro_accuracy": acc_a},
        {**row, "device": "b", "macro_accuracy": 1.0},
        {**row, "device": "s4", "unseen": True, "n": 2, "macro_accuracy": acc_s4},
    ]
    return {
        "rows": rows,
        "seen": {"devices": ["a", "b"], "n": 8, "macro_accuracy": (acc_a + 1.0) / 2},
        "unseen": {"devices": ["s4"], "n": 2, "macro_accuracy": acc_s4},
        "unseen_devices": ["s4"],
    }


RECORDS = [
    RunRecord("puasc", 1, "p1", 0.5, 0.6),
    RunRecord("puasc", 2, "p2", 0.5, 0.8),
    RunRecord("rgasc", 1, "r1", 0.5, 0.9),
]
SCORES = {
    "p1": {"log_loss": 1.0, "devices": _report(0.4, 0.2)},
    "p2": {"log_loss": 1.2, "devices": _report(0.6, 0.4)},
    "r1": {"log_loss": 0.5, "devices": _report(1.0, 0.5)},
}


def test_loss_table_mean_std_over_seeds() -> None:
    t = loss_table(RECORDS, CONFIGS, SCORES)
    assert "| puASC | 2 | 70.00 ± 14.14 | 1.100 ± 0.141 |" in t
    assert "| RGASC | 1 | 90.00 | 0.500 |" in t
    # a baseline without probabilities has no log loss: n/a, not 0
    t = loss_table(RECORDS[:1], CONFIGS[:1], {"p1": {"macro_accuracy": 0.6}})
    assert "| puASC | 1 | 60.00 | n/a |" in t


def test_device_table_seen_unseen_and_devices() -> None:
    t = device_table(RECORDS, CONFIGS, SCORES)
    lines = t.splitlines()
    assert lines[0] == "| configuration | seen % | unseen % | a | b | s4* |"
    # seen = mean of a and b per run: (0.7, 0.8) -> 75 ± 7.07; unseen s4 (0.2, 0.4)
    assert (
        lines[2] == "| puASC | 75.00 ± 7.07 | 30.00 ± 14.14 | 50.00 ± 14.14 | 100.00 ± 0.00 "
        "| 30.00 ± 14.14 |"
    )
    assert lines[3] == "| RGASC | 100.00 | 50.00 | 100.00 | 100.00 | 50.00 |"
    assert lines[4] == "| test clips |  |  | 4 | 4 | 2 |"
    rows = list(csv.DictReader(io.StringIO(devices_csv(RECORDS, SCORES))))
    assert len(rows) == 9 and rows[2]["device"] == "s4" and rows[2]["unseen"] == "yes"
    assert rows[0]["macro_accuracy"] == "0.400000" and rows[0]["run"] == "p1"


def test_single_device_dataset_gives_no_device_table() -> None:
    scores = {r: {"log_loss": 1.0, "devices": None} for r in ("p1", "p2", "r1")}
    assert device_table(RECORDS, CONFIGS, scores) == ""
    md = device_markdown(RECORDS, CONFIGS, scores)
    assert "## Test log loss" in md and "per device" not in md
    assert devices_csv(RECORDS, scores).count("\n") == 1  # the header only


def _base(tmp_path: Path) -> TrainConfig:
    paths = {
        "data.dataset": "ds",
        "data.features": "feat",
        "data.labels": "labels.h5",
        "data.relation": "rel",
        "out": tmp_path / "ignored",
    }
    return make_config({**paths, "optim.epochs": 1})


def test_run_experiment_writes_device_tables(tmp_path: Path) -> None:
    # hand-made predictions of 6 clips on devices a, s1 (seen) and s4 (unseen)
    y = np.array([0, 1, 0, 1, 0, 1])
    dev = ["a", "a", "s1", "s1", "s4", "s4"]

    def train(cfg: TrainConfig) -> None:
        pred = np.array([0, 1, 0, 1, 1, 1]) if cfg.seed == 1 else y
        probs = np.eye(2)[pred] * 0.8 + 0.1
        rep = device_report(y, probs, dev, unseen=("s4",))
        test = {"macro_accuracy": 0.8, "log_loss": 0.3, "devices": rep}
        m = {"val": {"macro_accuracy": 0.7}, "test": test}
        (Path(cfg.out) / "metrics.json").write_text(json.dumps(m))

    md = run_experiment(
        "shared-blocks", _base(tmp_path), tmp_path / "sb", [1, 2], runners={"train": train}, log=str
    )
    text = md.read_text()
    assert "## Test accuracy per device (%)" in text
    assert "| configuration | seen % | unseen % | a | s1 | s4* |" in text
    # unseen s4: 0.5 (seed 1), 1.0 (seed 2) -> 75 ± 35.36; seen devices always right
    assert (
        "| N = 0 shared blocks | 100.00 ± 0.00 | 75.00 ± 35.36 | 100.00 ± 0.00 | 100.00 ± 0.00 "
        "| 75.00 ± 35.36 |" in text
    )
    assert "| N = 0 shared blocks | 2 | 80.00 ± 0.00 | 0.300 ± 0.000 |" in text
    rows = list(csv.DictReader(io.StringIO((tmp_path / "sb" / "devices.csv").read_text())))
    assert len(rows) == 7 * 2 * 3 and {r["device"] for r in rows} == {"a", "s1", "s4"}

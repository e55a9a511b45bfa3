"""``rgasc train --devices 2 --strategy ddp`` on CPUs (gloo): one writer, every validation
clip counted once, the final scoring once, --resume. Slow: each command starts two ranks."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest

from helpers.cli import run_rgasc
from helpers.training import make_inputs
from rgasc.utils import read_json

pytestmark = pytest.mark.slow


def _rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def test_ddp_training_on_two_cpu_processes(tmp_path: Path) -> None:
    # 27 train / 9 val / 18 test: an odd validation split, which DistributedSampler would pad
    inputs = make_inputs(tmp_path / "in", clips_per_location=3)
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    run = tmp_path / "run"
    args = [
        "train",
        *("--dataset", str(inputs.dataset), "--features", str(inputs.features)),
        *("--labels", str(inputs.labels), "--relation", str(inputs.relation)),
        *("--out", str(run), "--epochs", "2", "--batch-size", "4", "--width", "0.0625"),
        *("--accelerator", "cpu", "--devices", "2", "--strategy", "ddp"),
        *("--no-progress-bar", "--no-model-summary", "--eval-batch-size", "16"),
        *("--log-every-n-steps", "1"),  # the sanity check runs too (2 val batches per rank)
    ]
    res = run_rgasc(args, cwd)
    assert res.stdout.count("selected epoch") == 1  # rank 1 prints nothing
    assert "GLOBAL_RANK: 1" in res.stderr  # two ranks did run

    # one writer: one session, one TensorBoard file, nothing outside the run folder
    assert not list(cwd.iterdir())
    files = sorted(str(p.relative_to(run)) for p in run.rglob("*") if p.is_file())
    assert len([f for f in files if "tfevents" in f]) == 1
    assert [p.name for p in (run / "logs" / "csv").iterdir()] == ["session_0"]
    for name in ("config.yaml", "metrics.json", "checkpoints/best.pt", "checkpoints/last.ckpt"):
        assert name in files, name

    # every validation clip exactly once per epoch, over both ranks
    rows = [r for r in _rows(run / "logs" / "metrics.csv") if r.get("val/n")]
    assert [r["epoch"] for r in rows] == ["0", "1"]
    assert {float(r["val/n"]) for r in rows} == {9.0}
    m = read_json(run / "metrics.json")
    assert m["epochs_trained"] == 2 and m["val"]["n"] == 9 and m["test"]["n"] == 18
    # the logged selection metric of the best epoch is the full-split score of best.pt
    best = next(r for r in rows if int(r["epoch"]) == m["best_epoch"])
    assert float(best["val/macro_acc"]) == pytest.approx(m["val"]["macro_accuracy"], abs=1e-6)
    assert float(best["val/acc"]) == pytest.approx(m["val"]["overall_accuracy"], abs=1e-6)

    # --resume under DDP: a second session continues to epoch 3
    res = run_rgasc(["train", "--out", str(run), "--resume", "--epochs", "3"], cwd)
    assert res.stdout.count("selected epoch") == 1
    m = read_json(run / "metrics.json")
    assert m["epochs_trained"] == 3
    assert sorted(p.name for p in (run / "logs" / "csv").iterdir()) == ["session_0", "session_1"]
    rows = [r for r in _rows(run / "logs" / "metrics.csv") if r.get("val/n")]
    assert [r["epoch"] for r in rows] == ["0", "1", "2"]
    assert not list(cwd.iterdir())


def test_ddp_puasc_leaves_the_event_head_unused(tmp_path: Path) -> None:
    """lambdas 1,0,0,0: no gradient reaches the event head; DDP must not wait for it."""
    inputs = make_inputs(tmp_path / "in")
    args = [
        "train",
        *("--dataset", str(inputs.dataset), "--features", str(inputs.features)),
        *("--labels", str(inputs.labels), "--relation", str(inputs.relation)),
        *("--out", str(tmp_path / "run"), "--epochs", "2", "--batch-size", "4"),
        *("--width", "0.0625", "--lambdas", "1,0,0,0", "--accelerator", "cpu"),
        *("--devices", "2", "--strategy", "ddp", "--no-progress-bar", "--no-model-summary"),
        *("--sanity-val-steps", "0"),
    ]
    run_rgasc(args, tmp_path)
    assert read_json(tmp_path / "run" / "metrics.json")["epochs_trained"] == 2

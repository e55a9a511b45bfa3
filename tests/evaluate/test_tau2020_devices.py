"""End to end on a fake TAU 2020 Mobile copy: per-device rows and the unseen-device summary.

Generated audio in the set's layout (``.csv`` folds with a header, meta.csv without
identifier/source_label), devices a, b, s1 in both folds and s4 only in the evaluate fold ->
features -> hand-made pseudo-labels -> R_SE -> a 1-epoch width-1/16 run -> ``rgasc evaluate``.
"""

from __future__ import annotations

import csv
import warnings
from pathlib import Path

import pytest
from typer.testing import CliRunner

from helpers.dcase import make_dcase_layout
from helpers.training import EVENTS, TINY_FEATURES, TinyInputs, make_labels, tiny_config
from rgasc.cli import app
from rgasc.data.datasets import DcaseDataset
from rgasc.features import compute_features
from rgasc.labels.files import write_labels
from rgasc.relation import compute_relation, save_relation
from rgasc.utils import read_json

FOLDER = "TAU-urban-acoustic-scenes-2020-mobile-development"  # the registry knows it by name


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("tau2020")
    ds_root = make_dcase_layout(
        root / FOLDER, devices=("a", "b", "s1"), unseen_devices=("s4",), seconds=1.0, sr=16000
    )
    ds = DcaseDataset(ds_root)
    assert ds.unseen_devices() == ["s4", "s5", "s6"]
    compute_features(ds, root / "feat", TINY_FEATURES, progress=False)
    write_labels(root / "labels.h5", make_labels(ds, EVENTS))
    save_relation(root / "rel", compute_relation(ds, root / "labels.h5"))
    inputs = TinyInputs(ds_root, root / "feat", root / "labels.h5", root / "rel")
    from rgasc.train import train

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return train(tiny_config(inputs, root / "run", {"optim.epochs": 1}))


def test_training_metrics_hold_the_device_report(run: Path) -> None:
    test = read_json(run / "metrics.json")["test"]
    rep = test["devices"]
    assert [r["device"] for r in rep["rows"]] == ["a", "b", "s1", "s4"]
    assert [r["n"] for r in rep["rows"]] == [6, 6, 6, 6] and test["n"] == 24
    assert rep["seen"]["devices"] == ["a", "b", "s1"] and rep["unseen"]["devices"] == ["s4"]
    assert test["log_loss"] > 0


def test_cli_evaluate_prints_per_device_rows_and_unseen_summary(run: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    args = ["evaluate", "--model", str(run), "--out", str(out), "--no-tsne", "--accelerator", "cpu"]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert "log loss" in lines[1] and "macro acc" in lines[1]
    head = next(i for i, line in enumerate(lines) if line.split()[:2] == ["per", "device"])
    assert [line.split()[0] for line in lines[head + 1 : head + 5]] == ["a", "b", "s1", "s4"]
    assert "(unseen)" in lines[head + 4] and "(unseen)" not in lines[head + 1]
    assert lines[head + 5].strip().startswith("seen devices (a, b, s1): macro acc")
    assert lines[head + 6].strip().startswith("unseen devices (s4): macro acc")
    assert "(6 clips)" in lines[head + 6]

    m = read_json(out / "metrics.json")
    assert m["devices"]["unseen_devices"] == ["s4", "s5", "s6"]
    s4 = m["devices"]["rows"][3]
    assert m["devices"]["unseen"]["macro_accuracy"] == pytest.approx(s4["macro_accuracy"])
    with open(out / "per_device.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [(r["device"], r["unseen"], r["n"]) for r in rows] == [
        ("a", "no", "6"),
        ("b", "no", "6"),
        ("s1", "no", "6"),
        ("s4", "yes", "6"),
    ]
    # the same numbers as train() wrote for the same model and split
    trained = read_json(run / "metrics.json")["test"]["devices"]
    assert [r["macro_accuracy"] for r in trained["rows"]] == pytest.approx(
        [float(r["macro_accuracy"]) for r in rows], abs=1e-4
    )


def test_val_split_has_no_unseen_device(run: Path, tmp_path: Path) -> None:
    args = ["evaluate", "--model", str(run), "--split", "val", "--out", str(tmp_path / "v")]
    res = CliRunner().invoke(app, [*args, "--no-tsne", "--accelerator", "cpu"])
    assert res.exit_code == 0, res.output
    assert "unseen devices: none in this split (the dataset's: s4, s5, s6)" in res.output

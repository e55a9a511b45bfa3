"""Reading a run's files: predictions.csv, and the page's summaries of config and metrics."""

from __future__ import annotations

from pathlib import Path

import pytest

from rgasc.errors import ArtefactError
from rgasc.report.sources import (
    config_summary,
    device_table,
    headline,
    provenance,
    read_predictions,
    read_run,
)


def test_read_predictions(tmp_path: Path) -> None:
    path = tmp_path / "predictions.csv"
    path.write_text(
        "filename,scene,predicted,bus,park\n"
        "audio/a.wav,bus,park,0.50000,0.50000\n"
        '"audio/b, c.wav",park,park,0.10000,0.90000\n'
    )
    p = read_predictions(path)
    assert p.names == ["audio/a.wav", "audio/b, c.wav"] and p.scenes == ["bus", "park"]
    # the predicted column decides a tie of the rounded probabilities
    assert p.y.tolist() == [0, 1] and p.pred.tolist() == [1, 1]
    assert p.probs.shape == (2, 2) and p.probs[1, 1] == pytest.approx(0.9)


@pytest.mark.parametrize(
    "text, match",
    [
        ("name,scene\nx,bus\n", "not a predictions file"),
        ("filename,scene,predicted,bus\nx,car,bus,1\n", "line 2"),
        ("filename,scene,predicted,bus\nx,bus,bus,abc\n", "line 2"),
    ],
)
def test_bad_predictions_name_the_file(tmp_path: Path, text: str, match: str) -> None:
    path = tmp_path / "predictions.csv"
    path.write_text(text)
    with pytest.raises(ArtefactError, match=match) as e:
        read_predictions(path)
    assert str(path) in str(e.value)


def test_read_run_names_the_missing_file(tmp_path: Path) -> None:
    with pytest.raises(ArtefactError, match="config.yaml: missing"):
        read_run(tmp_path, "test")
    (tmp_path / "config.yaml").write_text("train:\n  data: {dataset: ds}\n")
    with pytest.raises(ArtefactError, match=r"eval_val/metrics\.json: missing.*--split val"):
        read_run(tmp_path, "val")
    (tmp_path / "config.yaml").write_text("model: {}\n")
    with pytest.raises(ArtefactError, match="no 'train.data' section"):
        read_run(tmp_path, "test")


def test_summaries() -> None:
    config = {
        "train": {
            "seed": 3,
            "model": {"backbone": "cnn14", "width": 0.125},
            "loss": {"lambdas": [1.0, 0.01, 0.5, 0.01]},
            "data": {"dataset": "/d", "labels": "/l.h5", "fold": 1},
        },
        "features": {"sample_rate": 32000, "n_fft": 1024},
        "data": {"label_attrs": {"teacher": "panns-cnn14-16k"}, "clips": {"train": 5}},
        "selection": {"note": "validation-set selection"},
        "versions": {"rgasc": "0.1.0"},
    }
    summary = dict(config_summary(config))
    assert summary["seed"] == "3" and summary["model.width"] == "0.125"
    assert summary["loss.lambdas"] == "1, 0.01, 0.5, 0.01"
    assert summary["features.sample_rate"] == "32000" and "features.n_fft" not in summary
    prov = dict(provenance(config, Path("run")))
    assert prov["dataset"] == "/d" and prov["labels"] == "/l.h5" and prov["data.fold"] == "1"
    assert prov["teacher"] == "panns-cnn14-16k" and prov["clips"] == "train 5"
    assert prov["run"] == str(Path("run").resolve())


def test_headline_and_devices() -> None:
    metrics = {
        "n": 4,
        "macro_accuracy": 0.5,
        "overall_accuracy": 0.25,
        "log_loss": None,  # NaN in JSON
        "devices": {
            "rows": [
                {"device": "a", "unseen": False, "n": 2, "macro_accuracy": 1.0, "log_loss": 0.1},
                {"device": "s4", "unseen": True, "n": 2, "macro_accuracy": 0.0, "log_loss": 2.0},
            ],
            "seen": {"devices": ["a"], "n": 2, "macro_accuracy": 1.0, "log_loss": 0.1},
            "unseen": {"devices": ["s4"], "n": 2, "macro_accuracy": 0.0, "log_loss": 2.0},
        },
    }
    h = dict(headline(metrics))
    assert h["macro accuracy"] == "0.5000" and h["log loss"] == "n/a" and h["clips"] == "4"
    rows = device_table(metrics)
    assert [r["device"] for r in rows] == ["a", "s4", "mean of seen (a)", "mean of unseen (s4)"]
    assert rows[1]["unseen"] == "yes" and rows[1]["log_loss"] == "2.0000"
    assert device_table({"devices": None}) == []

"""``evaluate_run``: the report folder of a trained run, and ``predict_arrays``."""

from __future__ import annotations

import csv
import warnings
from pathlib import Path

import numpy as np
import pytest
import torch

from helpers.training import make_inputs, tiny_config
from rgasc.errors import ArtefactError
from rgasc.evaluate.run import evaluate_run, predict_arrays
from rgasc.features import open_cache
from rgasc.models.checkpoint import load_model
from rgasc.train.runner import train
from rgasc.utils import read_json


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("eval_run")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return train(tiny_config(make_inputs(root), root / "run"))


def test_evaluate_run_writes_the_report(run: Path) -> None:
    result = evaluate_run(run, split="test")
    out = run / "eval_test"
    for name in (
        "metrics.json",
        "per_class.csv",
        "predictions.csv",
        "confusion.png",
        "tsne.png",
        "curves.png",
    ):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    assert read_json(out / "metrics.json") == result
    assert result["n"] == 12 and result["split"] == "test" and result["selection_split"] == "val"
    assert result["selection_rule"] == "best" and "rule: best epoch" in result["selection"]
    assert set(result["per_device"]) == {"a"}
    assert 0.0 <= result["event_vs_teacher"]["mAP"] <= 1.0
    with open(out / "per_class.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    assert [r["class"] for r in rows] == ["airport", "bus", "park"]
    assert sum(int(r["n"]) for r in rows) == 12
    # the headline equals the mean of the per-class accuracies (macro accuracy)
    assert result["macro_accuracy"] == pytest.approx(
        np.mean([float(r["accuracy"]) for r in rows]), abs=1e-4
    )
    # and agrees with the val score train() wrote for the same model
    val = evaluate_run(run, split="val", out=run / "elsewhere", tsne=False)
    assert val["n"] == 6 and not (run / "elsewhere" / "tsne.png").exists()
    assert val["macro_accuracy"] == pytest.approx(
        read_json(run / "metrics.json")["val"]["macro_accuracy"]
    )


def test_predict_arrays_matches_the_model(run: Path) -> None:
    model, info = load_model(run)
    cache = open_cache(Path(info.extra["train_config"]["data"]["features"]))
    rows = np.array([5, 0, 7])
    probs, events, emb = predict_arrays(
        model, cache, rows, info.norm_mean, info.norm_std, batch_size=2
    )
    assert probs.shape == (3, 3) and events.shape == (3, 5) and emb.shape == (3, 128)
    np.testing.assert_allclose(probs.sum(1), 1.0, rtol=1e-5)
    x = (
        torch.from_numpy(np.asarray(cache.features[rows])) - torch.from_numpy(info.norm_mean)
    ) / torch.from_numpy(info.norm_std)
    with torch.inference_mode():
        out = model(x)
    np.testing.assert_allclose(
        probs, torch.softmax(out.scene_logits, 1).numpy(), rtol=1e-4, atol=1e-5
    )
    np.testing.assert_allclose(emb, out.scene_embedding.numpy(), rtol=1e-4, atol=1e-5)


def test_evaluate_run_errors(run: Path, tmp_path: Path) -> None:
    with pytest.raises(ArtefactError, match="not a run folder"):
        evaluate_run(tmp_path)
    with pytest.raises(ArtefactError, match="split"):
        evaluate_run(run, split="holdout")

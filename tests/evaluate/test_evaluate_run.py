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


def test_evaluate_accepts_the_runs_best_pt(run: Path) -> None:
    """`--model` is "a run folder or a best.pt" everywhere: RUN/checkpoints/best.pt is its run."""
    from rgasc.evaluate.run import report_dir

    best = run / "checkpoints" / "best.pt"
    assert report_dir(best, "val") == report_dir(run, "val") == run / "eval_val"
    by_file = evaluate_run(best, split="val", tsne=False)
    by_run = evaluate_run(run, split="val", tsne=False)
    assert by_file == by_run == read_json(run / "eval_val" / "metrics.json")
    assert by_file["run"] == str(run.resolve())
    assert (run / "eval_val" / "curves.png").is_file()


def test_evaluate_reads_a_lone_checkpoint_with_its_recorded_config(
    run: Path, tmp_path: Path
) -> None:
    import shutil

    from rgasc.evaluate.run import report_dir

    lone = tmp_path / "shared" / "model.pt"
    lone.parent.mkdir()
    shutil.copy(run / "checkpoints" / "best.pt", lone)
    assert report_dir(lone, "val") == tmp_path / "shared" / "eval_val-model"
    result = evaluate_run(lone, split="val", tsne=False)
    assert (tmp_path / "shared" / "eval_val-model" / "metrics.json").is_file()
    expected = read_json(run / "metrics.json")["val"]["macro_accuracy"]
    assert result["macro_accuracy"] == pytest.approx(expected)
    assert result["selection_split"] == "val" and result["checkpoint"] == str(lone.resolve())


def test_evaluate_warns_when_the_runs_relation_saw_its_held_out_clips(
    run: Path, tmp_path: Path
) -> None:
    """The model is trained already: its scores are reported, with the caveat."""
    import shutil

    from rgasc.config import load_yaml, save_yaml
    from rgasc.data.datasets import DcaseDataset
    from rgasc.errors import RgascWarning
    from rgasc.relation import compute_relation, save_relation

    copy = Path(shutil.copytree(run, tmp_path / "run"))
    cfg = load_yaml(copy / "config.yaml")
    data = cfg["train"]["data"]
    ds = DcaseDataset(data["dataset"])
    save_relation(tmp_path / "rel_all", compute_relation(ds, data["labels"], split="all"))
    data["relation"] = str(tmp_path / "rel_all")
    save_yaml(copy / "config.yaml", cfg)
    with pytest.warns(RgascWarning, match=r"built on all clips .* saw 6 clip\(s\)"):
        result = evaluate_run(copy, split="val", tsne=False)
    assert result["n"] == 6

"""Runs with weight averaging and the other selection rules: artefacts, logs, restored weights."""

from __future__ import annotations

import csv
from pathlib import Path

import pytest
import torch

from helpers.training import TinyInputs, tiny_config
from rgasc.config import load_yaml
from rgasc.models.checkpoint import load_model
from rgasc.train.runner import train
from rgasc.utils import read_json


def _log(run: Path) -> list[dict[str, str]]:
    with open(run / "logs" / "metrics.csv", newline="") as f:
        return list(csv.DictReader(f))


def _column(rows: list[dict[str, str]], key: str) -> list[str]:
    return [r[key] for r in rows if r.get(key)]


def test_two_epoch_run_with_ema_writes_every_artefact(
    tiny_inputs: TinyInputs, tmp_path: Path
) -> None:
    cfg = tiny_config(
        tiny_inputs, tmp_path / "ema", {"average.method": "ema", "average.ema_decay": 0.9}
    )
    run = train(cfg)
    for name in (
        "config.yaml",
        "metrics.json",
        "checkpoints/last.ckpt",
        "checkpoints/best.ckpt",
        "checkpoints/best.pt",
        "checkpoints/averaged.pt",
        "logs/metrics.csv",
    ):
        assert (run / name).is_file(), name
    conf = load_yaml(run / "config.yaml")
    assert conf["train"]["average"] == {
        "method": "ema",
        "ema_decay": 0.9,
        "ema_warmup": True,
        "swa_epochs": 10,
    }
    assert conf["selection"]["rule"] == "best" and "EMA" in conf["selection"]["averaging"]
    m = read_json(run / "metrics.json")
    assert m["selection_rule"]["rule"] == "best" and "rule: best epoch" in m["selection"]
    av = m["averaged"]
    assert "EMA" in av["averaging"] and av["test"]["n"] == 12 and av["val"]["n"] == 6
    # the averaged model is validated every epoch beside the raw one
    rows = _log(run)
    assert len(_column(rows, "val_ema/macro_acc")) == 2 and len(_column(rows, "val/macro_acc")) == 2
    assert _column(rows, "val_ema/log_loss")
    # the EMA state is in the resumable checkpoint, one update per optimiser step (Lightning
    # 2.6 writes last.ckpt only with a new best.ckpt, so it may be epoch 0's: 3 steps)
    state = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    ema = next(v for k, v in state["callbacks"].items() if "AveragingCallback" in k)
    assert ema["averager"]["updates"] == ema["last_step"] == state["global_step"] in (3, 6)
    # averaged.pt loads like best.pt and holds the callback's weights
    model, info = load_model(run / "checkpoints" / "averaged.pt", device="cpu")
    assert info.extra["selection_rule"]["rule"] == "averaged"
    best = torch.load(run / "checkpoints" / "best.pt", weights_only=True)["state_dict"]
    assert any(not torch.equal(v, best[k]) for k, v in model.state_dict().items())
    if state["global_step"] == 6:  # last.ckpt is the last epoch's
        for k, v in model.state_dict().items():
            torch.testing.assert_close(v, ema["averager"]["module"]["model." + k].cpu())
    # a resumed, longer run continues the average
    train(
        tiny_config(
            tiny_inputs, run, {"average.method": "ema", "average.ema_decay": 0.9, "optim.epochs": 3}
        ),
        resume=True,
    )
    state = torch.load(run / "checkpoints" / "last.ckpt", map_location="cpu", weights_only=False)
    ema = next(v for k, v in state["callbacks"].items() if "AveragingCallback" in k)
    assert ema["averager"]["updates"] == state["global_step"] > 3


def test_swa_leaves_the_raw_run_unchanged_and_rule_averaged_exports_it(
    tiny_inputs: TinyInputs, tmp_path: Path
) -> None:
    det = {"runtime.deterministic": True, "seed": 5}
    plain = train(tiny_config(tiny_inputs, tmp_path / "plain", {**det, "select.rule": "last"}))
    swa_cfg = {**det, "average.method": "swa", "average.swa_epochs": 1, "select.rule": "averaged"}
    swa = train(tiny_config(tiny_inputs, tmp_path / "swa", swa_cfg))
    # the BN pass of SWA runs beside the training: the raw curve is the same as without it
    for key in ("val/macro_acc", "val/log_loss", "train/loss"):
        assert _column(_log(plain), key) == _column(_log(swa), key), key
    rows = _log(swa)
    assert len(_column(rows, "val_swa/macro_acc")) == 1  # the last epoch only (swa_epochs 1)
    m = read_json(swa / "metrics.json")
    assert m["selection_rule"]["rule"] == "averaged" and m["best_epoch"] == 1
    assert "averaged weights at the end (SWA" in m["selection"]
    assert m["best_selection_macro_accuracy"] == pytest.approx(
        float(_column(rows, "val_swa/macro_acc")[0])
    )
    # best.pt is the averaged model: its test score is the averaged one's
    assert m["test"]["macro_accuracy"] == m["averaged"]["test"]["macro_accuracy"]
    assert m["test"]["log_loss"] == pytest.approx(m["averaged"]["test"]["log_loss"])
    # SWA over one epoch = the last epoch's weights (the plain run's, rule last), with BN
    # statistics recomputed on the training data
    raw = torch.load(plain / "checkpoints" / "best.pt", weights_only=True)["state_dict"]
    best = torch.load(swa / "checkpoints" / "best.pt", weights_only=True)["state_dict"]
    running = [k for k in best if "running_" in k]
    assert running
    for k, v in best.items():
        if "running_" not in k and "num_batches" not in k:
            torch.testing.assert_close(v, raw[k])
    assert any(not torch.allclose(best[k], raw[k]) for k in running)


def test_last_and_smoothed_rules(tiny_inputs: TinyInputs, tmp_path: Path) -> None:
    same = {"optim.epochs": 3, "runtime.deterministic": True, "seed": 2}
    run = train(
        tiny_config(
            tiny_inputs, tmp_path / "sm", {**same, "select.rule": "smoothed", "select.window": 3}
        )
    )
    m = read_json(run / "metrics.json")
    rule = m["selection_rule"]
    assert rule["rule"] == "smoothed" and rule["window"] == 3 and len(rule["curve"]) == 3
    assert m["best_epoch"] == 1  # the one full centred window of 3 in 3 epochs
    curve = rule["curve"]
    e = m["best_epoch"]
    assert rule["score"] == pytest.approx(sum(curve[e - 1 : e + 2]) / 3)
    assert "centred window of 3" in m["selection"]
    kept = sorted(p.name for p in (run / "checkpoints" / "epochs").glob("*.pt"))
    assert len(kept) <= 2 and f"epoch{e}.pt" in kept  # bounded: h + 1 state dicts
    # the exported weights are the kept epoch's
    state = torch.load(run / "checkpoints" / "epochs" / f"epoch{e}.pt", weights_only=True)
    best = torch.load(run / "checkpoints" / "best.pt", weights_only=True)["state_dict"]
    for k, v in best.items():
        torch.testing.assert_close(v, state["model." + k])

    # the newest epoch is always kept (its window is open): the same run with rule last
    # exports exactly those weights
    assert "epoch2.pt" in kept
    last = train(tiny_config(tiny_inputs, tmp_path / "last", {**same, "select.rule": "last"}))
    m = read_json(last / "metrics.json")
    assert m["best_epoch"] == 2 and m["selection_rule"]["rule"] == "last"
    assert "rule: last epoch" in m["selection"]
    assert m["selection_rule"]["raw_score"] == pytest.approx(curve[2])
    raw = torch.load(run / "checkpoints" / "epochs" / "epoch2.pt", weights_only=True)
    best = torch.load(last / "checkpoints" / "best.pt", weights_only=True)["state_dict"]
    for k, v in best.items():
        torch.testing.assert_close(v, raw["model." + k])
    assert not (last / "checkpoints" / "epochs").exists()


def test_score_all_rules_scores_each_rule_like_a_run_that_selects_it(
    tiny_inputs: TinyInputs, tmp_path: Path
) -> None:
    """One run with ``select.score_all`` reports what runs selecting with each rule report."""
    same = {
        "optim.epochs": 3,
        "runtime.deterministic": True,
        "seed": 2,
        "average.method": "ema",
        "average.ema_decay": 0.9,
    }
    study = train(
        tiny_config(
            tiny_inputs, tmp_path / "all", {**same, "select.score_all": True, "select.window": 3}
        )
    )
    m = read_json(study / "metrics.json")
    assert set(m["rules"]) == {"best", "smoothed", "last", "averaged"}
    assert m["train"]["n"] > 0 and 0.0 <= m["train"]["macro_accuracy"] <= 1.0
    # the headline stays the run's own rule (best): equal to rules.best
    assert (
        m["rules"]["best"]["test"] == m["test"] and m["rules"]["best"]["epoch"] == m["best_epoch"]
    )
    assert m["rules"]["averaged"]["test"] == m["averaged"]["test"]
    assert m["rules"]["last"]["epoch"] == 2
    for rule in ("last", "smoothed"):
        other = train(
            tiny_config(
                tiny_inputs, tmp_path / rule, {**same, "select.rule": rule, "select.window": 3}
            )
        )
        o = read_json(other / "metrics.json")
        assert m["rules"][rule]["epoch"] == o["best_epoch"], rule
        assert m["rules"][rule]["test"]["macro_accuracy"] == o["test"]["macro_accuracy"], rule
        assert m["rules"][rule]["test"]["log_loss"] == pytest.approx(o["test"]["log_loss"]), rule
    # exported weights are the selected (best) ones, not the last rule scored
    best = torch.load(study / "checkpoints" / "best.pt", weights_only=True)
    assert best["extra"]["selection_rule"]["rule"] == "best"


def test_ema_and_score_all_leave_the_raw_run_unchanged(
    tiny_inputs: TinyInputs, tmp_path: Path
) -> None:
    """The variance experiment reads the paper's rule from runs with EMA and every rule
    scored: their raw training must be the plain run's."""
    det = {"runtime.deterministic": True, "seed": 3, "optim.epochs": 3}
    plain = train(tiny_config(tiny_inputs, tmp_path / "plain", det))
    ema = {"average.method": "ema", "average.ema_decay": 0.9, "select.score_all": True}
    study = train(tiny_config(tiny_inputs, tmp_path / "study", {**det, **ema}))
    for key in ("val/macro_acc", "val/log_loss", "train/loss"):
        assert _column(_log(plain), key) == _column(_log(study), key), key
    a, b = read_json(plain / "metrics.json"), read_json(study / "metrics.json")
    assert a["test"]["macro_accuracy"] == b["test"]["macro_accuracy"]
    assert a["test"]["log_loss"] == pytest.approx(b["test"]["log_loss"], abs=1e-6)

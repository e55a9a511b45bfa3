"""`rgasc evaluate` on a run trained through the Python API."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest
from typer.testing import CliRunner

from helpers.training import TinyInputs, tiny_config
from rgasc.cli import app
from rgasc.utils import read_json


@pytest.fixture(scope="module")
def run(tiny_inputs: TinyInputs, tmp_path_factory: pytest.TempPathFactory) -> Path:
    from rgasc.train import train

    out = tmp_path_factory.mktemp("cli_eval") / "run"
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return train(tiny_config(tiny_inputs, out, {"optim.epochs": 1}))


def test_cli_evaluate(run: Path, tmp_path: Path) -> None:
    out = tmp_path / "report"
    args = ["evaluate", "--model", str(run), "--split", "val", "--out", str(out), "--no-tsne"]
    res = CliRunner().invoke(app, [*args, "--accelerator", "cpu", "--devices", "1"])
    assert res.exit_code == 0, res.output
    assert "deprecated" not in res.stderr
    assert "on val (6 clips" in res.output and f"report: {out}" in res.output
    m = read_json(out / "metrics.json")
    assert m["split"] == "val" and m["n"] == 6
    # the score train() wrote for the same model on the same split
    trained = read_json(run / "metrics.json")["val"]
    assert m["macro_accuracy"] == pytest.approx(trained["macro_accuracy"])
    assert not (out / "tsne.png").exists() and (out / "confusion.png").is_file()


def test_cli_evaluate_default_split_is_test(run: Path) -> None:
    res = CliRunner().invoke(
        app, ["evaluate", "--model", str(run), "--no-tsne", "--accelerator", "cpu"]
    )
    assert res.exit_code == 0, res.output
    assert read_json(run / "eval_test" / "metrics.json")["n"] == 12


def test_cli_evaluate_split_typo_is_a_usage_error(run: Path) -> None:
    res = CliRunner().invoke(app, ["evaluate", "--model", str(run), "--split", "tset"])
    assert res.exit_code == 2
    assert all(s in res.output for s in ("test", "val", "train"))


def test_cli_evaluate_accepts_a_best_pt(run: Path) -> None:
    best = run / "checkpoints" / "best.pt"
    res = CliRunner().invoke(
        app,
        ["evaluate", "--model", str(best), "--split", "val", "--no-tsne", "--accelerator", "cpu"],
    )
    assert res.exit_code == 0, res.output
    assert f"report: {run / 'eval_val'}" in res.output
    assert read_json(run / "eval_val" / "metrics.json")["n"] == 6

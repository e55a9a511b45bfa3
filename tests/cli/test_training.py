"""``rgasc train``, ``rgasc experiment`` and ``rgasc demo``: options, --config, --resume."""

from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

import rgasc.demo.run
import rgasc.experiments.sweep
import rgasc.train.runner
from helpers.training import TinyInputs
from rgasc.cli import app
from rgasc.cli.params import split_commas, tuple_flags
from rgasc.config import load_yaml
from rgasc.train import load_run_config
from rgasc.train.config.tree import PAPER_LAMBDAS, RuntimeConfig, TrainConfig
from rgasc.utils import write_json

PATHS = ["--dataset", "d", "--features", "f", "--labels", "l.h5", "--relation", "r"]


def _inputs_args(inputs: TinyInputs) -> list[str]:
    return [
        "--dataset",
        str(inputs.dataset),
        "--features",
        str(inputs.features),
        "--labels",
        str(inputs.labels),
        "--relation",
        str(inputs.relation),
    ]


def _invoke(args: list[str]) -> Any:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return CliRunner().invoke(app, args)


@pytest.fixture
def fake_train(monkeypatch: pytest.MonkeyPatch) -> list[TrainConfig]:
    """Replace the runner: record each TrainConfig, write a minimal metrics.json."""
    seen: list[TrainConfig] = []

    def fake(cfg: TrainConfig, resume: bool = False) -> Path:
        seen.append(cfg)
        run = Path(cfg.out)
        write_json(run / "metrics.json", {"best_epoch": 0, "selection": "fake"})
        return run

    monkeypatch.setattr(rgasc.train.runner, "train", fake)
    return seen


# --- train ------------------------------------------------------------------------------------
def test_cli_train_resume_and_evaluate(tiny_inputs: TinyInputs, tmp_path: Path) -> None:
    from rgasc.evaluate.run import evaluate_run

    out = tmp_path / "cli_run"
    args = [
        "train",
        *_inputs_args(tiny_inputs),
        "--out",
        str(out),
        "--width",
        "0.0625",
        "--epochs",
        "1",
        "--batch-size",
        "8",
        "--lambdas",
        "1",
        "0",
        "0.5",
        "0",
        "--accelerator",
        "cpu",
        "--devices",
        "1",
        "--no-progress-bar",
    ]
    result = _invoke(args)
    assert result.exit_code == 0, result.output
    assert "test macro acc" in result.output and "validation-set selection" in result.output
    assert "selected epoch 1 of 1 (" in result.output  # epochs count from 1
    cfg = load_run_config(out)
    assert cfg.loss.lambdas == (1.0, 0.0, 0.5, 0.0) and cfg.model.width == 0.0625
    assert Path(cfg.data.dataset).is_absolute() and cfg.runtime.progress_bar is False
    result = _invoke(["train", "--out", str(out), "--resume", "--epochs", "2"])
    assert result.exit_code == 0, result.output
    again = load_run_config(out)
    assert again.optim.epochs == 2 and again.loss == cfg.loss and again.model == cfg.model
    # resuming the finished run: one line, where its scores are and how to train longer
    metrics = (out / "metrics.json").read_bytes()
    result = _invoke(["train", "--out", str(out), "--resume"])
    assert result.exit_code == 0, result.output
    assert result.output.strip().splitlines() == [
        f"{out}: finished after 2 epochs; its scores are in {out / 'metrics.json'}. To train "
        f"longer: `rgasc train --resume --out {out} --epochs N` with N > 2"
    ]
    assert (out / "metrics.json").read_bytes() == metrics  # the test split not scored again
    # the evaluate step from Python (its command lives in rgasc.cli.evaluate)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        report = evaluate_run(out, "test", device="cpu", tsne=False)
    assert report["n"] == 12 and (out / "eval_test" / "metrics.json").is_file()


def test_cli_train_config_file_reproduces_a_run_elsewhere(
    tiny_inputs: TinyInputs, tmp_path: Path
) -> None:
    first, second = tmp_path / "first", tmp_path / "second"
    args = [
        "train",
        *_inputs_args(tiny_inputs),
        "--out",
        str(first),
        "--width",
        "0.0625",
        "--epochs",
        "1",
        "--batch-size",
        "8",
        "--seed",
        "5",
        "--lambdas",
        "1,0.01,0,0.01",
        "--accelerator",
        "cpu",
        "--no-progress-bar",
        "--no-model-summary",
        "--sanity-val-steps",
        "0",
    ]
    assert (res := _invoke(args)).exit_code == 0, res.output
    res = _invoke(["train", "--config", str(first / "config.yaml"), "--out", str(second)])
    assert res.exit_code == 0, res.output
    a, b = (load_yaml(d / "config.yaml")["train"] for d in (first, second))
    assert a.pop("out") == str(first) and b.pop("out") == str(second)
    assert a == b and a["seed"] == 5 and a["loss"]["lambdas"] == [1.0, 0.01, 0.0, 0.01]


def test_cli_train_options_reach_the_config(fake_train: list[TrainConfig], tmp_path: Path) -> None:
    base = ["train", *PATHS, "--out", str(tmp_path / "r")]
    for lam in (["1", "0", "0.5", "0"], ["1,0,0.5,0"]):
        assert (res := _invoke([*base, "--lambdas", *lam])).exit_code == 0, res.output
    assert (res := _invoke([*base, "--lambdas=1,0,0.5,0"])).exit_code == 0, res.output
    assert [c.loss.lambdas for c in fake_train] == [(1.0, 0.0, 0.5, 0.0)] * 3
    args = [
        *base,
        "--select-on",
        "test",
        "--val-fraction",
        "0",
        "--init",
        "panns",
        "--init-checkpoint",
        "c.pth",
        "--relation-space",
        "log",
        "--relation-grad",
        "both",
        "--precision",
        "bf16-mixed",
        "--accelerator",
        "cuda",
        "--split-seed",
        "4",
        "--head-dropout",
        "0.1",
        "--eval-batch-size",
        "128",
        "--no-channels-last",
    ]
    assert (res := _invoke(args)).exit_code == 0, res.output
    cfg = fake_train[-1]
    assert cfg.optim.select_on == "test" and cfg.data.val_fraction == 0.0
    assert cfg.model.init == "panns" and cfg.model.init_checkpoint == "c.pth"
    assert (cfg.loss.relation_space, cfg.loss.relation_grad) == ("log", "both")
    assert cfg.runtime.precision == "bf16-mixed" and cfg.runtime.accelerator == "cuda"
    assert cfg.runtime.precision == "bf16-mixed" and cfg.runtime.channels_last is False
    assert (cfg.data.split_seed, cfg.model.head_dropout, cfg.runtime.eval_batch_size) == (
        4,
        0.1,
        128,
    )
    assert (res := _invoke(base)).exit_code == 0, res.output
    defaults = fake_train[-1]
    assert defaults.loss.lambdas == PAPER_LAMBDAS and defaults.runtime.devices == "1"


def test_cli_train_usage_errors(fake_train: list[TrainConfig], tmp_path: Path) -> None:
    base = ["train", *PATHS, "--out", str(tmp_path / "r")]
    for bad in (
        ["--select-on", "tset"],
        ["--precision", "bf17"],
        ["--accelerator", "tpu"],
        ["--lambdas", "1,0,0"],
        ["--learn-relation", "yes"],
    ):
        res = _invoke([*base, *bad])
        assert res.exit_code == 2, (bad, res.output)
    res = _invoke(["train", "--dataset", "d", "--out", str(tmp_path / "r")])
    assert res.exit_code != 0 and "--features" in str(res.exception)
    res = _invoke(["train", *PATHS, "--out", str(tmp_path / "o"), "--resume", "--config", "c.yaml"])
    assert "leave out --config" in str(res.exception)
    assert fake_train == []


def test_cli_help_lists_choices_and_dataclass_defaults() -> None:
    res = CliRunner().invoke(app, ["train", "--help"], env={"COLUMNS": "200"})
    assert res.exit_code == 0
    for text in (
        "val|test",
        "he|panns",
        "prob|log",
        "paper|both",
        "auto|cpu|gpu|cuda|mps",
        "bf16-mixed",
        "1 0.01 0.5 0.01",
        "--config",
        "--resume",
    ):
        assert text in res.output, text
    res = CliRunner().invoke(app, ["experiment", "--help"], env={"COLUMNS": "200"})
    assert "--grid" in res.output and "--seeds" in res.output and "--lambdas" not in res.output


def test_split_commas() -> None:
    flags = tuple_flags(TrainConfig)
    assert flags == {"--lambdas"}
    assert split_commas(["--lambdas", "1,2,3,4", "--lr", "1"], flags) == [
        "--lambdas",
        "1",
        "2",
        "3",
        "4",
        "--lr",
        "1",
    ]
    assert split_commas(["--lambdas=1,2,3,4"], flags) == ["--lambdas", "1", "2", "3", "4"]
    assert split_commas(["--devices", "0,1", "--", "--lambdas", "1,2"], flags) == [
        "--devices",
        "0,1",
        "--",
        "--lambdas",
        "1,2",
    ]


# --- experiment, demo -------------------------------------------------------------------------
def test_cli_experiment_parses_seeds_grid_and_options(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: dict = {}

    def fake_run(name, base, out, seeds, **kw):  # noqa: ANN001, ANN202
        seen.update(name=name, base=base, seeds=seeds, **kw)
        return Path(out) / "results.md"

    monkeypatch.setattr(rgasc.experiments.sweep, "run_experiment", fake_run)
    args = [
        "experiment",
        "lambdas",
        *PATHS,
        "--out",
        str(tmp_path),
        "--epochs",
        "3",
        "--width",
        "0.25",
        "--grid",
        "1,0,0,0;1,0.01,0.5,0.01",
        "--seeds",
        "4",
        "5",
        "6",
    ]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert seen["name"] == "lambdas" and seen["seeds"] == [4, 5, 6]
    assert seen["grid"] == [(1, 0, 0, 0), (1, 0.01, 0.5, 0.01)]
    base = seen["base"]
    assert base.optim.epochs == 3 and base.model.width == 0.25
    assert base.runtime.progress_bar is False and base.runtime.model_summary is False
    assert base.runtime.devices == RuntimeConfig().devices  # the same default as train
    res = CliRunner().invoke(app, [*args[:-4], "--seeds", "1,x"])
    assert res.exit_code != 0
    # a run's config.yaml as the base of an experiment; options given still win
    cfg_file = tmp_path / "train.yaml"
    cfg_file.write_text("train:\n  optim: {lr: 0.01, epochs: 9}\n  model: {width: 0.5}\n")
    res = CliRunner().invoke(app, [*args[:-4], "--config", str(cfg_file), "--seeds", "1"])
    assert res.exit_code == 0, res.output
    base = seen["base"]
    assert (base.optim.lr, base.optim.epochs, base.model.width) == (0.01, 3, 0.25)


def test_cli_demo_passes_its_options(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict = {}

    def fake_demo(out, cfg, log):  # noqa: ANN001, ANN202
        seen.update(out=out, cfg=cfg)
        return Path(out) / "report.md"

    monkeypatch.setattr(rgasc.demo.run, "run_demo", fake_demo)
    args = [
        "demo",
        "--out",
        str(tmp_path / "d"),
        "--clips",
        "40",
        "--epochs",
        "2",
        "--width",
        "0.25",
        "--teacher",
        "annotations",
    ]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    cfg = seen["cfg"]
    assert (cfg.clips, cfg.epochs, cfg.width, cfg.teacher) == (40, 2, 0.25, "annotations")
    assert (
        cfg.clip_seconds == rgasc.demo.run.DemoConfig().clip_seconds and "report.md" in res.output
    )
    res = CliRunner().invoke(app, ["demo", "--out", str(tmp_path / "d"), "--teacher", "panns"])
    assert res.exit_code == 2 and "annotations" in res.output  # a choice, not a free string


def test_cli_start_up_loads_neither_torch_nor_lightning() -> None:
    """The options table is read when the CLI is imported: the config tree must stay light."""
    import os
    import subprocess
    import sys

    import rgasc

    src = str(Path(rgasc.__file__).parents[1])  # the sources under test, not an installed copy
    env = {**os.environ, "PYTHONPATH": os.pathsep.join([src, os.environ.get("PYTHONPATH", "")])}
    code = "import sys, rgasc.cli; print(sorted({'torch', 'lightning'} & set(sys.modules)))"
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env
    )
    assert out.stdout.strip() == "[]"


# --- recipes ----------------------------------------------------------------------------------
def test_cli_help_documents_every_option_with_its_default() -> None:
    from rgasc.cli.params import params_of

    for command in ("train", "experiment"):
        res = CliRunner().invoke(app, [command, "--help"], env={"COLUMNS": "250"})
        assert res.exit_code == 0, res.output
        # cells wrap inside the table: drop the borders, collapse the white space
        text = " ".join(res.output.replace("│", " ").split())
        own = ("out", "seed", "lambdas", "init", "init_checkpoint") if command != "train" else ()
        for opt in params_of(TrainConfig):
            if opt.name in own:
                continue
            assert opt.flag in text, (command, opt.flag)
            if opt.default_text() is not None:
                assert f"[default: ({opt.default_text()})]" in text, (command, opt.flag)
        assert "--recipe" in text and "paper|modern" in text
        assert "(--recipe modern: 0.4)" in text and "(--recipe modern: adamw)" in text


def test_cli_recipe_fills_defaults_and_explicit_options_win(
    fake_train: list[TrainConfig], tmp_path: Path
) -> None:
    base = ["train", *PATHS, "--out", str(tmp_path / "r")]
    res = _invoke([*base, "--recipe", "modern", "--mixup-alpha", "0.2"])
    assert res.exit_code == 0, res.output
    cfg = fake_train[-1]
    assert cfg.recipe == "modern" and cfg.augment.mixup_alpha == 0.2
    assert cfg.augment.mixstyle_p == 0.4 and cfg.optim.optimizer == "adamw"
    # a modern run's config.yaml as --config keeps its values; --recipe paper resets them
    file = tmp_path / "modern.yaml"
    file.write_text(
        "train:\n  recipe: modern\n  augment: {mixup_alpha: 0.1, mixstyle_p: 0.4}\n"
        "  optim: {optimizer: adamw, weight_decay: 0.0001}\n"
    )
    assert _invoke([*base, "--config", str(file)]).exit_code == 0
    assert fake_train[-1].augment.mixup_alpha == 0.1 and fake_train[-1].recipe == "modern"
    assert _invoke([*base, "--config", str(file), "--recipe", "paper"]).exit_code == 0
    cfg = fake_train[-1]
    assert cfg.recipe == "paper" and cfg.augment.mixup_alpha == 0.0
    assert cfg.optim.optimizer == "adam" and cfg.augment == type(cfg.augment)()
    assert _invoke([*base, "--recipe", "fancy"]).exit_code == 2


def test_cli_experiment_takes_the_recipe(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict = {}

    def fake_run(name, base, out, seeds, **kw):  # noqa: ANN001, ANN202
        seen.update(base=base)
        return Path(out) / "results.md"

    monkeypatch.setattr(rgasc.experiments.sweep, "run_experiment", fake_run)
    args = [
        "experiment",
        "ablation",
        *PATHS,
        "--out",
        str(tmp_path),
        "--recipe",
        "modern",
        "--time-roll",
        "2",
        "--seeds",
        "1",
    ]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    base = seen["base"]
    assert base.recipe == "modern" and base.augment.time_roll == 2
    assert base.optim.optimizer == "adamw" and base.runtime.progress_bar is False


def test_cli_averaging_and_selection_rule_options(
    fake_train: list[TrainConfig], tmp_path: Path
) -> None:
    # a folder of the test's own: the fake runner writes metrics.json into --out
    args = [
        "train",
        *PATHS,
        "--out",
        str(tmp_path / "o"),
        "--averaging",
        "swa",
        "--swa-epochs",
        "3",
        "--select-rule",
        "smoothed",
        "--select-window",
        "3",
        "--ema-decay",
        "0.99",
    ]
    result = _invoke(args)
    assert result.exit_code == 0, result.output
    cfg = fake_train[-1]
    assert cfg.average.method == "swa" and cfg.average.swa_epochs == 3
    assert cfg.average.ema_decay == 0.99
    assert cfg.select.rule == "smoothed" and cfg.select.window == 3
    bad = _invoke(["train", *PATHS, "--out", str(tmp_path / "o"), "--select-rule", "averaged"])
    assert bad.exit_code != 0 and "--averaging ema" in (bad.output + str(bad.exception))
    assert "averaging" in _invoke(["train", "--help"]).output


def test_resume_of_a_folder_without_a_run_says_to_start_one(tmp_path: Path, capsys) -> None:
    import pytest

    from rgasc.cli import main

    with pytest.raises(SystemExit) as e:
        main(["train", "--resume", "--out", str(tmp_path / "none")])
    err = capsys.readouterr().err
    assert e.value.code == 2 and "holds no run to resume" in err
    assert "without --resume" in err and "use --resume" not in err

"""rgasc.cli.options: the device helper, the choice enums, one name per thing, every --help."""

from __future__ import annotations

import pytest
import torch
import typer
from typer.testing import CliRunner

from rgasc.cli import app
from rgasc.cli.options import (
    DatasetName,
    EvalSplit,
    ExportFormat,
    PredictFormat,
    RelationSplit,
    TeacherName,
    torch_device,
)
from rgasc.errors import RgascError


# --- --accelerator / --devices -> torch device ---------------------------------------------------
@pytest.fixture
def machine(monkeypatch: pytest.MonkeyPatch):
    """Pretend to have ``cuda`` CUDA devices and MPS or not: machine(cuda=2, mps=False)."""

    def set_up(cuda: int = 0, mps: bool = False) -> None:
        monkeypatch.setattr(torch.cuda, "is_available", lambda: cuda > 0)
        monkeypatch.setattr(torch.cuda, "device_count", lambda: cuda)
        monkeypatch.setattr(torch.backends.mps, "is_available", lambda: mps)

    return set_up


@pytest.mark.parametrize(
    ("cuda", "mps", "accelerator", "devices", "expected"),
    [
        (0, False, "auto", "auto", "cpu"),
        (0, False, "cpu", "1", "cpu"),
        (0, False, "cpu", "0", "cpu"),
        (0, False, "auto", "cpu", "cpu"),
        (2, False, "auto", "auto", "cuda:0"),
        (2, False, "cpu", "auto", "cpu"),
        (2, False, "auto", "1", "cuda:0"),  # Lightning: 1 = one device (the first)
        (2, False, "cuda", "0", "cuda:0"),
        (2, False, "cuda", "1,", "cuda:1"),  # Lightning's list form: index 1
        (2, False, "gpu", "[1]", "cuda:1"),
        (2, False, "auto", "cuda:1", "cuda:1"),
        (2, False, "CUDA", "cuda", "cuda:0"),
        (0, True, "auto", "auto", "mps"),
        (0, True, "gpu", "auto", "mps"),
        (2, True, "mps", "1", "mps"),
    ],
)
def test_torch_device(machine, cuda, mps, accelerator, devices, expected) -> None:
    machine(cuda=cuda, mps=mps)
    assert torch_device(accelerator, devices) == expected


@pytest.mark.parametrize(
    ("cuda", "mps", "accelerator", "devices", "match"),
    [
        (0, False, "cuda", "auto", "no CUDA device"),
        (0, False, "gpu", "auto", "no CUDA or MPS"),
        (0, False, "mps", "auto", "MPS is not available"),
        (0, False, "cpu", "1,", "cpu has one device"),
        (2, False, "cuda", "2,", "2 CUDA device"),
        (2, False, "cuda", "2", "runs on one device"),  # a count of 2
        (2, False, "cuda", "0,1", "runs on one device"),
        (2, False, "cpu", "cuda:1", "contradicts"),
        (2, False, "cuda", "cuda:x", "--devices cuda:x"),
    ],
)
def test_torch_device_errors_name_the_option(machine, cuda, mps, accelerator, devices, match):
    machine(cuda=cuda, mps=mps)
    with pytest.raises(RgascError, match=match):
        torch_device(accelerator, devices)


# --- choices -------------------------------------------------------------------------------------
def test_choice_enums_follow_the_library() -> None:
    from rgasc.data.registry import available_datasets
    from rgasc.evaluate.run import SPLITS
    from rgasc.inference.export import EXPORT_FORMATS
    from rgasc.inference.formats import FORMATS
    from rgasc.relation import RELATION_SPLITS
    from rgasc.teachers import available_teachers

    def values(enum: object) -> list[str]:
        return [m.value for m in enum]  # type: ignore[attr-defined]

    assert values(TeacherName) == available_teachers()
    assert values(DatasetName) == available_datasets()
    assert values(PredictFormat) == list(FORMATS)
    assert values(ExportFormat) == list(EXPORT_FORMATS)
    assert values(EvalSplit) == list(SPLITS)
    assert values(RelationSplit) == list(RELATION_SPLITS)
    assert PredictFormat("json") == "json"  # a StrEnum member is the string itself


def test_every_help_runs() -> None:
    res = CliRunner().invoke(app, ["--help"])
    assert res.exit_code == 0, res.output
    commands = typer.main.get_command(app).commands  # type: ignore[attr-defined]
    assert {
        "download",
        "synth",
        "features",
        "tag",
        "relation",
        "train",
        "evaluate",
        "predict",
        "export",
        "info",
        "version",
        "experiment",
        "demo",
    } <= set(commands)
    for name in commands:
        res = CliRunner().invoke(app, [name, "--help"])
        assert res.exit_code == 0, (name, res.output)
        assert "Usage:" in res.output and name in res.output


def test_help_lists_the_choices() -> None:
    res = CliRunner().invoke(app, ["predict", "--help"], env={"COLUMNS": "200"})
    assert "table|json|csv|dcase2018|dcase2020" in res.output
    assert "auto|cpu|gpu|cuda|mps" in res.output


def test_version_runs() -> None:
    res = CliRunner().invoke(app, ["version"])
    assert res.exit_code == 0 and res.output.startswith("rgasc ")


# --- one name per thing ------------------------------------------------------------------------
def _options(command: str) -> dict[str, str]:
    """Flag -> help text of a command's options."""
    cmd = typer.main.get_command(app).commands[command]  # type: ignore[attr-defined]
    return {o: p.help or "" for p in cmd.params for o in p.opts if o.startswith("--")}


@pytest.mark.parametrize(
    ("flag", "commands"),
    [
        ("--dataset", ("features", "tag", "relation", "train", "demo")),
        ("--labels", ("relation", "train")),
        ("--clip-seconds", ("features", "synth", "predict", "demo")),
        ("--workers", ("features", "train")),
        ("--devices", ("features", "tag", "train", "evaluate", "predict")),
        ("--accelerator", ("features", "tag", "train", "evaluate", "predict")),
        ("--num-nodes", ("features", "tag", "train")),
    ],
)
def test_one_option_one_name_in_every_command(flag: str, commands: tuple[str, ...]) -> None:
    helps = {c: _options(c).get(flag) for c in commands}
    assert None not in helps.values(), helps
    if flag in ("--devices", "--accelerator", "--num-nodes"):  # one meaning, one text
        assert len(set(helps.values())) == 1, helps


@pytest.mark.parametrize(
    ("command", "args"),
    [
        ("predict", ["x.wav", "--model", "m", "--hop", "1"]),
        ("predict", ["x.wav", "--model", "m", "--device", "cpu"]),
        ("predict", ["x.wav", "--model", "m", "--window-seconds", "4"]),
        ("tag", ["--dataset", "d", "--teacher", "yamnet", "--out", "o", "--labels", "l"]),
        ("features", ["d", "--out", "o"]),  # the dataset is an option, not a positional
        ("synth", ["--out", "o", "--duration", "4"]),
        ("train", ["--num-workers", "2"]),
        ("info", ["RUN"]),
    ],
)
def test_unreleased_spellings_are_usage_errors(command: str, args: list[str]) -> None:
    res = CliRunner().invoke(app, [command, *args])
    assert res.exit_code == 2, res.output

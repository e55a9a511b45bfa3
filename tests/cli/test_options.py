"""rgasc.cli.options: the device helper, the choice enums, old spellings, every --help."""

from __future__ import annotations

import pytest
import torch
import typer
from typer.testing import CliRunner

from rgasc.cli import app
from rgasc.cli.options import (
    DEVICE_ALIAS,
    Alias,
    DatasetName,
    EvalSplit,
    ExportFormat,
    PredictFormat,
    RelationSplit,
    TeacherName,
    torch_device,
    with_aliases,
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
    assert {"download", "synth", "features", "tag", "relation", "train", "evaluate", "predict",
            "export", "info", "version", "experiment", "demo"} <= set(commands)  # fmt: skip
    for name in commands:
        res = CliRunner().invoke(app, [name, "--help"])
        assert res.exit_code == 0, (name, res.output)
        assert "Usage:" in res.output and name in res.output


def test_help_lists_the_choices_and_the_old_spellings() -> None:
    res = CliRunner().invoke(app, ["predict", "--help"], env={"COLUMNS": "200"})
    assert "table|json|csv|dcase2018|dcase2020" in res.output
    assert "auto|cpu|gpu|cuda|mps" in res.output
    assert "--hop (use --hop-seconds)" in res.output


def test_version_runs() -> None:
    res = CliRunner().invoke(app, ["version"])
    assert res.exit_code == 0 and res.output.startswith("rgasc ")


# --- old spellings -------------------------------------------------------------------------------
def _toy_app() -> typer.Typer:
    toy = typer.Typer()

    @toy.command(
        cls=with_aliases(
            Alias("--hop", "--hop-seconds"), Alias("RUN", "--model", positional=True), DEVICE_ALIAS
        )
    )
    def cmd(
        model: str = typer.Option(...),
        hop_seconds: float = 1.0,
        out: str = "",
        json_: bool = typer.Option(False, "--json"),
        accelerator: str = "auto",
        devices: str = "auto",
    ) -> None:
        typer.echo(f"{model} {hop_seconds} {out} {json_} {accelerator} {devices}")

    @toy.command()
    def other() -> None:  # a second command keeps `cmd` a subcommand
        pass

    return toy


@pytest.mark.parametrize(
    ("args", "expected", "warned"),
    [
        (["--model", "m", "--hop-seconds", "2"], "m 2.0  False auto auto", []),
        (["--model", "m", "--hop", "2"], "m 2.0  False auto auto", ["--hop"]),
        (["--model", "m", "--hop=2"], "m 2.0  False auto auto", ["--hop"]),
        (["--out", "o", "--json", "r"], "r 1.0 o True auto auto", ["positional RUN"]),
        (["r", "--hop", "3"], "r 3.0  False auto auto", ["--hop", "positional RUN"]),
        (["--model", "m", "--device", "cuda:1"], "m 1.0  False cuda cuda:1", ["--device"]),
        (["--model", "m", "--device", "cpu"], "m 1.0  False cpu auto", ["--device"]),
        (["--model", "m", "--", "--hop"], None, []),  # after --: an extra argument, refused
    ],
)
def test_old_spellings_are_rewritten_with_one_warning_each(args, expected, warned) -> None:
    res = CliRunner().invoke(_toy_app(), ["cmd", *args])
    if expected is None:
        assert res.exit_code == 2
        return
    assert res.exit_code == 0, res.output
    assert res.stdout.strip() == expected
    lines = res.stderr.splitlines()
    assert len(lines) == len(warned)
    for line, old in zip(lines, warned, strict=True):
        assert old in line and "deprecated" in line and "next release" in line


@pytest.mark.parametrize(
    "args",
    [
        ["--model", "m", "--hop", "2", "--hop-seconds", "3"],
        ["--model", "m", "r"],
        ["--model", "m", "--device", "cpu", "--accelerator", "cpu"],
        ["--model", "m", "--hop"],
    ],
)
def test_old_and_new_spelling_together_is_a_usage_error(args) -> None:
    res = CliRunner().invoke(_toy_app(), ["cmd", *args])
    assert res.exit_code == 2, res.output

"""`rgasc report`: the page of a run folder, its one-line errors and its options."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from helpers.report import broken_links, make_report_run
from helpers.training import TinyInputs
from rgasc.cli import app, main


@pytest.fixture(scope="module")
def run(tiny_inputs: TinyInputs, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_report_run(tmp_path_factory.mktemp("cli_report") / "run", tiny_inputs)


def test_cli_report(run: Path, tmp_path: Path) -> None:
    out = tmp_path / "page"
    args = ["report", str(run), "--out", str(out), "--no-progress", "--accelerator", "cpu"]
    more = ["--audio-format", "flac", "--page-size", "2", "--correct-per-class", "0"]
    res = CliRunner().invoke(app, [*args, *more])
    assert res.exit_code == 0, res.output
    assert "12 clips (4 misclassified), 4 audio players" in res.output
    assert f"report: {out / 'index.html'}" in res.output
    assert "event tower" in res.output  # the one line saying what was predicted
    assert len(list((out / "assets" / "audio").glob("*.flac"))) == 4
    assert (out / "clips" / "wrong-002.html").is_file()  # 4 clips, 2 a page
    assert broken_links(out) == []


def test_cli_report_default_folder_and_compare(run: Path, tiny_inputs: TinyInputs) -> None:
    other = make_report_run(run.parent / "other", tiny_inputs, seed=1, wrong_every=2)
    res = CliRunner().invoke(
        app, ["report", str(run), "--compare", str(other), "--accelerator", "cpu"]
    )
    assert res.exit_code == 0, res.output
    assert (run / "report_test" / "clips" / "disagree-001.html").is_file()


def test_cli_report_errors_in_one_line(
    run: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    with pytest.raises(SystemExit) as e:
        main(["report", str(tmp_path), "--accelerator", "cpu"])
    assert e.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "config.yaml: missing" in err and "\n" not in err
    res = CliRunner().invoke(app, ["report", str(run), "--split", "dev"])
    assert res.exit_code == 2 and "test" in res.output and "val" in res.output


def test_cli_lists_report_after_inference() -> None:
    res = CliRunner().invoke(app, ["--help"], env={"COLUMNS": "200"})
    assert res.exit_code == 0
    assert res.output.index(" predict ") < res.output.index(" report ")

"""`rgasc predict`, `rgasc export` and `rgasc info` on a tiny untrained run."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest
import torch
from typer.testing import CliRunner

from rgasc.cli import app, main
from rgasc.inference.export import model_summary
from rgasc.inference.formats import read_predictions

torch.set_num_threads(1)


# --- predict -----------------------------------------------------------------------------------
def test_cli_predict_json_to_stdout(tiny_run: Path, tiny_audio: Path) -> None:
    res = CliRunner().invoke(
        app,
        [
            "predict",
            str(tiny_audio),
            "--model",
            str(tiny_run),
            "--format",
            "json",
            "--top-k",
            "2",
            "--no-progress",
        ],
    )
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert [Path(d["file"]).name for d in data] == ["a.wav", "c.flac", "with space, comma.wav"]
    assert all(len(d["top_events"]) == 2 for d in data)


def test_cli_skip_existing_appends(tiny_run: Path, tiny_audio: Path, tmp_path: Path) -> None:
    out = tmp_path / "sub.tsv"
    args = [
        "predict",
        "--model",
        str(tiny_run),
        "--format",
        "dcase2020",
        "--out",
        str(out),
        "--skip-existing",
        "--no-progress",
    ]
    res = CliRunner().invoke(app, [*args, str(tiny_audio / "a.wav")])
    assert res.exit_code == 0, res.output
    first = out.read_text()
    res = CliRunner().invoke(app, [*args, str(tiny_audio)])
    assert res.exit_code == 0, res.output
    assert "2 file(s) predicted" in res.output and "1 already in" in res.output
    text = out.read_text()
    assert text.startswith(first) and len(text.splitlines()) == 4  # header + 3 files


def test_cli_bad_files_exit_codes(
    tiny_run: Path,
    tiny_audio: Path,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF\x00\x00garbage")
    out = tmp_path / "o.csv"
    base = [
        "rgasc",
        "predict",
        str(tiny_audio / "a.wav"),
        str(bad),
        "--model",
        str(tiny_run),
        "--format",
        "csv",
        "--out",
        str(out),
        "--no-progress",
    ]
    monkeypatch.setattr(sys, "argv", base)
    with pytest.raises(SystemExit) as exc:
        main()
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert "broken.wav" in err and "--skip-bad" in err
    assert len(read_predictions(out, "csv")) == 1  # the good file was still written

    monkeypatch.setattr(sys, "argv", [*base, "--skip-bad"])
    with pytest.raises(SystemExit) as exc:
        main()
    assert exc.value.code in (0, None)
    err = capsys.readouterr().err
    assert "skipped" in err and "broken.wav" in err and "1 unreadable skipped" in err


def test_cli_predict_windows(tiny_run: Path, tiny_audio: Path) -> None:
    base = [
        "predict",
        str(tiny_audio / "sub"),
        "--model",
        str(tiny_run),
        "--format",
        "json",
        "--no-progress",
    ]
    args = [
        "--clip-seconds",
        "1",
        "--hop-seconds",
        "0.25",
        "--top-k",
        "3",
        "--accelerator",
        "cpu",
        "--devices",
        "auto",
    ]
    res = CliRunner().invoke(app, [*base, *args])
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    # 2.5 s in 1-s windows every 0.25 s: 7 windows; the 0.5-s file is one padded window
    assert sorted(len(d["timeline"]) for d in data) == [1, 7]
    assert all(len(d["top_events"]) == 3 for d in data)


def test_cli_predict_choice_typos_exit_2(tiny_run: Path, tiny_audio: Path) -> None:
    base = ["predict", str(tiny_audio / "a.wav"), "--model", str(tiny_run)]
    res = CliRunner().invoke(app, [*base, "--format", "jsn"])
    assert res.exit_code == 2 and "dcase2020" in res.output
    res = CliRunner().invoke(app, [*base, "--accelerator", "tpu"])
    assert res.exit_code == 2 and "mps" in res.output
    res = CliRunner().invoke(app, [*base, "--devices", "0,1"])  # one device only: an RgascError
    assert res.exit_code == 1 and "one device" in str(res.exception)


# --- export, info ------------------------------------------------------------------------------
def test_export_cli(tiny_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "cli.pt"
    res = CliRunner().invoke(
        app, ["export", "--model", str(tiny_run), "--format", "torchscript", "--out", str(out)]
    )
    assert res.exit_code == 0, res.output
    assert "max abs diff" in res.output and out.is_file()


def test_export_format_typo(tiny_run: Path, tmp_path: Path) -> None:
    out = tmp_path / "old.pt"
    res = CliRunner().invoke(
        app, ["export", "--model", str(tiny_run), "--format", "tflite", "--out", str(out)]
    )
    assert res.exit_code == 2 and "onnx" in res.output and "torchscript" in res.output


def test_info_cli(tiny_run: Path) -> None:
    p = model_summary(tiny_run)["parameters"]
    res = CliRunner().invoke(app, ["info", "--model", str(tiny_run)])
    assert res.exit_code == 0, res.output
    assert f"{p['total']:,}" in res.output and "3 scenes x 5 events" in res.output
    res = CliRunner().invoke(app, ["info", "--model", str(tiny_run), "--json"])
    assert json.loads(res.stdout)["parameters"] == p

"""predict on degenerate audio: very short recordings are marked in every format, truncated
files are unreadable, skipped files get a row, a lone failure prints no table header."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers.checkpoints import write_wav
from rgasc.errors import AudioTruncatedError
from rgasc.inference.formats import FORMATS, read_predictions, warnings_path
from rgasc.inference.run import run_predict


@pytest.fixture(scope="module")
def audio(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("degenerate")
    write_wav(d / "ok.wav", 1.0, 16000, seed=1)
    write_wav(d / "short.wav", 0.1, 16000, seed=2)  # 0.1 s: under 25 % of the 1-s window
    write_wav(d / "full.wav", 1.0, 16000, seed=3)
    blob = (d / "full.wav").read_bytes()
    (d / "full.wav").unlink()
    (d / "cut.wav").write_bytes(blob[: len(blob) // 2])  # the header still promises 1 s
    return d


@pytest.mark.parametrize("fmt", FORMATS)
def test_short_and_unreadable_files_are_marked_in_every_format(
    tiny_run: Path, audio: Path, tmp_path: Path, fmt: str, capsys
) -> None:
    out = tmp_path / f"pred.{fmt}"
    r = run_predict([audio], tiny_run, fmt=fmt, out=out, skip_bad=True, progress=False)
    err = capsys.readouterr().err
    assert r.predicted == 2 and [Path(f).name for f, _ in r.bad] == ["cut.wav"]
    assert [Path(f).name for f, _ in r.warned] == ["short.wav"]
    assert "warning:" in err and "short.wav" in err and "truncated" in err
    if fmt.startswith("dcase"):
        listed = warnings_path(out).read_text()
        assert "cut.wav" in listed and "short.wav" in listed and "unreadable" in listed
        return
    records = {Path(rec["file"]).name: rec for rec in read_predictions(out, fmt)}
    assert set(records) == {"ok.wav", "short.wav", "cut.wav"}  # skipped != missing
    if fmt == "table":
        assert records["short.wav"]["note"] == "short" and records["ok.wav"]["note"] == ""
        assert records["cut.wav"]["note"] == "unreadable" and records["cut.wav"]["prob"] is None
    else:
        assert "0.10 s of audio" in records["short.wav"]["warning"]
        assert not records["ok.wav"]["warning"]
        assert records["cut.wav"]["warning"].startswith("unreadable: ")
    # --skip-existing keeps the predicted rows and tries the unreadable file again
    (audio / "cut.wav").rename(audio / "cut.tmp")
    try:
        again = run_predict(
            [audio], tiny_run, fmt=fmt, out=out, skip_existing=True, skip_bad=True, progress=False
        )
    finally:
        (audio / "cut.tmp").rename(audio / "cut.wav")
    assert again.existing == 2 and again.predicted == 0


def test_a_lone_failing_file_prints_no_table_header(tiny_run: Path, audio: Path, capsys) -> None:
    with pytest.raises(AudioTruncatedError, match="truncated"):
        run_predict([audio / "cut.wav"], tiny_run, progress=False)
    assert capsys.readouterr().out == ""


def test_json_warning_field(tiny_run: Path, audio: Path, capsys) -> None:
    run_predict([audio / "short.wav", audio / "ok.wav"], tiny_run, fmt="json", progress=False)
    data = json.loads(capsys.readouterr().out)
    assert data[0]["warning"] and data[1]["warning"] is None

"""inference.formats and `rgasc predict`: every format parses back, DCASE layouts, append, CLI."""

from __future__ import annotations

import csv
import json
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from typer.testing import CliRunner

import rgasc
from helpers.checkpoints import SCENES, make_run, write_wav
from rgasc.cli import app, main
from rgasc.errors import ArtefactError, LabelSpaceError
from rgasc.inference.formats import (
    FORMATS,
    parse,
    read_predictions,
    render,
    to_record,
    write_predictions,
)
from rgasc.inference.predict import Prediction

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_run(tmp_path_factory.mktemp("h8fmt"))


@pytest.fixture(scope="module")
def audio(tmp_path_factory: pytest.TempPathFactory) -> Path:
    d = tmp_path_factory.mktemp("h8audio")
    write_wav(d / "a.wav", 1.0, 16000, seed=1)
    write_wav(d / "sub" / "with space, comma.wav", 2.5, 22050, channels=2, seed=2)
    write_wav(d / "sub" / "c.flac", 0.5, 8000, seed=3)
    return d


@pytest.fixture(scope="module")
def preds(run: Path, audio: Path) -> list[Prediction]:
    p = rgasc.load_model(run, top_k=3)
    return list(p.predict_files(sorted(audio.rglob("*.*"))))


@pytest.mark.parametrize("fmt", FORMATS)
def test_every_format_parses_back(preds: list[Prediction], fmt: str) -> None:
    records = [to_record(p, fmt) for p in preds]
    assert parse(render(records, fmt), fmt) == records


def test_json_has_all_fields(preds: list[Prediction]) -> None:
    data = json.loads(render([to_record(p, "json") for p in preds], "json"))
    assert isinstance(data, list) and len(data) == 3
    long = next(d for d in data if "space" in d["file"])
    assert len(long["timeline"]) == 4  # 2.5 s, 1-s windows, 0.5-s hop: 0, .5, 1, 1.5 -> 2.5
    assert long["scene"] == max(long["scene_probs"], key=long["scene_probs"].get)
    assert sum(long["scene_probs"].values()) == pytest.approx(1, abs=1e-5)
    assert len(long["evidence"]) == 3 and {"event", "score"} <= set(long["evidence"][0])


def test_dcase2018_matches_spec(preds: list[Prediction]) -> None:
    text = render([to_record(p, "dcase2018") for p in preds], "dcase2018")
    lines = text.splitlines()
    assert len(lines) == 3  # no header
    for line, p in zip(lines, preds, strict=True):
        name, scene = line.split("\t")
        assert name == "audio/" + Path(str(p.file)).name and scene == p.scene
        assert scene in SCENES


def test_dcase2020_matches_spec(preds: list[Prediction]) -> None:
    text = render([to_record(p, "dcase2020") for p in preds], "dcase2020")
    rows = list(csv.reader(text.splitlines(), delimiter="\t"))
    assert rows[0] == ["filename", "scene_label", *SCENES]
    for row, p in zip(rows[1:], preds, strict=True):
        assert row[0].startswith("audio/") and row[1] == p.scene
        probs = np.array(row[2:], float)
        assert probs.sum() == pytest.approx(1, abs=1e-5) and SCENES[int(probs.argmax())] == row[1]


def test_append_and_label_space_check(preds: list[Prediction], tmp_path: Path) -> None:
    for fmt in FORMATS:
        out = tmp_path / f"out.{fmt}"
        write_predictions(out, preds[:1], fmt)
        write_predictions(out, preds[1:], fmt, append=True)
        assert read_predictions(out, fmt) == [to_record(p, fmt) for p in preds]
    other = to_record(preds[0], "dcase2020")
    other["probs"] = {"beach": 1.0}
    with pytest.raises(LabelSpaceError, match="different models"):
        write_predictions(tmp_path / "out.dcase2020", [other], "dcase2020", append=True)


def test_wrong_format_is_a_clear_error(preds: list[Prediction], tmp_path: Path) -> None:
    out = write_predictions(tmp_path / "x.txt", preds, "dcase2018")
    with pytest.raises(ArtefactError, match="not a json prediction file"):
        read_predictions(out, "json")
    with pytest.raises(ArtefactError, match="unknown output format"):
        render([], "xml")


# --- the CLI -----------------------------------------------------------------------------------
def test_cli_predict_json_to_stdout(run: Path, audio: Path) -> None:
    res = CliRunner().invoke(app, ["predict", str(audio), "--model", str(run), "--format",
                                   "json", "--top-events", "2", "--no-progress"])  # fmt: skip
    assert res.exit_code == 0, res.output
    data = json.loads(res.stdout)
    assert [Path(d["file"]).name for d in data] == ["a.wav", "c.flac", "with space, comma.wav"]
    assert all(len(d["top_events"]) == 2 for d in data)


def test_cli_skip_existing_appends(run: Path, audio: Path, tmp_path: Path) -> None:
    out = tmp_path / "sub.tsv"
    args = ["predict", "--model", str(run), "--format", "dcase2020", "--out", str(out),
            "--skip-existing", "--no-progress"]  # fmt: skip
    res = CliRunner().invoke(app, [*args, str(audio / "a.wav")])
    assert res.exit_code == 0, res.output
    first = out.read_text()
    res = CliRunner().invoke(app, [*args, str(audio)])
    assert res.exit_code == 0, res.output
    assert "2 file(s) predicted" in res.output and "1 already in" in res.output
    text = out.read_text()
    assert text.startswith(first) and len(text.splitlines()) == 4  # header + 3 files


def test_cli_bad_files_exit_codes(
    run: Path, audio: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    bad = tmp_path / "broken.wav"
    bad.write_bytes(b"RIFF\x00\x00garbage")
    out = tmp_path / "o.csv"
    base = ["rgasc", "predict", str(audio / "a.wav"), str(bad), "--model", str(run),
            "--format", "csv", "--out", str(out), "--no-progress"]  # fmt: skip
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

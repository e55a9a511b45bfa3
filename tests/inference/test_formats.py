"""inference.formats: every format parses back, the DCASE layouts, append."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest
import torch

import rgasc
from helpers.checkpoints import SCENES
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
def preds(tiny_run: Path, tiny_audio: Path) -> list[Prediction]:
    p = rgasc.load_model(tiny_run, top_k=3)
    return list(p.predict_files(sorted(tiny_audio.rglob("*.*"))))


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

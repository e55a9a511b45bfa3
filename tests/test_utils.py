"""rgasc.utils: the "stage already done with this key" stamps."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from rgasc.utils import mark_stage_done, read_stamp, stage_done, stage_record


def test_stage_done_needs_the_same_key_and_the_outputs(tmp_path: Path) -> None:
    stamp, out = tmp_path / "stage" / "done.json", tmp_path / "out.bin"
    assert not stage_done(stamp, "k1")  # no stamp yet
    mark_stage_done(stamp, "k1", teacher="toy", options={"seed": 1})
    # the format a stage already wrote by hand: {field: key, **info}
    assert json.loads(stamp.read_text()) == {"key": "k1", "teacher": "toy", "options": {"seed": 1}}
    assert stage_done(stamp, "k1")
    assert not stage_done(stamp, "k2")
    assert not stage_done(stamp, "k1", outputs=[out])  # an output is missing
    out.write_bytes(b"x")
    assert stage_done(stamp, "k1", outputs=[out])
    assert stage_record(stamp, "k1") == {"key": "k1", "teacher": "toy", "options": {"seed": 1}}
    assert stage_record(stamp, "k2") is None
    assert not list(stamp.parent.glob(".*.tmp"))  # atomic: no temporary left behind


def test_other_fields_and_whole_file_keys(tmp_path: Path) -> None:
    stamp = tmp_path / "sweep.json"
    mark_stage_done(stamp, "abc", field="identity", kind="train", seed=3)
    assert json.loads(stamp.read_text()) == {"identity": "abc", "kind": "train", "seed": 3}
    assert stage_done(stamp, "abc", field="identity") and not stage_done(stamp, "abc")
    # field=None: the file is the key (synth.json holds the corpus settings)
    settings = {"clips": 10, "seed": 0, "scenes": ["park", "bus"]}
    whole = tmp_path / "synth.json"
    mark_stage_done(whole, settings, field=None)
    assert read_stamp(whole) == settings
    assert stage_done(whole, settings, field=None)
    assert not stage_done(whole, {**settings, "seed": 1}, field=None)
    with pytest.raises(TypeError):
        mark_stage_done(whole, settings, field=None, extra=1)


@pytest.mark.parametrize("text", ["{torn", "[1, 2]", ""])
def test_damaged_stamps_mean_not_done(tmp_path: Path, text: str) -> None:
    stamp = tmp_path / "s.json"
    stamp.write_text(text)
    assert read_stamp(stamp) is None
    assert not stage_done(stamp, "k")
    assert read_stamp(tmp_path / "missing.json") is None

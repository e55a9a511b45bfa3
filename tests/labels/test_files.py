"""The pseudo-label file: attributes round-trip as numbers, text or JSON text."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from rgasc.labels.files import PseudoLabels, read_labels, write_labels


def test_attributes_that_are_not_numbers_or_text_are_stored_as_json(tmp_path: Path) -> None:
    attrs = {
        "teacher": "toy",
        "n": np.int64(3),
        "ratio": 0.5,
        "options": {"engine": "onnx", "pooling": None},
        "bad": ["a.wav", "b.wav"],
    }
    pl = PseudoLabels(["a.wav"], np.zeros((1, 2), np.float32), ["x", "y"], attrs)
    write_labels(tmp_path / "l.h5", pl)
    back = read_labels(tmp_path / "l.h5").attrs
    assert back["teacher"] == "toy" and back["n"] == 3 and back["ratio"] == 0.5
    assert json.loads(back["options"]) == {"engine": "onnx", "pooling": None}
    assert json.loads(back["bad"]) == ["a.wav", "b.wav"]

"""``rgasc tag --devices 2``: two CPU processes, each tagging a shard, merged by rank 0 into
the file one process writes (slow: each rank loads CNN14; the shard/merge logic alone is
tested fast in tests/test_distributed.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from helpers.cli import run_rgasc
from helpers.dcase import make_dcase
from rgasc.labels.files import read_labels
from rgasc.teachers.panns import CNN14_CONFIGS, Cnn14

pytestmark = pytest.mark.slow


def test_tag_on_two_processes_equals_one(tmp_path: Path) -> None:
    ds = make_dcase(tmp_path / "ds", seconds=0.25)  # 24 clips
    # CNN14-16k with random weights in the official file layout, and a 527-class list
    torch.manual_seed(0)
    ckpt = tmp_path / "Cnn14_16k_mAP=0.438.pth"
    torch.save(
        {"model": Cnn14(**CNN14_CONFIGS["panns-cnn14-16k"].model_kwargs()).state_dict()}, ckpt
    )
    labels = tmp_path / "class_labels_indices.csv"
    rows = ["index,mid,display_name", *(f"{i},/m/{i:04x},Event {i}" for i in range(527))]
    labels.write_text("\n".join(rows) + "\n")
    common = [
        "tag",
        "--dataset",
        str(ds),
        "--teacher",
        "panns-cnn14-16k",
        "--checkpoint",
        str(ckpt),
        "--class-labels",
        str(labels),
        "--accelerator",
        "cpu",
        "--batch-size",
        "4",
        "--embeddings",
    ]

    run_rgasc([*common, "--out", str(tmp_path / "one" / "labels.h5")], tmp_path)
    res = run_rgasc(
        [*common, "--out", str(tmp_path / "two" / "labels.h5"), "--devices", "2"], tmp_path
    )
    assert res.stdout.count("24 clips x 527 events") == 1  # rank 0 reports, once
    one, two = (
        read_labels(tmp_path / "one" / "labels.h5"),
        read_labels(tmp_path / "two" / "labels.h5"),
    )
    assert two.filenames == one.filenames and two.labels == one.labels
    assert two.attrs == one.attrs
    np.testing.assert_allclose(two.probs, one.probs, rtol=1e-5, atol=1e-6)
    # only the label file is left: the shards are merged and removed
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == ["labels.h5"]

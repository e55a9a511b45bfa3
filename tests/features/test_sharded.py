"""``rgasc features --accelerator cpu --devices 2``: two processes, each computing a shard,
merged by rank 0 into the cache one process writes (slow: two fresh Pythons and a gloo
rendezvous; the shard/merge logic alone, its resume and its refusals are tested fast in
tests/test_distributed.py)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from helpers.cli import run_rgasc
from rgasc.features import open_cache

pytestmark = pytest.mark.slow


def test_features_on_two_processes_equal_one(tiny_dataset: Path, tmp_path: Path) -> None:
    common = [
        "features",
        "--dataset",
        str(tiny_dataset),
        "--sample-rate",
        "16000",
        "--n-fft",
        "512",
        "--hop-length",
        "256",
        "--n-mels",
        "32",
        "--clip-seconds",
        "0.25",
        "--no-progress",
    ]
    run_rgasc([*common, "--out", str(tmp_path / "one")], tmp_path)
    two = tmp_path / "two"
    res = run_rgasc(
        [*common, "--out", str(two), "--accelerator", "cpu", "--devices", "2"], tmp_path
    )
    assert res.stdout.count("24 clips ->") == 1  # rank 0 reports, once
    assert "0 reused, 24 computed, 0 bad" in res.stdout
    a, b = open_cache(tmp_path / "one"), open_cache(two)
    drop = ("created", "file")
    assert {k: v for k, v in b.manifest.items() if k not in drop} == {
        k: v for k, v in a.manifest.items() if k not in drop
    }
    assert b.key == a.key and b.names == a.names
    assert np.asarray(b.features).tobytes() == np.asarray(a.features).tobytes()  # bit-identical
    # the shards are merged and removed; a later single-process run computes nothing
    assert not (tmp_path / "two.shards").exists()
    again = run_rgasc([*common, "--out", str(two)], tmp_path)
    assert "24 reused, 0 computed, 0 bad" in again.stdout

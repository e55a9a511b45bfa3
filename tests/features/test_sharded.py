"""``rgasc features --devices 2``: two processes, each computing a shard, merged by rank 0
into the cache one process writes, byte for byte (slow: two ranks are started; the
shard/merge logic alone is tested fast in tests/test_distributed.py)."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers.cli import run_rgasc
from helpers.dcase import make_dcase
from rgasc.features import open_cache

pytestmark = pytest.mark.slow


def test_features_on_two_processes_equal_one(tmp_path: Path) -> None:
    ds = make_dcase(tmp_path / "ds", seconds=0.25)  # 24 clips
    common = ["features", str(ds), "--sample-rate", "16000", "--n-fft", "512",
              "--hop-length", "256", "--clip-seconds", "0.25", "--no-progress"]  # fmt: skip
    run_rgasc([*common, "--out", str(tmp_path / "one")], tmp_path)
    res = run_rgasc([*common, "--out", str(tmp_path / "two"), "--devices", "2"], tmp_path)
    assert res.stdout.count("24 clips ->") == 1
    one, two = open_cache(tmp_path / "one"), open_cache(tmp_path / "two")
    assert two.key == one.key and two.names == one.names
    assert (two.path / "features.npy").read_bytes() == (one.path / "features.npy").read_bytes()
    assert sorted(p.name for p in two.path.iterdir()) == sorted(p.name for p in one.path.iterdir())
    assert not (tmp_path / "two.shards").exists()
    # a finished cache: the rerun on two processes returns it at once
    res = run_rgasc([*common, "--out", str(tmp_path / "two"), "--devices", "2"], tmp_path)
    assert open_cache(tmp_path / "two").key == one.key

"""Shards and merges without processes: the split of a clip list, the unpadded validation
sampler, and the per-rank tagging / feature shards merged into the one-process files.

The ranks run one after the other in this process (the exchange between them is the only
part left to the multi-process tests, tests/labels/test_sharded.py and
tests/features/test_sharded.py, marked slow).
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import rgasc.labels.tagging as tagmod
from helpers.dcase import make_dcase
from helpers.teachers import ToyTeacher
from rgasc.data.datasets import DcaseDataset
from rgasc.distributed import (
    is_multi_process,
    shard_range,
    shards_dir,
    unpadded_sampler,
)
from rgasc.errors import RgascError
from rgasc.features import FeatureConfig
from rgasc.labels.files import read_labels
from rgasc.labels.sharded import merge_label_shards, tag_shard
from rgasc.labels.tagging import bad_clips_path, read_embeddings, tag_dataset

CFG = FeatureConfig(sample_rate=16000, n_fft=512, hop_length=256, n_mels=32, fmax=8000.0,
                    clip_seconds=0.25)  # fmt: skip


def test_shards_tile_the_clips_and_validation_counts_every_clip_once() -> None:
    for n in (0, 1, 5, 24, 25):
        for world in (1, 2, 3, 7):
            ranges = [shard_range(n, r, world) for r in range(world)]
            assert ranges[0][0] == 0 and ranges[-1][1] == n  # in order, no gap, no overlap
            assert all(a[1] == b[0] for a, b in zip(ranges, ranges[1:], strict=False))
            sizes = [b - a for a, b in ranges]
            assert max(sizes) - min(sizes) <= 1
    with pytest.raises(ValueError):
        shard_range(4, 2, 2)
    assert [is_multi_process(d) for d in ("auto", "1", "0", "1,", "cuda:1", "2", "-1", "0,1")] == [
        False, False, False, False, False, True, True, True]  # fmt: skip
    assert is_multi_process("1", num_nodes=2)

    # validation under DDP: 9 clips over 2 ranks -> 5 + 4, each clip once (no padding)
    data = list(range(9))
    seen = []
    for rank in (0, 1):
        sampler = unpadded_sampler(data, SimpleNamespace(world_size=2, global_rank=rank))
        seen += list(sampler)
    assert sorted(seen) == data
    assert unpadded_sampler(data, SimpleNamespace(world_size=1, global_rank=0)) is None
    with pytest.raises(RgascError, match="fewer --devices"):
        unpadded_sampler(data[:1], SimpleNamespace(world_size=2, global_rank=0))


@pytest.fixture
def ds(tmp_path: Path) -> DcaseDataset:
    # 24 clips of 0.25 s at 48 kHz; clip 10 is undecodable
    d = DcaseDataset(make_dcase(tmp_path / "ds", seconds=0.25))
    d.audio_path(d.clips[10]).write_bytes(b"RIFF not really a wave file")
    return d


def test_tag_shards_merge_into_the_single_process_file(
    ds: DcaseDataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    one = tmp_path / "one" / "labels.h5"
    ref = tag_dataset(ds, ToyTeacher(), one, batch_size=4, skip_bad=True, progress=False,
                      embeddings=True)  # fmt: skip
    out = tmp_path / "many" / "labels.h5"
    world = 3
    for rank in (2, 0, 1):  # any order: the merge goes by rank
        tag_shard(ds, ToyTeacher(), out, rank, world, batch_size=4, skip_bad=True,
                  progress=False, embeddings=True)  # fmt: skip

    # a finished shard is not tagged again
    def recomputed(*args: object) -> None:
        raise AssertionError("a finished shard was tagged again")

    monkeypatch.setattr(tagmod, "_predict", recomputed)
    tag_shard(ds, ToyTeacher(), out, 1, world, skip_bad=True, progress=False, embeddings=True)
    merged = merge_label_shards(out, world, embeddings=True, clips=[c.filename for c in ds.clips])

    back, want = read_labels(out), read_labels(one)
    assert back.filenames == want.filenames == ref.filenames and len(back.filenames) == 23
    np.testing.assert_allclose(back.probs, want.probs, rtol=1e-6, atol=1e-7)
    assert back.attrs == want.attrs and merged.attrs["n_bad_clips"] == 1
    np.testing.assert_allclose(read_embeddings(out)[1], read_embeddings(one)[1], rtol=1e-6)
    assert bad_clips_path(out).read_text() == bad_clips_path(one).read_text()
    assert not shards_dir(out).exists()

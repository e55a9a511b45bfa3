"""Shards and merges without processes: the split of a clip list, the unpadded validation
sampler, and the per-rank tagging / feature shards merged into the one-process files (and
the feature shards' resume and refusals).

The ranks run one after the other in this process (the exchange between them is the only
part left to the multi-process tests, tests/labels/test_sharded.py and
tests/features/test_sharded.py, marked slow).
"""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace

import numpy as np
import pytest

import rgasc.features.compute as compute_mod
import rgasc.labels.tagging as tagmod
from helpers.dcase import make_dcase
from helpers.teachers import ToyTeacher
from rgasc.data.datasets import DcaseDataset
from rgasc.distributed import (
    Ranks,
    is_multi_process,
    shard_clips,
    shard_dir,
    shard_range,
    shards_dir,
    unpadded_sampler,
)
from rgasc.errors import ArtefactError, Interrupted, RgascError
from rgasc.features import FeatureCache, FeatureConfig, compute_features, open_cache
from rgasc.features.sharded import (
    DONE,
    features_distributed,
    merge_feature_shards,
    shard_cache_dir,
    shard_features,
)
from rgasc.labels.files import read_labels
from rgasc.labels.sharded import merge_label_shards, tag_shard
from rgasc.labels.tagging import bad_clips_path, read_embeddings, tag_dataset

CFG = FeatureConfig(
    sample_rate=16000, n_fft=512, hop_length=256, n_mels=32, fmax=8000.0, clip_seconds=0.25
)


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
    assert [shard_clips(list("abcde"), r, 2) for r in (0, 1)] == [["a", "b"], ["c", "d", "e"]]
    assert [is_multi_process(d) for d in ("auto", "1", "0", "1,", "cuda:1", "2", "-1", "0,1")] == [
        False,
        False,
        False,
        False,
        False,
        True,
        True,
        True,
    ]
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
    ref = tag_dataset(
        ds, ToyTeacher(), one, batch_size=4, skip_bad=True, progress=False, embeddings=True
    )
    out = tmp_path / "many" / "labels.h5"
    world = 3
    for rank in (2, 0, 1):  # any order: the merge goes by rank
        tag_shard(
            ds,
            ToyTeacher(),
            out,
            rank,
            world,
            batch_size=4,
            skip_bad=True,
            progress=False,
            embeddings=True,
        )

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


# --- features ---------------------------------------------------------------------------------
def _same_cache(a: FeatureCache, b: FeatureCache) -> None:
    """``a`` is the cache ``b`` is: manifest (but for its time and random array name) and bytes."""
    drop = ("created", "file")
    assert {k: v for k, v in a.manifest.items() if k not in drop} == {
        k: v for k, v in b.manifest.items() if k not in drop
    }
    assert a.key == b.key and a.names == b.names and a.bad_clips == b.bad_clips
    assert np.asarray(a.features).tobytes() == np.asarray(b.features).tobytes()
    assert (a.path / "bad_clips.csv").read_text() == (b.path / "bad_clips.csv").read_text()


def test_feature_shards_merge_into_the_single_process_cache(
    ds: DcaseDataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    one = compute_features(ds, tmp_path / "one", CFG, skip_bad=True, progress=False)
    out = tmp_path / "many"
    # two ranks in this process, one after the other: rank 1 writes its shard and returns
    assert (
        features_distributed(ds, out, CFG, Ranks(1, 2, "cpu"), skip_bad=True, progress=False)
        is None
    )
    assert (shard_dir(out, 1, 2) / DONE).is_file() and not (out / "latest.json").exists()
    merged = features_distributed(ds, out, CFG, Ranks(0, 2, "cpu"), skip_bad=True, progress=False)
    # clip 10 is bad: counted as bad, not as computed
    assert merged is not None and (merged.reused, merged.computed) == (0, 23)
    _same_cache(open_cache(out), open_cache(tmp_path / "one"))
    _same_cache(merged, one)
    assert not shards_dir(out).exists()
    assert [p.name for p in merged.path.glob("features*.npy")] == [merged.file]

    # a later single-process run sees a complete cache: nothing computed
    def recomputed(*args: object) -> None:
        raise AssertionError("a clip of the merged cache was computed again")

    monkeypatch.setattr(compute_mod, "extract_chunk", recomputed)
    again = compute_features(ds, out, CFG, skip_bad=True, progress=False)
    assert (again.reused, again.computed) == (24, 0) and again.key == one.key
    # a sharded rerun over a finished cache copies rows only, and changes nothing
    for rank in (1, 0):
        features_distributed(ds, out, CFG, Ranks(rank, 2, "cpu"), skip_bad=True, progress=False)
    _same_cache(open_cache(out), one)
    # more ranks than clips: the empty shards hold nothing and merge all the same
    assert shard_features(ds, tmp_path / "wide", CFG, 0, 25, progress=False) is None
    assert (shard_dir(tmp_path / "wide", 0, 25) / DONE).is_file()


def test_an_interrupted_sharded_run_resumes_per_shard(
    ds: DcaseDataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import soundfile as sf

    one = compute_features(ds, tmp_path / "one", CFG, skip_bad=True, progress=False)
    out, world = tmp_path / "many", 2
    real = compute_mod.extract_chunk
    calls: list[str] = []

    def counted(paths, cfg):  # type: ignore[no-untyped-def]
        calls.extend(paths)
        if stop_after is not None and len(calls) > stop_after:
            raise KeyboardInterrupt
        return real(paths, cfg)

    monkeypatch.setattr(compute_mod, "extract_chunk", counted)
    stop_after: int | None = None
    shard_features(ds, out, CFG, 0, world, skip_bad=True, progress=False, chunk_size=4)
    assert len(calls) == 12
    calls.clear()
    stop_after = 4  # rank 1 stops in its second chunk: its first 4 clips are kept
    with pytest.raises(Interrupted):
        shard_features(ds, out, CFG, 1, world, skip_bad=True, progress=False, chunk_size=4)
    assert not (shard_dir(out, 1, world) / DONE).exists()
    with pytest.raises(ArtefactError, match="shard 1 of 2 is unfinished"):
        merge_feature_shards(ds, out, CFG, world, skip_bad=True, progress=False)

    # shard 0's audio changed since it finished: that clip only is recomputed (hashes decide)
    changed = ds.clips[2]
    x, sr = sf.read(ds.audio_path(changed))
    sf.write(ds.audio_path(changed), 0.5 * x, sr)
    stop_after = None
    one = compute_features(ds, tmp_path / "one", CFG, skip_bad=True, progress=False)
    calls.clear()
    for rank in (0, 1):  # the same command again
        shard_features(ds, out, CFG, rank, world, skip_bad=True, progress=False, chunk_size=4)
    assert calls == [str(ds.audio_path(c)) for c in (changed, *ds.clips[16:])]
    merged = merge_feature_shards(ds, out, CFG, world, skip_bad=True, progress=False)
    assert (merged.reused, merged.computed) == (15, 9)
    _same_cache(merged, one)


def test_shards_of_other_inputs_are_refused(ds: DcaseDataset, tmp_path: Path) -> None:
    import soundfile as sf

    out, world = tmp_path / "many", 2
    # rank 1 read another clip list than rank 0 (another dataset, or meta.csv changed)
    other = DcaseDataset(ds.root)
    other.clips = other.clips[:-1]
    shard_features(ds, out, CFG, 0, world, skip_bad=True, progress=False)
    shard_features(other, out, CFG, 1, world, skip_bad=True, progress=False)
    with pytest.raises(ArtefactError, match="shard 1 of 2 was computed from other clips"):
        merge_feature_shards(ds, out, CFG, world, skip_bad=True, progress=False)
    shard_features(ds, out, CFG, 1, world, skip_bad=True, progress=False)
    # a shard of another feature config is not this one's
    cfg2 = FeatureConfig(**{**CFG.to_dict(), "n_mels": 16})
    with pytest.raises(ArtefactError, match="other clips or another feature config"):
        merge_feature_shards(ds, out, cfg2, world, skip_bad=True, progress=False)
    # a clip whose bytes differ from what its rank read is never served (nor recomputed)
    changed = ds.clips[20]
    x, sr = sf.read(ds.audio_path(changed))
    sf.write(ds.audio_path(changed), 0.5 * x, sr)
    with pytest.raises(ArtefactError, match=f"1 clip.*in no shard.*{changed.filename}"):
        merge_feature_shards(ds, out, CFG, world, skip_bad=True, progress=False)
    assert not (out / "latest.json").exists() and shard_cache_dir(out, CFG, 1, world).is_dir()
    for rank in (0, 1):  # the rerun the message asks for recomputes that clip, then merges
        shard_features(ds, out, CFG, rank, world, skip_bad=True, progress=False)
    merged = merge_feature_shards(ds, out, CFG, world, skip_bad=True, progress=False)
    _same_cache(merged, compute_features(ds, tmp_path / "one", CFG, skip_bad=True, progress=False))

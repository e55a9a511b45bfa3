"""The feature cache: keys, resume, bad clips, normalisation on training clips, lazy reads."""

from __future__ import annotations

import shutil
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import rgasc.features.compute as compute_mod
from helpers.dcase import make_dcase
from rgasc.audio import load_audio
from rgasc.data import DcaseDataset
from rgasc.errors import ArtefactError, AudioError, LabelSpaceError
from rgasc.features import (
    FeatureConfig,
    compute_features,
    export_npz,
    logmel,
    normalize,
    open_cache,
)
from rgasc.features.cache import BAD_CLIPS, PROGRESS

CFG = FeatureConfig(clip_seconds=1.0)


@pytest.fixture
def ds(tmp_path: Path) -> DcaseDataset:
    return DcaseDataset(make_dcase(tmp_path / "ds"))  # 24 clips of 1 s, 48 kHz stereo


def corrupt(path: Path) -> None:
    path.write_bytes(b"RIFF\x00\x00\x00\x00WAVEjunk" + bytes(100))


def test_cache_contents_and_lazy_reads(ds: DcaseDataset, tmp_path: Path) -> None:
    compute_features(ds, tmp_path / "out", CFG, progress=False)
    cache = open_cache(tmp_path / "out")
    assert cache.names == [c.filename for c in ds.clips]
    assert cache.meta == ds.clips and cache.config == CFG and cache.bad_clips == []
    assert isinstance(cache.features, np.memmap)  # read on demand, not loaded
    assert cache.features.shape == (24, CFG.n_frames, CFG.n_mels)
    x, _ = load_audio(ds.audio_path(ds.clips[5]), sr=CFG.sample_rate)
    # (not bit-equal: the cache runs BLAS single-threaded, this call may not)
    np.testing.assert_allclose(cache.features[5], logmel(x, CFG), rtol=0, atol=1e-5)
    k = [c.key for c in ds.clips]
    rows = cache.index([f"audio/{k[3]}.wav", k[1], f"x/{k[0]}"])
    np.testing.assert_array_equal(rows, [3, 1, 0])
    assert cache.features[rows].shape == (3, CFG.n_frames, CFG.n_mels)
    with pytest.raises(LabelSpaceError, match="not in the feature cache"):
        cache.index(["nope-a"])
    # opening the KEY folder directly works too; a folder with nothing finished does not
    assert open_cache(cache.path).names == cache.names
    with pytest.raises(ArtefactError):
        open_cache(tmp_path / "empty")


def test_changed_config_or_files_never_serve_stale(ds: DcaseDataset, tmp_path: Path) -> None:
    out = tmp_path / "out"
    a = compute_features(ds, out, CFG, progress=False)
    b = compute_features(ds, out, CFG.replace(n_mels=32), progress=False)
    assert a.key != b.key and b.features.shape[-1] == 32
    assert open_cache(out).key == b.key  # latest
    assert open_cache(out, CFG).key == a.key
    assert compute_features(ds, out, CFG, progress=False).key == a.key  # reused, not recomputed
    # rewrite one clip's audio: new key, new features for it, same for the others
    clip = ds.audio_path(ds.clips[2])
    x, sr = sf.read(clip)
    sf.write(clip, 0.5 * x[: sr // 2], sr)
    c = compute_features(ds, out, CFG, progress=False)
    assert c.key != a.key
    assert not np.array_equal(c.features[2], a.features[2])
    np.testing.assert_array_equal(c.features[3], a.features[3])


def test_resume_after_interruption_is_identical(
    ds: DcaseDataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    full = compute_features(ds, tmp_path / "full", CFG, progress=False, chunk_size=4)
    real = compute_mod.extract_chunk
    calls: list[int] = []
    interrupt = [True]

    def flaky(paths: list[str], cfg: FeatureConfig):  # type: ignore[no-untyped-def]
        calls.append(len(paths))
        if len(calls) == 3 and interrupt[0]:
            raise RuntimeError("simulated interruption")  # e.g. Ctrl-C or a kill in chunk 3
        return real(paths, cfg)

    monkeypatch.setattr(compute_mod, "extract_chunk", flaky)
    with pytest.raises(RuntimeError, match="simulated"):
        compute_features(ds, tmp_path / "out", CFG, progress=False, chunk_size=4)
    with pytest.raises(ArtefactError):
        open_cache(tmp_path / "out")  # unfinished: never served
    calls.clear()
    interrupt[0] = False
    resumed = compute_features(ds, tmp_path / "out", CFG, progress=False, chunk_size=4)
    assert sum(calls) == 24 - 8  # only the chunks not recorded as done were computed
    assert resumed.key == full.key
    assert not (resumed.path / PROGRESS).exists()
    np.testing.assert_array_equal(np.asarray(resumed.features), np.asarray(full.features))
    assert (resumed.path / resumed.file).read_bytes() == (full.path / full.file).read_bytes()


def test_bad_clip_stops_by_default_and_is_skipped_on_request(
    ds: DcaseDataset, tmp_path: Path
) -> None:
    bad = ds.clips[10]
    corrupt(ds.audio_path(bad))
    with pytest.raises(AudioError, match=bad.key):
        compute_features(ds, tmp_path / "out", CFG, progress=False, chunk_size=4)
    with pytest.raises(ArtefactError):
        open_cache(tmp_path / "out")
    cache = compute_features(ds, tmp_path / "out", CFG, progress=False, chunk_size=4, skip_bad=True)
    assert cache.bad_clips == [bad.filename]
    # the failed run computed every good clip and kept them: nothing left but the bad one
    assert cache.summary() == "23 reused, 0 computed, 1 bad"
    # a rerun reuses the bad clip's record too; it is counted as bad only, once
    again = compute_features(ds, tmp_path / "out", CFG, progress=False, skip_bad=True)
    assert (again.reused, again.summary()) == (24, "23 reused, 0 computed, 1 bad")
    assert bad.filename in (cache.path / BAD_CLIPS).read_text()
    assert not cache.features[10].any()  # kept as a zero row, so rows stay aligned with names
    with pytest.raises(LabelSpaceError, match="failed to decode"):
        cache.index([bad.filename])
    assert bad.filename not in cache.usable(cache.names) and len(cache.usable(cache.names)) == 23
    mean, _ = cache.norm_stats(cache.names)  # skips the bad row
    good = np.asarray(cache.features)[[i for i in range(24) if i != 10]]
    np.testing.assert_allclose(mean, good.mean(axis=(0, 1)), rtol=1e-5, atol=1e-5)


def test_norm_stats_use_training_clips_only(
    ds: DcaseDataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    train = [c.filename for c in ds.split("trainval")]
    test = [c.filename for c in ds.split("test")]
    cache = compute_features(ds, tmp_path / "a", CFG, progress=False)
    mean, std = cache.norm_stats(train)
    ref = np.asarray(cache.features)[cache.index(train)].reshape(-1, CFG.n_mels)
    np.testing.assert_allclose(mean, ref.mean(axis=0), rtol=1e-5, atol=1e-5)
    np.testing.assert_allclose(std, ref.std(axis=0), rtol=1e-4, atol=1e-5)
    assert not np.allclose(cache.norm_stats(test)[0], mean)
    # change a test clip's audio: the training statistics do not move
    shutil.copytree(ds.root, tmp_path / "ds2")
    x, sr = sf.read(tmp_path / "ds2" / test[0])
    sf.write(tmp_path / "ds2" / test[0], 0.01 * x, sr)
    other = compute_features(DcaseDataset(tmp_path / "ds2"), tmp_path / "b", CFG, progress=False)
    changed = other.index(test[:1])
    assert not np.array_equal(other.features[changed], cache.features[changed])
    np.testing.assert_array_equal(other.norm_stats(train)[0], mean)
    # stored and reused: a second call does not recompute
    monkeypatch.setattr("rgasc.features.cache.band_stats", lambda *a, **k: 1 / 0)
    np.testing.assert_array_equal(cache.norm_stats(list(reversed(train)))[1], std)
    z = normalize(np.asarray(cache.features[cache.index(train)]), mean, std)
    np.testing.assert_allclose(z.reshape(-1, CFG.n_mels).mean(axis=0), 0.0, atol=1e-4)


def test_workers_give_the_same_cache_and_npz_export(ds: DcaseDataset, tmp_path: Path) -> None:
    serial = compute_features(ds, tmp_path / "serial", CFG, progress=False)
    parallel = compute_features(ds, tmp_path / "par", CFG, workers=2, progress=False)
    np.testing.assert_array_equal(np.asarray(parallel.features), np.asarray(serial.features))
    npz = np.load(export_npz(parallel, tmp_path / "f.npz"))
    assert list(npz["names"]) == serial.names
    np.testing.assert_array_equal(npz["features"], np.asarray(serial.features))

"""The per-clip feature cache: reuse after a dataset change, content checks, clean-up,
interrupts, degenerate clips (truncated, too short)."""

from __future__ import annotations

import os
import shlex
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

import rgasc.features.compute as compute_mod
from helpers.dcase import make_dcase
from rgasc.data import DcaseDataset
from rgasc.errors import AudioError, AudioTooShortError, AudioTruncatedError, Interrupted
from rgasc.features import FeatureConfig, compute_features, open_cache
from rgasc.features.cache import PROGRESS

CFG = FeatureConfig(sample_rate=16000, n_fft=512, hop_length=256, fmax=8000.0, clip_seconds=1.0)


@pytest.fixture
def ds(tmp_path: Path) -> DcaseDataset:
    return DcaseDataset(make_dcase(tmp_path / "ds", sr=16000, channels=1))  # 24 clips of 1 s


def _rows(cache) -> dict[str, bytes]:  # type: ignore[no-untyped-def]
    return {n: np.asarray(cache.features[i]).tobytes() for i, n in enumerate(cache.names)}


def test_one_changed_clip_is_the_only_one_recomputed(ds: DcaseDataset, tmp_path: Path) -> None:
    out = tmp_path / "feat"
    a = compute_features(ds, out, CFG, progress=False)
    assert (a.reused, a.computed) == (0, 24)
    before = _rows(a)
    again = compute_features(ds, out, CFG, progress=False)
    assert (again.reused, again.computed) == (24, 0) and again.key == a.key

    changed = ds.clips[5]
    x, sr = sf.read(ds.audio_path(changed))
    sf.write(ds.audio_path(changed), 0.3 * x, sr)  # re-exported: new bytes, new mtime
    b = compute_features(ds, out, CFG, progress=False)
    assert (b.reused, b.computed) == (23, 1) and b.key != a.key
    after = _rows(b)
    assert after[changed.filename] != before[changed.filename]
    for name in before:
        if name != changed.filename:
            assert after[name] == before[name], name  # byte-equal, copied not recomputed
    # the superseded array is gone: one array, no partial state left behind
    assert [p.name for p in b.path.glob("features*.npy")] == [b.file]
    assert not (b.path / PROGRESS).exists() and open_cache(out).key == b.key
    assert b.stale({c.filename: ds.audio_path(c) for c in ds.clips}) == []


def test_a_clip_restored_to_the_same_size_and_mtime_is_not_served_stale(
    ds: DcaseDataset, tmp_path: Path
) -> None:
    a = compute_features(ds, tmp_path / "feat", CFG, progress=False)
    path = ds.audio_path(ds.clips[3])
    st = os.stat(path)
    x, sr = sf.read(path)
    sf.write(path, x[::-1].copy(), sr, subtype="PCM_24")  # same length, other samples
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert os.stat(path).st_size == st.st_size
    b = compute_features(ds, tmp_path / "feat", CFG, progress=False)
    assert (b.reused, b.computed) == (23, 1)
    assert not np.array_equal(a.features[3], b.features[3])


def test_unchanged_clips_are_reused_when_the_clip_list_changes(
    ds: DcaseDataset, tmp_path: Path
) -> None:
    a = compute_features(ds, tmp_path / "feat", CFG, progress=False)
    rows = _rows(a)
    meta = ds.root / "meta.csv"
    lines = meta.read_text().splitlines()
    meta.write_text("\n".join([lines[0], *lines[1:][::-1][:-2]]) + "\n")  # reordered, 2 dropped
    smaller = DcaseDataset(ds.root)
    b = compute_features(smaller, tmp_path / "feat", CFG, progress=False)
    assert (b.reused, b.computed) == (22, 0) and len(b) == 22
    assert all(_rows(b)[n] == rows[n] for n in b.names)


def test_ctrl_c_keeps_the_chunks_done_and_names_the_same_command(
    ds: DcaseDataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys
) -> None:
    from rgasc.cli import main

    real = compute_mod.extract_chunk
    calls: list[int] = []

    def interrupted(paths, cfg):  # type: ignore[no-untyped-def]
        calls.append(len(paths))
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(paths, cfg)

    monkeypatch.setattr(compute_mod, "extract_chunk", interrupted)
    out = tmp_path / "feat"
    args = [
        "features",
        "--dataset",
        str(ds.root),
        "--out",
        str(out),
        "--sample-rate",
        "16000",
        "--n-fft",
        "512",
        "--hop-length",
        "256",
        "--clip-seconds",
        "1",
        "--no-progress",
    ]
    with pytest.raises(SystemExit) as e:
        main(args)
    err = capsys.readouterr().err
    assert e.value.code == 130
    assert "stopped with 16 of 24 clips done" in err
    command = err.split("`")[-2]
    assert command == shlex.join(["rgasc", *args])
    monkeypatch.setattr(compute_mod, "extract_chunk", real)
    calls.clear()
    with pytest.raises(SystemExit) as e:  # the command as printed finishes the cache
        main(shlex.split(command)[1:])
    assert e.value.code in (0, None)
    out_text = capsys.readouterr().out
    assert "16 reused, 8 computed, 0 bad" in out_text
    calls.clear()
    monkeypatch.setattr(compute_mod, "extract_chunk", interrupted)
    with pytest.raises(Interrupted) as info:  # the library raises the typed error
        compute_features(ds, tmp_path / "other", CFG, progress=False)
    assert info.value.same_command


def test_truncated_and_very_short_clips_are_bad_clips(ds: DcaseDataset, tmp_path: Path) -> None:
    cut, short = ds.clips[2], ds.clips[7]
    blob = ds.audio_path(cut).read_bytes()
    ds.audio_path(cut).write_bytes(blob[: len(blob) // 2])  # header still promises 1 s
    x, sr = sf.read(ds.audio_path(short))
    sf.write(ds.audio_path(short), x[: int(0.1 * sr)], sr)  # 0.1 s: under 25 % of 1 s
    # both in one pass, one error (of their common class) naming both files
    with pytest.raises(AudioError, match="2 of 24 clips are bad: .*truncated.*too short") as e:
        compute_features(ds, tmp_path / "feat", CFG, progress=False)
    assert not isinstance(e.value, AudioTruncatedError | AudioTooShortError)
    cache = compute_features(ds, tmp_path / "feat", CFG, progress=False, skip_bad=True)
    assert cache.bad_clips == [cut.filename, short.filename]
    assert (cache.reused, cache.computed) == (22, 0)  # the failed run's good work was kept
    text = (cache.path / "bad_clips.csv").read_text()
    assert "truncated, it holds 50%" in text and "under 25% of the 1-s analysis window" in text
    _, errors, _ = compute_mod.extract_chunk([str(ds.audio_path(short))], CFG)
    assert errors[0][1] is AudioTooShortError
    # fixed clips are computed on the next run, the rest reused
    make_dcase(tmp_path / "fresh", sr=16000, channels=1)
    for c in (cut, short):
        ds.audio_path(c).write_bytes((tmp_path / "fresh" / c.filename).read_bytes())
    fixed = compute_features(ds, tmp_path / "feat", CFG, progress=False)
    assert (fixed.reused, fixed.computed, fixed.bad_clips) == (22, 2, [])

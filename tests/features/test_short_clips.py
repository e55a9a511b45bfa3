"""Clips shorter than the front-end's clip length are zero-padded: said once, with the fix."""

from __future__ import annotations

import warnings
from pathlib import Path

import pytest

from helpers.dcase import make_dcase
from rgasc.data import DcaseDataset
from rgasc.errors import RgascWarning
from rgasc.features import FeatureConfig, compute_features, open_cache
from rgasc.features.cache import short_clips

#: 1-s clips at 8 kHz: a 2.5-s front-end pads them (40 % real audio: not "too short").
CFG = FeatureConfig(sample_rate=8000, n_fft=256, hop_length=128, n_mels=32, clip_seconds=2.5)


@pytest.fixture
def ds(tmp_path: Path) -> DcaseDataset:
    return DcaseDataset(make_dcase(tmp_path / "ds", seconds=1.0, sr=8000, channels=1))


def _warnings(fn, *args, **kw) -> list[str]:  # noqa: ANN001, ANN002, ANN003
    with warnings.catch_warnings(record=True) as seen:
        warnings.simplefilter("always")
        fn(*args, **kw)
    return [str(w.message) for w in seen if issubclass(w.category, RgascWarning)]


def test_padded_clips_are_counted_once_with_the_fix(ds: DcaseDataset, tmp_path: Path) -> None:
    said = _warnings(compute_features, ds, tmp_path / "f", CFG, progress=False)
    assert len(said) == 1 and "\n" not in said[0]
    assert "24 of 24 clips are shorter than the 2.5-s clip length" in said[0]
    assert "--clip-seconds 1" in said[0]
    cache = open_cache(tmp_path / "f")
    assert set(short_clips(cache).values()) == {1.0}
    # a rerun reuses every row and still says so; a matching length says nothing
    assert len(_warnings(compute_features, ds, tmp_path / "f", CFG, progress=False)) == 1
    fit = CFG.replace(clip_seconds=1.0)
    assert _warnings(compute_features, ds, tmp_path / "g", fit, progress=False) == []
    # a length chosen on purpose (the CLI's --clip-seconds) is not warned about
    assert (
        _warnings(compute_features, ds, tmp_path / "h", CFG, progress=False, warn_short=False) == []
    )


def test_cli_warns_only_when_clip_seconds_is_not_given(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """4-s clips (TAU 2022's are 1 s) under the paper's 10-s front-end."""
    from rgasc.cli import main

    root = make_dcase(tmp_path / "ds4", seconds=4.0, sr=8000, channels=1, clips_per_location=1)
    base = ["features", "--dataset", str(root), "--no-progress", "--sample-rate", "8000"]
    base += ["--n-fft", "256", "--hop-length", "128", "--n-mels", "32"]
    for extra, warned in (([], True), (["--clip-seconds", "10"], False)):
        with pytest.raises(SystemExit) as done:
            main([*base, "--out", str(tmp_path / f"f{len(extra)}"), *extra])
        assert done.value.code in (0, None)
        err = capsys.readouterr().err
        lines = [ln for ln in err.splitlines() if ln.startswith("warning: ")]
        assert len(lines) == int(warned), err
        if warned:
            assert "12 of 12 clips are shorter than the 10-s clip length" in lines[0]
            assert "--clip-seconds 4 " in lines[0]

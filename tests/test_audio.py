"""rgasc.audio: formats, downmix, resampling, pad/crop, and one typed error per failure."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from rgasc.audio import fix_length, is_audio_file, load_audio, resample, to_mono
from rgasc.errors import (
    AudioCorruptError,
    AudioEmptyError,
    AudioError,
    AudioFormatError,
    AudioMissingError,
    AudioNonFiniteError,
    RgascError,
)

SR = 16000


def _stereo(seconds: float = 0.5, sr: int = SR) -> np.ndarray:
    """Two different tones on the two channels: (samples, 2) float32."""
    t = np.arange(int(seconds * sr)) / sr
    return np.stack([0.5 * np.sin(2 * np.pi * 440 * t), 0.3 * np.sin(2 * np.pi * 660 * t)], 1)


@pytest.mark.parametrize(
    ("ext", "subtype", "tol"), [("wav", "FLOAT", 1e-7), ("flac", "PCM_24", 1e-6)]
)
def test_lossless_formats_decode_to_channel_mean(
    tmp_path: Path, ext: str, subtype: str, tol: float
) -> None:
    x = _stereo()
    path = tmp_path / f"a.{ext}"
    sf.write(path, x, SR, subtype=subtype)
    y, sr = load_audio(path)
    assert sr == SR and y.dtype == np.float32 and y.shape == (x.shape[0],)
    np.testing.assert_allclose(y, x.mean(axis=1), atol=tol)


def test_ogg_vorbis_decodes(tmp_path: Path) -> None:
    x = _stereo(1.0)
    sf.write(tmp_path / "a.ogg", x, SR, format="OGG", subtype="VORBIS")
    y, sr = load_audio(tmp_path / "a.ogg")
    assert sr == SR and y.shape == (x.shape[0],)
    # Lossy: the waveform is close, not equal.
    ref = x.mean(axis=1)
    assert np.corrcoef(y, ref)[0, 1] > 0.95


def test_mp3_decodes_where_libsndfile_supports_it(tmp_path: Path) -> None:
    if "MP3" not in sf.available_formats():
        pytest.skip("this libsndfile has no MP3 support (needs libsndfile >= 1.1)")
    x = _stereo(1.0)
    try:
        sf.write(tmp_path / "a.mp3", x, SR, format="MP3")
    except (sf.LibsndfileError, TypeError, ValueError) as e:
        pytest.skip(f"libsndfile cannot write MP3 here: {e}")
    y, sr = load_audio(tmp_path / "a.mp3", duration=1.0)
    assert sr == SR and y.shape == (SR,)
    assert np.isfinite(y).all() and 0.05 < float(np.sqrt(np.mean(y**2))) < 0.5


def test_multichannel_downmix_is_the_mean(tmp_path: Path) -> None:
    levels = np.array([0.1, -0.2, 0.4, 0.3], dtype=np.float32)
    x = np.tile(levels, (800, 1))  # four channels of constant, different values
    sf.write(tmp_path / "quad.wav", x, SR, subtype="FLOAT")
    y, _ = load_audio(tmp_path / "quad.wav")
    np.testing.assert_allclose(y, np.full(800, levels.mean()), atol=1e-7)
    assert to_mono(x).shape == (800,)
    assert to_mono(y) is y  # mono input passes through


def test_resampling_keeps_frequency_and_sets_length(tmp_path: Path) -> None:
    sr_in, sr_out, secs = 48000, 16000, 1.0
    t = np.arange(int(sr_in * secs)) / sr_in
    sf.write(tmp_path / "tone.wav", 0.5 * np.sin(2 * np.pi * 1000 * t), sr_in, subtype="PCM_24")
    y, sr = load_audio(tmp_path / "tone.wav", sr=sr_out)
    assert sr == sr_out and y.shape == (sr_out,)
    spec = np.abs(np.fft.rfft(y * np.hanning(y.size)))
    peak_hz = np.fft.rfftfreq(y.size, 1.0 / sr_out)[np.argmax(spec)]
    assert abs(peak_hz - 1000) <= 1.0
    # The amplitude survives the filter (not attenuated, not doubled).
    assert 0.45 < float(np.max(np.abs(y[1000:-1000]))) < 0.55


def test_resample_identity_and_odd_rates() -> None:
    x = np.random.default_rng(0).standard_normal(44100).astype(np.float32)
    assert resample(x, 44100, 44100) is x
    y = resample(x, 44100, 32000)
    assert y.dtype == np.float32 and abs(y.size - 32000) <= 1


def test_duration_pads_and_crops(tmp_path: Path) -> None:
    x = np.full((SR // 2, 1), 0.25, dtype=np.float32)
    sf.write(tmp_path / "half.wav", x, SR, subtype="FLOAT")
    longer, _ = load_audio(tmp_path / "half.wav", duration=1.0)
    assert longer.shape == (SR,)
    assert np.all(longer[: SR // 2] == 0.25) and np.all(longer[SR // 2 :] == 0)
    shorter, _ = load_audio(tmp_path / "half.wav", duration=0.25)
    assert shorter.shape == (SR // 4,) and np.all(shorter == 0.25)
    # After resampling, the length follows the target rate.
    y, sr = load_audio(tmp_path / "half.wav", sr=8000, duration=1.0)
    assert sr == 8000 and y.shape == (8000,)


def test_fix_length_works_on_batches() -> None:
    x = np.ones((3, 5), dtype=np.float32)
    assert fix_length(x, 2).shape == (3, 2)
    padded = fix_length(x, 7)
    assert padded.shape == (3, 7) and padded[:, 5:].sum() == 0


def test_is_audio_file() -> None:
    assert is_audio_file("x/a.WAV") and is_audio_file("b.flac") and not is_audio_file("c.txt")


# --- errors: each a typed RgascError that names the file -------------------------------
def _assert_names_file(err: pytest.ExceptionInfo[AudioError], path: Path) -> None:
    assert str(path) in str(err.value)
    assert isinstance(err.value, RgascError)


def test_missing_file(tmp_path: Path) -> None:
    path = tmp_path / "nope.wav"
    with pytest.raises(AudioMissingError) as err:
        load_audio(path)
    _assert_names_file(err, path)
    assert isinstance(err.value, FileNotFoundError)


def test_corrupt_bytes(tmp_path: Path) -> None:
    path = tmp_path / "bad.wav"
    path.write_bytes(np.random.default_rng(0).bytes(4000))
    with pytest.raises(AudioCorruptError) as err:
        load_audio(path)
    _assert_names_file(err, path)


@pytest.mark.parametrize("kind", ["zero_frames", "zero_bytes"])
def test_empty_file(tmp_path: Path, kind: str) -> None:
    path = tmp_path / "empty.wav"
    if kind == "zero_frames":
        sf.write(path, np.zeros((0, 2), dtype=np.float32), SR)
    else:
        path.write_bytes(b"")
    with pytest.raises(AudioEmptyError) as err:
        load_audio(path)
    _assert_names_file(err, path)


@pytest.mark.parametrize("bad", [np.nan, np.inf])
def test_non_finite_samples(tmp_path: Path, bad: float) -> None:
    x = _stereo()
    x[100, 1] = bad
    path = tmp_path / "nan.wav"
    sf.write(path, x, SR, subtype="FLOAT")
    with pytest.raises(AudioNonFiniteError) as err:
        load_audio(path)
    _assert_names_file(err, path)


def test_unsupported_format(tmp_path: Path) -> None:
    path = tmp_path / "notes.txt"
    path.write_text("not audio at all\n")
    with pytest.raises(AudioFormatError) as err:
        load_audio(path)
    _assert_names_file(err, path)

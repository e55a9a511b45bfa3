"""The log-mel front-end: filterbank, a hand-checked tone, the reference recipe, frame counts."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from helpers.dcase import make_dcase
from rgasc.data import DcaseDataset
from rgasc.features import (
    HOP_LENGTH,
    N_FRAMES,
    FeatureConfig,
    LogMel,
    compute_features,
    logmel,
    mel_filterbank,
)

librosa = pytest.importorskip("librosa")
scipy_signal = pytest.importorskip("scipy.signal")

SR = 44100


def reference(x: np.ndarray, cfg: FeatureConfig = FeatureConfig()) -> np.ndarray:
    """The authors' recipe (PAPER.md "Features"): scipy magnitude spectrogram + librosa mel."""
    window = np.hamming(cfg.n_fft) if cfg.window == "hamming" else np.hanning(cfg.n_fft)
    _, _, spec = scipy_signal.spectrogram(
        x,
        window=window,
        nperseg=cfg.n_fft,
        noverlap=cfg.n_fft - cfg.hop_length,
        detrend=False,
        return_onesided=True,
        mode="magnitude",
    )
    fb = librosa.filters.mel(
        sr=cfg.sample_rate, n_fft=cfg.n_fft, n_mels=cfg.n_mels, fmin=cfg.fmin, fmax=cfg.fmax
    )
    return np.log(fb @ spec**cfg.power + cfg.log_offset).T


def noisy_tone(seconds: float, sr: int = SR, seed: int = 0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    x = 0.3 * np.sin(2 * np.pi * 440.0 * t) + 0.05 * rng.standard_normal(t.size)
    return x.astype(np.float32)


def test_constants_and_frame_count() -> None:
    cfg = FeatureConfig()
    assert HOP_LENGTH == 2048 - 672 == cfg.hop_length
    assert cfg.n_samples == 441000
    assert cfg.n_frames == N_FRAMES == (441000 - 672) // 1376 == 320
    assert FeatureConfig(clip_seconds=1.0).n_frames == (44100 - 672) // 1376


@pytest.mark.parametrize(
    "sr,n_fft,n_mels,fmin,fmax",
    [
        (44100, 2048, 64, 50.0, 22050.0),
        (32000, 1024, 128, 0.0, 16000.0),
        (16000, 512, 40, 20.0, 7600.0),
    ],
)
def test_mel_filterbank_matches_librosa(
    sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float
) -> None:
    ours = mel_filterbank(sr, n_fft, n_mels, fmin, fmax)
    ref = librosa.filters.mel(sr=sr, n_fft=n_fft, n_mels=n_mels, fmin=fmin, fmax=fmax)
    assert ours.shape == (n_mels, n_fft // 2 + 1)
    np.testing.assert_allclose(ours, ref, rtol=0, atol=1e-6)


@pytest.mark.parametrize("freq", [300.0, 1000.0, 6000.0])
def test_pure_tone_lands_in_its_band(freq: float) -> None:
    cfg = FeatureConfig(clip_seconds=1.0)
    t = np.arange(cfg.n_samples) / SR
    feats = logmel(np.sin(2 * np.pi * freq * t).astype(np.float32), cfg)
    # band centres from librosa, not from our own mel scale
    centres = librosa.mel_frequencies(cfg.n_mels + 2, fmin=cfg.fmin, fmax=cfg.fmax)[1:-1]
    assert int(feats.mean(axis=0).argmax()) == int(np.abs(centres - freq).argmin())


@pytest.mark.parametrize(
    "cfg",
    [FeatureConfig(), FeatureConfig(power=2.0), FeatureConfig(n_mels=128, window="hann")],
    ids=["paper", "power", "hann128"],
)
def test_equal_to_reference_recipe(cfg: FeatureConfig) -> None:
    x = noisy_tone(cfg.clip_seconds)
    ref = reference(x, cfg)
    ours = logmel(x, cfg)
    batched = LogMel(cfg)(torch.from_numpy(np.stack([x, x[::-1].copy()])))
    assert ours.shape == ref.shape == (cfg.n_frames, cfg.n_mels) and ours.dtype == np.float32
    assert np.abs(ours - ref).max() < 1e-3
    assert batched.shape == (2, cfg.n_frames, cfg.n_mels)
    assert np.abs(batched[0].numpy() - ref).max() < 1e-3
    assert np.abs(batched[1].numpy() - reference(x[::-1].copy(), cfg)).max() < 1e-3


def test_crop_and_pad_at_the_end() -> None:
    cfg = FeatureConfig(clip_seconds=1.0)
    x = noisy_tone(1.5)
    np.testing.assert_array_equal(logmel(x, cfg), logmel(x[: cfg.n_samples], cfg))
    short = x[: cfg.n_samples // 2]
    padded = np.concatenate([short, np.zeros(cfg.n_samples - short.size, np.float32)])
    np.testing.assert_array_equal(logmel(short, cfg), logmel(padded, cfg))
    module = LogMel(cfg)
    np.testing.assert_allclose(
        module(torch.from_numpy(short))[0].numpy(), logmel(padded, cfg), atol=1e-4
    )
    # the silent padded tail is log(offset)
    assert np.allclose(logmel(short, cfg)[-3:], np.log(cfg.log_offset), atol=1e-3)


def test_config_is_validated_and_round_trips() -> None:
    with pytest.raises(ValueError, match="fmax"):
        FeatureConfig(sample_rate=32000, fmax=22050.0)  # above Nyquist
    assert FeatureConfig(sample_rate=32000).fmax == 16000.0  # no fmax: up to Nyquist
    with pytest.raises(ValueError, match="window"):
        FeatureConfig(window="blackman")
    cfg = FeatureConfig(sample_rate=32000, n_mels=128, fmax=16000.0)
    assert FeatureConfig.from_dict(cfg.to_dict()) == cfg
    assert cfg.digest() != FeatureConfig().digest()


@pytest.mark.parametrize("sr", [48000, 44100])
def test_ten_seconds_give_320_frames(tmp_path: Path, sr: int) -> None:
    root = make_dcase(
        tmp_path / "ds",
        scenes=("bus",),
        cities=("lyon",),
        locations_per_city=1,
        clips_per_location=1,
        seconds=10.0,
        sr=sr,
    )
    cache = compute_features(DcaseDataset(root), tmp_path / "out", progress=False)
    assert cache.features.shape == (1, 320, 64)
    assert np.isfinite(cache.features[0]).all()

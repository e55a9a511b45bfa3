"""rgasc.inference.predict: windows, resampling, padding, aggregation, evidence, files, the CLI."""

from __future__ import annotations

import pickle
import sys
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
import torch

import rgasc
from helpers.checkpoints import EVENTS, RELATION, SCENES, TINY_FEATURES, make_run, tone, write_wav
from helpers.scene_head import randomise_scene_head
from rgasc.audio import fix_length, resample
from rgasc.errors import ArtefactError, AudioError, RgascError
from rgasc.features import logmel, normalize
from rgasc.inference.predict import Predictor, make_prediction, window_starts

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # random scene head: an untrained one says "uniform" for every window (see the helper)
    return randomise_scene_head(make_run(tmp_path_factory.mktemp("h8run")))


@pytest.fixture(scope="module")
def predictor(run: Path) -> Predictor:
    return rgasc.load_model(run, top_k=3)


# --- windows -----------------------------------------------------------------------------------
@pytest.mark.parametrize(
    ("seconds", "expected"),
    [
        (3.5, [0.0, 0.5, 1.0, 1.5, 2.0, 2.5]),  # the last window ends exactly at 3.5 s
        (3.7, [0.0, 0.5, 1.0, 1.5, 2.0, 2.5, 2.7]),  # extra window aligned to the end
        (1.0, [0.0]),
        (0.4, [0.0]),
    ],
)
def test_window_starts(seconds: float, expected: list[float]) -> None:
    sr = 1000
    starts = window_starts(int(seconds * sr), window=sr, hop=sr // 2)
    np.testing.assert_array_equal(starts, (np.array(expected) * sr).astype(int))


def test_long_file_windows_and_mean_aggregation(predictor: Predictor, tmp_path: Path) -> None:
    p = rgasc.load_model(predictor.info.path, window=1.0, hop=0.5, top_k=3)
    f = write_wav(tmp_path / "long.wav", 3.5, 22050, channels=2)
    pred = p.predict_file(f)
    assert len(pred.timeline) == 6
    assert [g.start for g in pred.timeline] == pytest.approx([0, 0.5, 1, 1.5, 2, 2.5])
    assert pred.timeline[-1].end == pytest.approx(3.5) and pred.duration == pytest.approx(3.5)
    window_probs = np.stack([g.probs for g in pred.timeline])
    # the windows really differ, so the mean is a real check
    assert np.ptp(window_probs, axis=0).max() > 1e-4
    np.testing.assert_allclose(pred.scene_probs, window_probs.mean(0), atol=1e-6)
    assert pred.scene_probs.sum() == pytest.approx(1.0, abs=1e-5)
    # event probabilities: the mean of the windows' too, computed independently here
    x = rgasc.inference.predict.prepare_waveform(sf.read(f)[0], 22050, 16000)
    windows = np.stack([x[s : s + 16000] for s in window_starts(len(x), 16000, 8000)])
    s_w, e_w = p.predict_windows(windows)
    np.testing.assert_allclose(pred.event_probs, e_w.mean(0), atol=1e-5)
    np.testing.assert_allclose(window_probs, s_w, atol=1e-5)


@pytest.mark.parametrize(("sr", "channels"), [(8000, 1), (44100, 2), (48000, 3)])
def test_any_rate_and_channels_is_resampled(
    predictor: Predictor, tmp_path: Path, sr: int, channels: int
) -> None:
    x = tone(1.0, sr, channels)
    f = tmp_path / f"a_{sr}_{channels}.wav"
    sf.write(f, x, sr, subtype="FLOAT")
    pred = predictor.predict_file(f)
    mono = x if channels == 1 else x.mean(axis=1)
    ref = predictor.predict_waveform(resample(mono, sr, 16000), 16000)
    np.testing.assert_allclose(pred.scene_probs, ref.scene_probs, atol=1e-5)
    np.testing.assert_allclose(pred.event_probs, ref.event_probs, atol=1e-5)
    assert pred.file == str(f) and pred.duration == pytest.approx(1.0, abs=1e-3)


def test_channels_first_tensor_input(predictor: Predictor) -> None:
    x = tone(1.0, 16000, channels=2)
    a = predictor.predict_waveform(x, 16000)
    b = predictor.predict_waveform(torch.from_numpy(x.T.copy()), 16000)  # (channels, samples)
    np.testing.assert_allclose(a.scene_probs, b.scene_probs, atol=1e-6)


def test_short_clip_is_zero_padded_like_training(predictor: Predictor) -> None:
    x = tone(0.4, 16000)
    pred = predictor.predict_waveform(x, 16000)
    assert len(pred.timeline) == 1 and pred.timeline[0].end == pytest.approx(0.4)
    padded = predictor.predict_waveform(fix_length(x, 16000), 16000)
    np.testing.assert_allclose(pred.scene_probs, padded.scene_probs, atol=1e-6)
    # the features are the training front-end (numpy logmel, pads the end) + normalisation
    feats = predictor.features(torch.from_numpy(x[None]))[0].numpy()
    ref = normalize(logmel(x, TINY_FEATURES), predictor.info.norm_mean, predictor.info.norm_std)
    np.testing.assert_allclose(feats, ref, atol=2e-3)


def test_window_too_short_is_a_clear_error(run: Path) -> None:
    with pytest.raises(RgascError, match="window"):
        rgasc.load_model(run, window=0.3)


# --- evidence ------------------------------------------------------------------------------------
def test_evidence_ranks_planted_event_not_just_most_probable(predictor: Predictor) -> None:
    # park (row 2): Bird has R 0.9, Speech 0.1. Speech is the most probable event, but Bird
    # carries most of the evidence for park.
    events = np.array([[0.95, 0.1, 0.6, 0.1, 0.3]], np.float32)  # evidence: .095 .54 .18
    scene = np.array([[0.1, 0.2, 0.7]], np.float32)
    pred = make_prediction(
        scene,
        events,
        np.zeros(1, np.int64),
        window=16000,
        n_samples=16000,
        sample_rate=16000,
        info=predictor.info,
        top_k=3,
    )
    assert pred.scene == "park"
    assert pred.top_events[0][0] == "Speech"
    assert pred.evidence[0] == ("Bird", pytest.approx(0.6 * 0.9))
    assert [e for e, _ in pred.evidence] == ["Bird", "Wind", "Speech"]


def test_evidence_end_to_end_with_forced_event_output(
    predictor: Predictor, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = rgasc.load_model(predictor.info.path, top_k=2)
    orig = p.forward

    def forced(feats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        s, _ = orig(feats)
        e = torch.full((feats.shape[0], len(EVENTS)), 0.05)
        e[:, 3] = 0.99  # Music: R is > 0 in every scene, so it must lead the evidence
        return s, e

    monkeypatch.setattr(p, "forward", forced)
    pred = p.predict_waveform(tone(2.5, 16000), 16000)
    assert pred.evidence[0][0] == "Music"
    assert pred.evidence[0][1] == pytest.approx(0.99 * RELATION[pred.scene_index, 3], rel=1e-5)
    assert pred.scenes == SCENES


# --- files -------------------------------------------------------------------------------------
def test_predict_files_batches_across_files(predictor: Predictor, tmp_path: Path) -> None:
    files = [
        write_wav(tmp_path / f"f{i}.wav", s, 16000, seed=i)
        for i, s in enumerate([1.0, 0.5, 2.2, 1.0])
    ]
    single = [predictor.predict_file(f) for f in files]
    batched = list(predictor.predict_files(files, batch_size=3))
    assert [b.file for b in batched] == [str(f) for f in files]
    for a, b in zip(single, batched, strict=True):
        np.testing.assert_allclose(a.scene_probs, b.scene_probs, atol=1e-5)
        assert len(a.timeline) == len(b.timeline)


def test_bad_files_both_ways(predictor: Predictor, tmp_path: Path) -> None:
    good = write_wav(tmp_path / "good.wav", 1.0, 16000)
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF not really a wav")
    it = predictor.predict_files([good, bad, good])
    assert next(it).file == str(good)  # work done before the bad file still comes out
    with pytest.raises(AudioError, match="bad.wav"):
        next(it)
    seen: list[str] = []
    out = list(
        predictor.predict_files(
            [good, bad, good], skip_bad=True, on_bad=lambda f, e: seen.append(f)
        )
    )
    assert len(out) == 2 and seen == [str(bad)]


def test_find_audio_recurses_and_filters(tmp_path: Path) -> None:
    from rgasc.inference.formats import find_audio

    a = write_wav(tmp_path / "d" / "x" / "b.wav", 0.2, 8000)
    b = write_wav(tmp_path / "d" / "a.wav", 0.2, 8000)
    (tmp_path / "d" / "notes.txt").write_text("hi")
    assert find_audio([tmp_path / "d", b]) == [b, a]
    (tmp_path / "empty").mkdir()
    with pytest.raises(RgascError, match="no audio"):
        find_audio([tmp_path / "empty"])


# --- checkpoints ---------------------------------------------------------------------------------
def test_checkpoint_is_weights_only_and_foreign_pickles_are_refused(
    run: Path, tmp_path: Path
) -> None:
    payload = torch.load(run / "checkpoints" / "best.pt", weights_only=True)
    assert payload["scenes"] == SCENES
    evil = tmp_path / "evil.pt"
    # a pickle that would run code on a full load; weights_only refuses it
    evil.write_bytes(pickle.dumps(_Boom(), protocol=2))
    with pytest.raises(ArtefactError, match="not an rgasc model checkpoint"):
        rgasc.load_model(evil)


class _Boom:
    def __reduce__(self) -> tuple[object, tuple[str]]:
        return (sys.exit, ("pickle code ran",))


def test_import_rgasc_is_light() -> None:
    import subprocess

    code = "import sys, rgasc; assert 'torch' not in sys.modules; print(rgasc.__all__)"
    res = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert res.returncode == 0, res.stderr
    assert "load_model" in res.stdout

"""Streamed prediction (issue 24, item 1): files are read a window's frames at a time and cut
into windows as they arrive, with the probabilities of the whole-file path."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
import torch

import rgasc
from helpers.checkpoints import make_run, write_wav
from helpers.scene_head import randomise_scene_head
from rgasc.audio import load_audio, stream_audio
from rgasc.errors import AudioCorruptError, AudioEmptyError, AudioMissingError, AudioTruncatedError
from rgasc.inference.windows import Windower, cut_windows, window_starts

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return randomise_scene_head(make_run(tmp_path_factory.mktemp("stream_run")))


def _windowed(x: np.ndarray, window: int, hop: int, sizes: list[int]) -> list[Any]:
    w = Windower(window, hop)
    out, i, k = [], 0, 0
    while i < len(x):
        n = sizes[k % len(sizes)]
        out += w.push(x[i : i + n])
        i, k = i + n, k + 1
    out += w.finish()
    assert w.n_samples == len(x)
    return out


@pytest.mark.parametrize("n", [1, 40, 100, 101, 149, 150, 350, 377, 1000])
@pytest.mark.parametrize(("window", "hop"), [(100, 50), (100, 100), (100, 30), (100, 130)])
def test_windower_equals_cutting_the_whole_recording(n: int, window: int, hop: int) -> None:
    x = np.random.default_rng(n).standard_normal(n).astype(np.float32)
    want_starts = window_starts(n, window, hop)
    want = cut_windows(x, want_starts, window)
    for sizes in ([n], [1], [7, 93, 31], [window], [3 * window]):
        got = _windowed(x, window, hop, sizes)
        assert [s for s, _ in got] == want_starts.tolist(), sizes
        np.testing.assert_array_equal(np.stack([w for _, w in got]), want)


def test_windower_keeps_at_most_a_window_and_a_chunk() -> None:
    w = Windower(100, 50)
    for _ in range(50):
        w.push(np.ones(64, np.float32))
        assert len(w._buf) <= 100 + 64
    assert w.n_samples == 3200 and w.finish() == []  # 3200 = 63 hops + a window: no extra


@pytest.fixture(scope="module")
def long_file(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """7.3 s of 48-kHz stereo: windows of 1 s at 0, 0.5, ... 6 s and one ending at 7.3 s."""
    return write_wav(tmp_path_factory.mktemp("long") / "long.wav", 7.3, 48000, channels=2)


def test_stream_audio_gives_the_samples_of_load_audio(long_file: Path, tmp_path: Path) -> None:
    whole = load_audio(long_file, sr=16000)[0]
    chunks = list(stream_audio(long_file, 16000, block_seconds=1.0))
    assert len(chunks) > 5
    np.testing.assert_array_equal(np.concatenate(chunks), whole)  # bit for bit
    same_rate = write_wav(tmp_path / "a.wav", 2.2, 16000)
    got = np.concatenate(list(stream_audio(same_rate, 16000, 0.5)))
    np.testing.assert_array_equal(got, load_audio(same_rate)[0])


def test_stream_audio_raises_the_errors_of_load_audio(long_file: Path, tmp_path: Path) -> None:
    cut = tmp_path / "cut.wav"
    cut.write_bytes(long_file.read_bytes()[: long_file.stat().st_size // 2])
    empty = tmp_path / "empty.wav"
    empty.write_bytes(b"")
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF not really a wav")
    silent = tmp_path / "none.wav"
    sf.write(silent, np.zeros(0, np.float32), 16000)
    cases = [
        (tmp_path / "missing.wav", AudioMissingError),
        (cut, AudioTruncatedError),
        (empty, AudioEmptyError),
        (bad, AudioCorruptError),
        (silent, AudioEmptyError),
    ]
    for path, err in cases:
        with pytest.raises(err, match=path.name):
            load_audio(path, sr=16000)
        with pytest.raises(err, match=path.name):
            list(stream_audio(path, 16000, 1.0))


def test_streamed_prediction_equals_the_whole_file_path(run: Path, long_file: Path) -> None:
    p = rgasc.load_model(run, window=1.0, hop=0.5, top_k=3)
    streamed = p.predict_file(long_file)
    x, sr = load_audio(long_file)  # the whole file in memory, at its own rate
    whole = p.predict_waveform(x, sr)
    assert len(streamed.timeline) == len(whole.timeline) == 14
    assert [g.start for g in streamed.timeline] == [g.start for g in whole.timeline]
    assert streamed.duration == whole.duration == pytest.approx(7.3)
    window_probs = np.stack([g.probs for g in streamed.timeline])
    assert np.ptp(window_probs, axis=0).max() > 1e-3  # the windows differ: a real comparison
    np.testing.assert_allclose(window_probs, np.stack([g.probs for g in whole.timeline]), atol=1e-5)
    np.testing.assert_allclose(streamed.scene_probs, whole.scene_probs, atol=1e-5)
    np.testing.assert_allclose(streamed.event_probs, whole.event_probs, atol=1e-5)
    assert streamed.top_events[0][0] == whole.top_events[0][0]


def test_the_reader_never_asks_for_more_than_a_window(
    run: Path, long_file: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[int] = []
    read = sf.SoundFile.read

    def spy(self: sf.SoundFile, frames: int = -1, *args: Any, **kwargs: Any) -> Any:
        asked.append(frames)
        return read(self, frames, *args, **kwargs)

    monkeypatch.setattr(sf.SoundFile, "read", spy)
    p = rgasc.load_model(run, window=1.0, hop=0.5, batch_size=4)
    preds = list(p.predict_files([long_file, long_file]))
    assert len(preds) == 2 and len(asked) > 14  # block by block, not the whole file at once
    assert all(0 < n <= 48000 for n in asked), sorted(set(asked))  # 1-s window at 48 kHz
    np.testing.assert_allclose(preds[0].scene_probs, preds[1].scene_probs, atol=1e-6)

"""The listening copies: mono, 16 kHz, cut to the model's clip, named by what made them."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from helpers.checkpoints import write_wav
from rgasc.errors import ConfigError
from rgasc.report.audio import (
    AUDIO_RATE,
    audio_name,
    copy_clips,
    listening_copy,
    remove_unused,
    write_copy,
)


@pytest.mark.parametrize("fmt, container", [("ogg", "OGG"), ("flac", "FLAC"), ("wav", "WAV")])
def test_write_copy(tmp_path: Path, fmt: str, container: str) -> None:
    src = write_wav(tmp_path / "in.wav", 2.5, 44100, channels=2)
    out = write_copy(src, tmp_path / f"out.{fmt}", fmt, seconds=1.0)
    info = sf.info(str(out))
    assert (info.format, info.samplerate, info.channels) == (container, AUDIO_RATE, 1)
    assert info.frames == AUDIO_RATE
    if fmt == "ogg":  # compressed: well under the 16-bit PCM size
        assert out.stat().st_size < 0.5 * 2 * AUDIO_RATE


def test_listening_copy_scales_only_above_full_scale() -> None:
    x = np.array([0.5, -2.0, 1.0], dtype=np.float32)
    np.testing.assert_allclose(listening_copy(x, 1), [0.25, -1.0, 0.5])
    quiet = np.array([0.1, -0.2, 0.3], dtype=np.float32)
    np.testing.assert_allclose(listening_copy(quiet, 1, seconds=2), [0.1, -0.2])


def test_audio_name_depends_on_clip_and_settings() -> None:
    a = audio_name("audio/x.wav")
    assert a.endswith(".ogg") and a == audio_name("audio/x.wav")
    others = {
        audio_name("audio/y.wav"),
        audio_name("audio/x.wav", "flac"),
        audio_name("audio/x.wav", seconds=1.0),
    }
    assert a not in others and len(others) == 3
    assert all(c.isalnum() or c == "." for c in audio_name('a/<b> & "c".wav'))


def test_copy_clips_goes_on_past_a_bad_clip(tmp_path: Path) -> None:
    good = write_wav(tmp_path / "good.wav", 0.5, 16000)
    bad = tmp_path / "bad.wav"
    bad.write_bytes(b"RIFF not audio")
    lines: list[str] = []
    done = copy_clips(
        {"good": good, "bad": bad, "gone": tmp_path / "gone.wav"}, tmp_path / "a", log=lines.append
    )
    assert list(done) == ["good"] and (tmp_path / "a" / done["good"]).is_file()
    assert len(lines) == 1 and lines[0].startswith("2 clip(s) have no audio player")
    # an earlier build's copies that the page no longer links are removed
    (tmp_path / "a" / "stale.ogg").write_bytes(b"x")
    assert remove_unused(tmp_path / "a", set(done.values())) == 1
    assert sorted(p.name for p in (tmp_path / "a").iterdir()) == [done["good"]]


def test_unknown_format(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match="mp3"):
        write_copy(tmp_path / "x.wav", tmp_path / "x.mp3", "mp3")

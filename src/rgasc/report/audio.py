"""Small listening copies of clips for the page's ``<audio>`` players.

A copy is mono, resampled to :data:`AUDIO_RATE`, cut to the length the model heard, and
compressed (OGG Vorbis by default: about a tenth of 16-bit PCM). Its file name is a hash of the
clip name and of what made it (rate, length, format), so odd characters in clip names never
reach a URL and a rebuild with other settings never serves a stale copy. Decoding goes through
:func:`rgasc.audio.load_audio`, the one audio reader of the package.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping
from pathlib import Path

import numpy as np
import soundfile as sf

from rgasc.audio import load_audio
from rgasc.errors import AudioError, ConfigError
from rgasc.utils import atomic_path, text_hash

#: Listening rate: scenes stay recognisable, and a 10-s clip is ~20 kB as OGG Vorbis.
AUDIO_RATE = 16000
#: ``--audio-format`` -> libsndfile (format, subtype). FLAC and WAV for browsers without OGG.
AUDIO_FORMATS = {
    "ogg": ("OGG", "VORBIS"),
    "flac": ("FLAC", "PCM_16"),
    "wav": ("WAV", "PCM_16"),
}


def audio_name(clip: str, fmt: str = "ogg", seconds: float | None = None) -> str:
    """The copy's file name: a hash of the clip name and the copy's settings, plus the suffix."""
    return f"{text_hash(clip, str(AUDIO_RATE), str(seconds), fmt)}.{fmt}"


def listening_copy(x: np.ndarray, sr: int, seconds: float | None = None) -> np.ndarray:
    """A mono waveform cut to ``seconds`` and scaled into [-1, 1] only when it exceeds it
    (resampling can overshoot full scale; the encoder would clip it)."""
    if seconds is not None:
        x = x[: int(round(seconds * sr))]
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    return (x / peak if peak > 1.0 else x).astype(np.float32)


def write_copy(src: Path, dest: Path, fmt: str = "ogg", seconds: float | None = None) -> Path:
    """Write the listening copy of ``src`` to ``dest`` (atomically).

    Raises:
        ConfigError: an unknown format. AudioError: the clip cannot be read (names the file).
    """
    if fmt not in AUDIO_FORMATS:
        raise ConfigError(f"audio format {fmt!r}: use one of {', '.join(AUDIO_FORMATS)}")
    x, sr = load_audio(src, sr=AUDIO_RATE)
    container, subtype = AUDIO_FORMATS[fmt]
    with atomic_path(dest) as tmp:
        sf.write(tmp, listening_copy(x, sr, seconds), sr, format=container, subtype=subtype)
    return dest


def copy_clips(
    sources: Mapping[str, Path],
    folder: Path,
    fmt: str = "ogg",
    seconds: float | None = None,
    *,
    progress: bool = False,
    log: Callable[[str], None] = print,
) -> dict[str, str]:
    """Listening copies of the clips into ``folder``; copies already there are kept.

    Args:
        sources: clip name -> its audio file.

    Returns:
        clip name -> the copy's file name in ``folder``, for the clips that could be read (the
        others are named in one log line).
    """
    from tqdm import tqdm

    folder.mkdir(parents=True, exist_ok=True)
    done: dict[str, str] = {}
    failed: list[str] = []
    for clip, src in tqdm(sources.items(), desc="audio copies", disable=not progress):
        name = audio_name(clip, fmt, seconds)
        try:
            if not (folder / name).is_file():
                write_copy(src, folder / name, fmt, seconds)
            done[clip] = name
        except AudioError as e:
            failed.append(str(e))
    if failed:
        log(f"{len(failed)} clip(s) have no audio player, e.g. {failed[0]}")
    return done


def remove_unused(folder: Path, keep: set[str]) -> int:
    """Delete the copies in ``folder`` that the page no longer links (an earlier build's)."""
    removed = 0
    if folder.is_dir():
        for p in folder.iterdir():
            if p.is_file() and p.name not in keep and p.suffix.lstrip(".") in AUDIO_FORMATS:
                os.remove(p)
                removed += 1
    return removed

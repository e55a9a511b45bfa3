"""The one way rgasc reads audio: decode, downmix, resample, pad/crop, degenerate clips.

Every stage (features, tagging, prediction) goes through :func:`load_audio`, so the
same file always yields the same waveform, and every failure is a typed error that
names the file.

Degenerate audio, decided here once for every stage:

- *truncated*: the file holds less than :data:`MIN_COMPLETE_FRACTION` of the audio its
  header promises (a wav cut short in a copy: libsndfile returns the frames it has, so it
  would otherwise pass). :func:`load_audio` raises :class:`AudioTruncatedError`.
- *too short*: fewer samples than :data:`MIN_CLIP_FRACTION` (25 %) of the analysis window
  (the features' clip length, the dataset's clip length when tagging, predict's window):
  almost all of what the model sees would be zero padding. Batch stages treat such a clip as
  bad (:func:`check_duration` raises :class:`AudioTooShortError`; ``--skip-bad`` records and
  skips it); ``predict`` classifies it but marks the result (:func:`short_warning`).
"""

from __future__ import annotations

import os
import re
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import soundfile as sf
import soxr

from rgasc.errors import (
    AudioCorruptError,
    AudioEmptyError,
    AudioError,
    AudioFormatError,
    AudioMissingError,
    AudioNonFiniteError,
    AudioTooShortError,
    AudioTruncatedError,
)

#: A clip with fewer samples than this share of the analysis window is degenerate.
MIN_CLIP_FRACTION = 0.25
#: A file that decodes to less than this share of its header's promise is truncated.
MIN_COMPLETE_FRACTION = 0.99
# libsndfile's log of a WAV/AIFF whose data chunk is cut short: "data : 192000 (should be 95978)"
_SHORT_CHUNK = re.compile(r"^\s*(?:data|SSND)\s*:\s*(\d+)\s*\(should be (\d+)\)", re.MULTILINE)

# What libsndfile decodes. mp3 only where the installed libsndfile is >= 1.1.
AUDIO_EXTENSIONS = (".wav", ".flac", ".ogg", ".oga", ".opus", ".mp3", ".aif", ".aiff", ".au")


def is_audio_file(path: str | os.PathLike[str]) -> bool:
    return Path(path).suffix.lower() in AUDIO_EXTENSIONS


# libsndfile's name for the container of each extension (see soundfile.available_formats()).
_SNDFILE_FORMAT = {
    ".wav": "WAV",
    ".flac": "FLAC",
    ".ogg": "OGG",
    ".oga": "OGG",
    ".opus": "OGG",
    ".mp3": "MP3",
    ".aif": "AIFF",
    ".aiff": "AIFF",
    ".au": "AU",
}


def _decodable_extension(path: Path) -> bool:
    """True when the installed libsndfile can decode files with this extension."""
    fmt = _SNDFILE_FORMAT.get(path.suffix.lower())
    return fmt is not None and fmt in sf.available_formats()


def to_mono(x: np.ndarray) -> np.ndarray:
    """(samples,) or (samples, channels) -> (samples,), channels averaged."""
    if x.ndim == 1:
        return x
    if x.shape[1] > 7 or x.dtype.kind != "f":
        return x.mean(axis=1)
    # Same bits as x.mean(axis=1) (numpy adds < 8 items in order, then divides) but ~40x
    # faster: numpy's reduction over a short inner axis costs 9 ms per 10 s of 48 kHz stereo,
    # more than decoding or resampling the clip.
    acc = x[:, 0].copy()
    for c in range(1, x.shape[1]):
        acc += x[:, c]
    acc /= x.dtype.type(x.shape[1])
    return acc


def resample(x: np.ndarray, sr_in: int, sr_out: int) -> np.ndarray:
    """Resample a mono float waveform with soxr's high-quality filter."""
    if sr_in == sr_out:
        return x
    return soxr.resample(x, sr_in, sr_out, quality="HQ").astype(np.float32, copy=False)


def fix_length(x: np.ndarray, n: int) -> np.ndarray:
    """Crop the end or zero-pad the end to exactly ``n`` samples (last axis)."""
    if x.shape[-1] >= n:
        return x[..., :n]
    pad = [(0, 0)] * (x.ndim - 1) + [(0, n - x.shape[-1])]
    return np.pad(x, pad)


def load_audio(
    path: str | os.PathLike[str],
    sr: int | None = None,
    duration: float | None = None,
) -> tuple[np.ndarray, int]:
    """Read a file as a mono float32 waveform.

    Args:
        path: any file libsndfile decodes (wav, flac, ogg; mp3 with libsndfile >= 1.1).
        sr: target sample rate; ``None`` keeps the file's rate.
        duration: seconds; crop or zero-pad the end to exactly ``round(duration * sr)``.

    Returns:
        (waveform of shape (samples,), sample rate).

    Raises:
        AudioMissingError, AudioFormatError, AudioCorruptError, AudioEmptyError,
        AudioNonFiniteError: each naming the file.
    """
    path = Path(path)
    if not path.is_file():
        raise AudioMissingError(f"{path}: no such audio file")
    try:
        with sf.SoundFile(path) as f:
            file_sr = f.samplerate
            x = f.read(dtype="float32", always_2d=False)
            log = f.extra_info
    except (sf.LibsndfileError, RuntimeError, ValueError, EOFError) as e:
        raise _decode_error(path, e) from e
    if x.size == 0:
        raise AudioEmptyError(f"{path}: the file holds no samples")
    _check_complete(path, log)
    x = to_mono(np.asarray(x, dtype=np.float32))
    if not np.isfinite(x).all():
        raise AudioNonFiniteError(f"{path}: the audio contains NaN or infinite samples")
    out_sr = int(file_sr)
    if sr is not None and sr != out_sr:
        x = resample(x, out_sr, sr)
        out_sr = sr
    if duration is not None:
        x = fix_length(x, int(round(duration * out_sr)))
    return np.ascontiguousarray(x, dtype=np.float32), out_sr


def _decode_error(path: Path, e: Exception) -> AudioError:
    """The typed error, naming the file, of a decoding failure (at open or while reading)."""
    if not isinstance(e, sf.LibsndfileError):
        return AudioCorruptError(f"{path}: cannot decode ({e}); the file may be corrupt")
    msg = str(e)
    if path.stat().st_size == 0:
        return AudioEmptyError(f"{path}: the file is empty (0 bytes); re-export or re-download it")
    # An audio extension libsndfile can decode means the bytes are bad, not the format.
    if not _decodable_extension(path):
        return AudioFormatError(
            f"{path}: unsupported audio format ({msg}); convert it to wav or flac"
        )
    return AudioCorruptError(
        f"{path}: cannot decode ({msg}); the file may be corrupt "
        "or cut short, re-download or re-export it"
    )


def stream_audio(
    path: str | os.PathLike[str], sr: int, block_seconds: float
) -> Iterator[np.ndarray]:
    """A file as consecutive mono float32 chunks at ``sr``, decoded block by block.

    The same samples as ``load_audio(path, sr=sr)[0]`` cut in pieces (the downmix is per
    sample; soxr's streaming resampler with the same HQ filter gives the one-shot result), and
    the same typed errors, but never the whole file in memory: libsndfile is asked for at most
    ``block_seconds`` of frames at a time, so what one step holds is one decoded block
    (``block_seconds x file rate x channels x 4`` bytes) and its resampled chunk, whatever
    the file's length.

    Raises:
        AudioMissingError, AudioFormatError, AudioCorruptError (AudioTruncatedError),
        AudioEmptyError, AudioNonFiniteError: each naming the file. A file that goes bad
        after its first blocks raises when the reader gets there, after those chunks.
    """
    path = Path(path)
    if not path.is_file():
        raise AudioMissingError(f"{path}: no such audio file")
    try:
        f = sf.SoundFile(path)
    except (sf.LibsndfileError, RuntimeError, ValueError, EOFError) as e:
        raise _decode_error(path, e) from e
    with f:
        _check_complete(path, f.extra_info)
        block = max(1, int(block_seconds * f.samplerate))
        stream = (
            None
            if f.samplerate == sr
            else soxr.ResampleStream(f.samplerate, sr, 1, dtype="float32", quality="HQ")
        )
        total = 0
        while True:
            try:
                x = f.read(frames=block, dtype="float32", always_2d=False)
            except (sf.LibsndfileError, RuntimeError, ValueError, EOFError) as e:
                raise _decode_error(path, e) from e
            total += len(x)
            last = len(x) == 0
            if last and total == 0:
                raise AudioEmptyError(f"{path}: the file holds no samples")
            x = to_mono(np.asarray(x, dtype=np.float32))
            if not np.isfinite(x).all():
                raise AudioNonFiniteError(f"{path}: the audio contains NaN or infinite samples")
            # the resampler's tail comes with last=True, once the file is exhausted
            y = x if stream is None else stream.resample_chunk(x, last=last)
            if len(y):
                yield np.ascontiguousarray(y, dtype=np.float32)
            if last:
                return


def _check_complete(path: Path, log: str) -> None:
    """Raise AudioTruncatedError when libsndfile reports a data chunk cut short."""
    m = _SHORT_CHUNK.search(log)
    if m is None:
        return
    promised, present = int(m.group(1)), int(m.group(2))
    # streaming writers put 0 or 0xFFFFFFFF there ("unknown length"): not a promise
    if 0 < promised < 0xFFFFFFF0 and present < MIN_COMPLETE_FRACTION * promised:
        raise AudioTruncatedError(
            f"{path}: truncated, it holds {present / promised:.0%} of the audio its header "
            "promises; re-copy or re-export it"
        )


def short_warning(n_samples: int, sr: int, window_seconds: float) -> str | None:
    """Why a clip of ``n_samples`` at ``sr`` is too short for a ``window_seconds`` window
    (under :data:`MIN_CLIP_FRACTION` of it), or None when it is long enough."""
    if n_samples >= MIN_CLIP_FRACTION * window_seconds * sr:
        return None
    return (
        f"only {n_samples / sr:.2f} s of audio, under {MIN_CLIP_FRACTION:.0%} of the "
        f"{window_seconds:g}-s analysis window (the rest would be zero padding)"
    )


def check_duration(
    path: str | os.PathLike[str], x: np.ndarray, sr: int, window_seconds: float
) -> None:
    """Raise AudioTooShortError when the decoded ``x`` is too short for the window."""
    why = short_warning(int(x.shape[-1]), sr, window_seconds)
    if why is not None:
        raise AudioTooShortError(f"{path}: too short, {why}; drop it or re-export it")

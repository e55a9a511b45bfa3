"""Signal helpers of the real-scenes builder: levels, trimming, looping, output format.

Everything runs at one band-limited rate, ``BAND_SR``: most source recordings are
11.025-kHz files, and a scene must not be given away by the bandwidth of its package.
"""

from __future__ import annotations

import numpy as np
import soxr

BAND_SR = 11025
PEAK = 0.95  # output peak ceiling: clips louder than this are scaled down as a whole


def active_rms(x: np.ndarray, sr: int = BAND_SR) -> float:
    """RMS over the 10-ms frames within 25 dB of the loudest: the level while it sounds."""
    hop = max(1, sr // 100)
    n = len(x) // hop
    if n == 0:
        return float(np.sqrt(np.mean(x**2))) if len(x) else 0.0
    e = np.mean(x[: n * hop].reshape(n, hop) ** 2, axis=1)
    on = e >= e.max() * 10 ** (-25 / 10)
    return float(np.sqrt(np.mean(e[on]))) if e.max() > 0 else 0.0


def trim_silence(x: np.ndarray, sr: int = BAND_SR, floor_db: float = -35.0) -> np.ndarray:
    """Drop leading/trailing 10-ms frames more than ``floor_db`` below the loudest frame."""
    hop = max(1, sr // 100)
    n = len(x) // hop
    if n == 0:
        return x
    e = np.mean(x[: n * hop].reshape(n, hop) ** 2, axis=1)
    if e.max() <= 0:
        return x[:0]
    on = np.flatnonzero(e >= e.max() * 10 ** (floor_db / 10))
    return x[on[0] * hop : min(len(x), (on[-1] + 1) * hop)]


def prepare(x: np.ndarray, sr: int, role: str) -> np.ndarray:
    """Mono float32 at BAND_SR, DC removed; events also trimmed of silence."""
    y = soxr.resample(np.asarray(x, dtype=np.float32), sr, BAND_SR) if sr != BAND_SR else x
    y = np.asarray(y, dtype=np.float32)
    y = y - np.float32(y.mean()) if len(y) else y
    return trim_silence(y) if role == "event" else y


def fades(n: int, fade: int) -> np.ndarray:
    """Gain curve of n samples with raised-cosine fades of ``fade`` samples at both ends."""
    g = np.ones(n, dtype=np.float32)
    f = min(fade, n // 2)
    if f > 0:
        ramp = (0.5 - 0.5 * np.cos(np.linspace(0, np.pi, f, dtype=np.float32))).astype(np.float32)
        g[:f] = ramp
        g[n - f :] = ramp[::-1]
    return g


def crossfade_concat(a: np.ndarray, b: np.ndarray, fade: int) -> np.ndarray:
    """``a`` then ``b`` with an equal-power crossfade of ``fade`` samples."""
    f = min(fade, len(a), len(b))
    if f == 0:
        return np.concatenate([a, b])
    t = np.linspace(0, np.pi / 2, f, dtype=np.float32)
    mid = a[len(a) - f :] * np.cos(t) + b[:f] * np.sin(t)
    return np.concatenate([a[: len(a) - f], mid, b[f:]])


def background_segment(rng: np.random.Generator, x: np.ndarray, n: int) -> np.ndarray:
    """n samples of a location: a random window, or the recording looped with crossfades."""
    if len(x) == 0:
        raise ValueError("empty background recording")
    if len(x) >= n:
        start = int(rng.integers(0, len(x) - n + 1))
        return x[start : start + n].copy()
    fade = min(BAND_SR // 4, len(x) // 4)
    out = x[int(rng.integers(0, len(x))) :]  # random phase, so clips do not all start alike
    while len(out) < n:
        out = crossfade_concat(out, x, fade)
    return out[:n].copy()


def to_output(x: np.ndarray, sr: int, n_out: int) -> np.ndarray:
    """Resample a BAND_SR mixture to ``sr``, exactly ``n_out`` samples, peak <= PEAK."""
    y = soxr.resample(x, BAND_SR, sr) if sr != BAND_SR else x
    y = np.asarray(y, dtype=np.float32)[:n_out]
    if len(y) < n_out:
        y = np.pad(y, (0, n_out - len(y)))
    peak = float(np.max(np.abs(y))) if len(y) else 0.0
    if peak > PEAK:
        y = y * np.float32(PEAK / peak)  # scale the whole clip: no clipping, no limiter
    return y

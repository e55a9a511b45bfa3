"""Layer 2 of prediction: a recording -> the windows the model sees.

:func:`window_starts` places the windows of a recording of known length; :func:`cut_windows`
cuts them from a waveform in memory; :class:`Windower` cuts the same windows from a recording
that arrives in chunks (a file streamed block by block), holding at most one window and one
chunk.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from rgasc.audio import fix_length


def window_starts(n_samples: int, window: int, hop: int) -> np.ndarray:
    """Start samples of the windows covering a recording of ``n_samples``.

    ``0, hop, 2*hop, ...`` while a whole window fits, then one window ending at the last
    sample if audio is left over; a single window at 0 when the recording fits in one.

    Returns:
        int64 [W], increasing.
    """
    if window < 1 or hop < 1:
        raise ValueError(f"window and hop must be >= 1 sample, got {window}, {hop}")
    if n_samples <= window:
        return np.zeros(1, np.int64)
    starts = list(range(0, n_samples - window + 1, hop))
    if starts[-1] + window < n_samples:
        starts.append(n_samples - window)
    return np.asarray(starts, np.int64)


def cut_windows(x: np.ndarray, starts: Sequence[int] | np.ndarray, window: int) -> np.ndarray:
    """x (samples,) -> float32 (len(starts), window), zero-padded at the end past the audio."""
    return np.stack([fix_length(x[int(s) : int(s) + window], window) for s in starts])


class Windower:
    """Cuts a recording that arrives in chunks into the windows of :func:`window_starts`.

    ``push(chunk)`` returns the windows completed by the chunk, ``finish()`` the last ones
    (the end-aligned window, or the single zero-padded one of a short recording); together they
    are ``cut_windows(x, window_starts(len(x), window, hop), window)`` of the whole recording,
    sample for sample. Only what a later window can still need is kept: at most one window plus
    the newest chunk.

    Attributes:
        n_samples: samples pushed so far (the recording's length once finished).
    """

    def __init__(self, window: int, hop: int) -> None:
        if window < 1 or hop < 1:
            raise ValueError(f"window and hop must be >= 1 sample, got {window}, {hop}")
        self.window, self.hop = int(window), int(hop)
        self.n_samples = 0
        self._buf = np.zeros(0, np.float32)
        self._buf_start = 0  # the recording's sample index of _buf[0]
        self._next = 0  # start of the next regular window (0, hop, 2 hop, ...)

    def _cut(self, start: int) -> np.ndarray:
        i = start - self._buf_start
        return fix_length(self._buf[i : i + self.window], self.window).copy()

    def push(self, chunk: np.ndarray) -> list[tuple[int, np.ndarray]]:
        """Append ``chunk`` (samples,); returns the (start, window) pairs it completes."""
        self._buf = np.concatenate([self._buf, np.asarray(chunk, np.float32)])
        self.n_samples += len(chunk)
        out = []
        while self._next + self.window <= self.n_samples:
            out.append((self._next, self._cut(self._next)))
            self._next += self.hop
        # later windows start at _next, or (the end-aligned one) at n - window: drop the rest
        keep = min(self._next, self.n_samples - self.window)
        if keep > self._buf_start:
            self._buf = self._buf[keep - self._buf_start :]
            self._buf_start = keep
        return out

    def finish(self) -> list[tuple[int, np.ndarray]]:
        """The windows left once the recording has ended (none for an empty one)."""
        n = self.n_samples
        if n == 0:
            return []
        if self._next == 0:  # shorter than a window: one, zero-padded, as window_starts gives
            return [(0, self._cut(0))]
        last = self._next - self.hop
        return [(n - self.window, self._cut(n - self.window))] if last + self.window < n else []

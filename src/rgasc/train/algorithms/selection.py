"""Model-selection rules as pure functions over a validation curve (numpy only).

A curve is the selection split's macro accuracy after each epoch, ``curve[e]`` for the
0-based epoch ``e``. The rules (``select.rule``,
:class:`rgasc.train.config.selection.SelectConfig`):

- ``best``: the epoch with the highest value (the paper; the first one on ties, as Lightning's
  ModelCheckpoint keeps it).
- ``smoothed``: the epoch with the highest *centred* moving average ``mean(curve[e-h .. e+h])``
  (``h = window // 2``): an epoch wins when its neighbourhood is good, not when one noisy
  evaluation is. Only epochs with a full window are eligible (the first and last ``h`` epochs
  are not); a run shorter than the window uses the largest odd window it holds. Centred,
  not trailing: the chosen weights are those in the middle of the good stretch, not
  ``h`` epochs after it.
- ``last``: the last epoch. ``averaged``: the EMA/SWA weights after the last epoch (its
  score is the averaged model's, the caller's to give).

While training, :func:`keep_epochs` names the epochs whose weights could still be chosen by
``smoothed`` once the curve is complete: the best complete window so far plus the at most
``h`` epochs whose windows are still open; the runner keeps only their state dicts, so the
disk holds at most ``h + 1`` of them.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Collection, Sequence

import numpy as np


@dataclasses.dataclass(frozen=True)
class Selection:
    """The chosen epoch (0-based), the rule's score there and the raw curve value there."""

    epoch: int
    score: float
    raw: float


def effective_window(window: int, n_epochs: int) -> int:
    """The window used on a run of ``n_epochs``: ``window`` capped at the largest odd <= n."""
    if window < 1 or window % 2 == 0:
        raise ValueError(f"window={window}: an odd number >= 1")
    if n_epochs < 1:
        return 1
    cap = n_epochs if n_epochs % 2 else n_epochs - 1
    return min(window, cap)


def smoothed_curve(
    curve: Sequence[float] | np.ndarray, window: int, n_epochs: int | None = None
) -> np.ndarray:
    """Centred moving average of ``curve`` [n]; NaN where the window is not full.

    Args:
        curve: values per epoch (NaN allowed: a window holding one is NaN).
        window: odd window length.
        n_epochs: the run's length for :func:`effective_window` (default ``len(curve)``).

    Returns:
        float64 [n]: ``out[e] = mean(curve[e-h : e+h+1])`` for ``h <= e < n - h``, else NaN.
    """
    v = np.asarray(curve, dtype=np.float64)
    n = v.size
    h = effective_window(window, n if n_epochs is None else n_epochs) // 2
    out = np.full(n, np.nan)
    for e in range(h, n - h):
        out[e] = v[e - h : e + h + 1].mean()
    return out


def _first_argmax(values: np.ndarray, allowed: Collection[int] | None = None) -> int | None:
    """Index of the first maximum among finite (and allowed) entries; None if there is none."""
    best: int | None = None
    for i, x in enumerate(values):
        if not math.isfinite(x) or (allowed is not None and i not in allowed):
            continue
        if best is None or x > values[best]:
            best = i
    return best


def select_epoch(
    curve: Sequence[float],
    rule: str,
    window: int = 5,
    *,
    available: Collection[int] | None = None,
    averaged_score: float = math.nan,
) -> Selection:
    """The epoch a rule picks from a complete curve.

    Args:
        curve: the selection split's macro accuracy per epoch (at least one value).
        rule: "best", "smoothed", "last" or "averaged".
        window: the smoothed rule's window (odd).
        available: smoothed only: epochs whose weights were kept (the others cannot be
            picked); None = all.
        averaged_score: the averaged model's score after the last epoch (rule "averaged").

    Returns:
        :class:`Selection`; with no finite value to compare, the last epoch (score NaN).
    """
    v = np.asarray(curve, dtype=np.float64)
    if v.size == 0:
        raise ValueError("an empty curve: no epoch to select")
    last = v.size - 1
    if rule == "best":
        e = _first_argmax(v)
        return (
            Selection(last, math.nan, float(v[last]))
            if e is None
            else Selection(e, float(v[e]), float(v[e]))
        )
    if rule == "smoothed":
        s = smoothed_curve(v, window)
        e = _first_argmax(s, available)
        if e is None:
            return Selection(last, math.nan, float(v[last]))
        return Selection(e, float(s[e]), float(v[e]))
    if rule == "last":
        return Selection(last, float(v[last]), float(v[last]))
    if rule == "averaged":
        return Selection(last, float(averaged_score), float(v[last]))
    raise ValueError(f"unknown rule {rule!r}")


def keep_epochs(curve: Sequence[float], window: int, n_epochs: int) -> set[int]:
    """Epochs of a curve so far whose weights the smoothed rule could still pick.

    Args:
        curve: values of epochs 0..c (the run so far).
        window: the smoothed rule's window. n_epochs: the run's planned length.

    Returns:
        the best epoch among the complete windows (first on ties) and every epoch whose window
        is not complete yet (at most ``h``, plus the newest).
    """
    v = np.asarray(curve, dtype=np.float64)
    c = v.size - 1
    if c < 0:
        return set()
    h = effective_window(window, n_epochs) // 2
    keep = {e for e in range(max(h, c - h + 1), c + 1)}  # windows still open
    complete = np.full(v.size, np.nan)
    for e in range(h, c - h + 1):
        complete[e] = v[e - h : e + h + 1].mean()
    best = _first_argmax(complete)
    if best is not None:
        keep.add(best)
    return keep

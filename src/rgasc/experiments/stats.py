"""Seed spread and paired comparisons over seeds: pure functions, known numbers in and out.

Two seeds of one configuration can differ by more than the effect a table is meant to show,
so every experiment table reports, per configuration, the spread over seeds
(:func:`spread`: n, mean, sample std, min, max) and, against the experiment's baseline row, a
paired comparison (:func:`paired_comparison`): the runs of both rows with the same seed are
paired (same split, same initial-weight seed), ``d_s = acc_row(s) - acc_baseline(s)``, and

    mean(d) ± t_{0.975, n-1} · sd(d) / sqrt(n)        (paired t interval, 95 %)

with ``t`` from ``scipy.stats.t`` and ``sd`` the sample standard deviation (ddof 1). The
verdict is "no difference" when the interval covers 0, else "higher" or "lower"; with fewer
than two pairs there is no interval ("n/a"). When every pair gives the same difference (two
seeds on a 13-clip test split easily do: accuracies move in steps of 1/13) the interval has no
width; that is no evidence of an effect, and the verdict is "no spread: cannot tell". A
configuration that is deterministic (run once, e.g. the event-only lookup) is paired with every
seed of the other row.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence

import numpy as np

#: Confidence level of the paired interval.
LEVEL = 0.95
NO_DIFFERENCE = "no difference"
HIGHER = "higher"
LOWER = "lower"
NA = "n/a"
NO_SPREAD = "no spread: cannot tell"
#: Widths of an interval (as a fraction) below this are no spread: float rounding of equal
#: differences, far below one clip of any test split.
SPREAD_EPS = 1e-9


@dataclasses.dataclass(frozen=True)
class Spread:
    """Finite values of one metric over seeds: n, mean, sample std (NaN for n < 2), min, max."""

    n: int
    mean: float
    std: float
    min: float
    max: float


@dataclasses.dataclass(frozen=True)
class Paired:
    """A paired comparison: differences row - baseline over the shared seeds.

    Attributes:
        n: pairs. mean, std: of the differences (std NaN for n < 2).
        low, high: the ``level`` paired t interval of the mean difference (NaN for n < 2).
        verdict: "no difference" (the interval covers 0), "higher", "lower" or "n/a".
        seeds: the seeds paired.
    """

    n: int
    mean: float
    std: float
    low: float
    high: float
    verdict: str
    level: float = LEVEL
    seeds: tuple[int, ...] = ()


def _finite(values: Sequence[float | None]) -> np.ndarray:
    return np.asarray(
        [float(x) for x in values if x is not None and math.isfinite(x)], dtype=np.float64
    )


def spread(values: Sequence[float | None]) -> Spread:
    """n, mean, sample std (ddof 1), min and max of the finite values (NaN where undefined)."""
    v = _finite(values)
    if v.size == 0:
        return Spread(0, math.nan, math.nan, math.nan, math.nan)
    std = float(v.std(ddof=1)) if v.size > 1 else math.nan
    return Spread(int(v.size), float(v.mean()), std, float(v.min()), float(v.max()))


def t_interval(diffs: Sequence[float], level: float = LEVEL) -> tuple[float, float, float]:
    """(mean, low, high): the two-sided ``level`` t interval of the mean of ``diffs``.

    ``mean ± t.ppf((1 + level) / 2, n - 1) · sd / sqrt(n)``; low and high are NaN for n < 2.
    """
    from scipy.stats import t

    d = _finite(diffs)
    if d.size == 0:
        return math.nan, math.nan, math.nan
    mean = float(d.mean())
    if d.size < 2:
        return mean, math.nan, math.nan
    half = float(t.ppf((1.0 + level) / 2.0, d.size - 1)) * float(d.std(ddof=1)) / math.sqrt(d.size)
    return mean, mean - half, mean + half


def verdict(low: float, high: float) -> str:
    """ "no difference" if [low, high] covers 0, "higher" above it, "lower" below; "n/a"
    without an interval; "no spread: cannot tell" for an interval of no width (every paired
    seed gave the same difference: the t interval then claims a certainty it does not have)."""
    if not (math.isfinite(low) and math.isfinite(high)):
        return NA
    if high - low <= SPREAD_EPS:
        return NO_SPREAD
    if low > 0:
        return HIGHER
    if high < 0:
        return LOWER
    return NO_DIFFERENCE


def paired_comparison(
    row: Mapping[int, float],
    baseline: Mapping[int, float],
    *,
    row_constant: bool = False,
    baseline_constant: bool = False,
    level: float = LEVEL,
) -> Paired:
    """Compare a row with its baseline over the seeds both have (seed -> metric value).

    Args:
        row, baseline: seed -> value (e.g. test macro accuracy); non-finite values dropped.
        row_constant, baseline_constant: that side is deterministic (one run stands for every
            seed): its single value is paired with each seed of the other side.
        level: confidence level of the interval.
    """
    r = {s: float(v) for s, v in row.items() if v is not None and math.isfinite(v)}
    b = {s: float(v) for s, v in baseline.items() if v is not None and math.isfinite(v)}
    if row_constant and len(r) == 1:
        r = dict.fromkeys(b, next(iter(r.values())))
    if baseline_constant and len(b) == 1:
        b = dict.fromkeys(r, next(iter(b.values())))
    seeds = tuple(sorted(set(r) & set(b)))
    diffs = [r[s] - b[s] for s in seeds]
    mean, low, high = t_interval(diffs, level)
    std = float(np.std(diffs, ddof=1)) if len(diffs) > 1 else math.nan
    return Paired(len(seeds), mean, std, low, high, verdict(low, high), level, seeds)


def _pp(x: float, digits: int = 2) -> str:
    """A difference of fractions in percentage points, signed."""
    return f"{100 * x:+.{digits}f}"


def interval_text(p: Paired, digits: int = 2) -> str:
    """``+1.20 [-0.50, +2.90]`` (percentage points); the mean alone with one pair or with no
    spread; "" for none."""
    if p.n == 0:
        return ""
    if not math.isfinite(p.low):
        return f"{_pp(p.mean, digits)} (1 seed, no interval)"
    if p.verdict == NO_SPREAD:
        return f"{_pp(p.mean, digits)} (every seed alike, no interval)"
    return f"{_pp(p.mean, digits)} [{_pp(p.low, digits)}, {_pp(p.high, digits)}]"


def comparison_sentence(label: str, baseline: str, p: Paired) -> str:
    """The paired comparison in words, for reports that are read rather than scanned."""
    if p.n < 2:
        return (
            f"{label} vs {baseline}: {p.n} paired seed(s); one seed cannot separate an effect "
            "from seed-to-seed noise (run several seeds for an interval)."
        )
    level = f"{100 * p.level:g} %"
    head = (
        f"{label} vs {baseline} over {p.n} paired seeds: mean difference {_pp(p.mean)} points, "
        f"{level} paired t interval [{_pp(p.low)}, {_pp(p.high)}]"
    )
    if p.verdict == NO_SPREAD:
        return (
            f"{label} vs {baseline} over {p.n} paired seeds: every seed gave the same difference, "
            f"{_pp(p.mean)} points, so the interval has no width; no spread: cannot tell whether "
            f"{label} differs (run more seeds, or test on more clips)."
        )
    if p.verdict == NO_DIFFERENCE:
        return head + ": the interval covers 0, no difference can be claimed."
    word = "higher" if p.verdict == HIGHER else "lower"
    return head + f": {label} is {word}, the interval excludes 0."


ONE_SEED = (
    "One seed cannot separate an effect from noise: two seeds of the same configuration can "
    "differ by several points, more than the differences between the models here. Run "
    "`rgasc experiment per-class --seeds 1 2 3` (or more seeds) for mean ± std and a paired "
    "interval."
)

"""Two sections of the training config: weight averaging and the model-selection rule.

Both are off by default (the paper's protocol: raw weights of the best validation epoch), so
a run that does not set them computes exactly what it computed before they existed; the
config tree (:mod:`rgasc.train.config`) leaves them out of its digest while they hold their
defaults. Like the rest of the config, this module imports neither torch nor Lightning.

- ``average`` (:class:`AverageConfig`): an exponential moving average of the weights (EMA,
  updated after every optimiser step) or stochastic weight averaging (SWA, an equal-weight
  mean of the weights at the end of each of the last ``swa_epochs`` epochs). Either is
  validated every epoch beside the raw model (``val_ema/*`` or ``val_swa/*`` in the logs),
  stored in every Lightning checkpoint and exported as ``checkpoints/averaged.pt``. The
  arithmetic: :mod:`rgasc.train.averaging`.
- ``select`` (:class:`SelectConfig`): which weights become ``best.pt``; the rules as pure
  functions over the validation curve: :mod:`rgasc.train.selection`.
"""

from __future__ import annotations

import dataclasses
import enum

from rgasc.config import Config
from rgasc.errors import ConfigError


class Averaging(enum.StrEnum):
    """Weight averaging of a run."""

    NONE = "none"  # the paper
    EMA = "ema"  # exponential moving average, per optimiser step
    SWA = "swa"  # stochastic weight averaging, per epoch over the last epochs


class Rule(enum.StrEnum):
    """How the exported weights are chosen from the run."""

    BEST = "best"  # the paper: the epoch with the best validation macro accuracy
    SMOOTHED = "smoothed"  # best of the curve averaged over a centred window of epochs
    LAST = "last"  # the weights after the last epoch
    AVERAGED = "averaged"  # the EMA/SWA weights after the last epoch


AVERAGINGS = tuple(m.value for m in Averaging)
RULES = tuple(m.value for m in Rule)


@dataclasses.dataclass(frozen=True)
class AverageConfig(Config):
    """Weight averaging (:mod:`rgasc.train.averaging`).

    Attributes:
        method: "none" (default), "ema" or "swa".
        ema_decay: EMA decay d: avg <- d * avg + (1 - d) * weights after each optimiser step.
        ema_warmup: use min(d, (1 + k) / (10 + k)) at step k (TensorFlow's num_updates rule)
            so that a short run's average is not dominated by its random initial weights.
        swa_epochs: SWA averages the weights at the end of each of the last ``swa_epochs``
            epochs (all epochs when the run is shorter).
    """

    method: str = Averaging.NONE.value
    ema_decay: float = 0.999
    ema_warmup: bool = True
    swa_epochs: int = 10

    def __post_init__(self) -> None:
        if self.method not in AVERAGINGS:
            raise ConfigError(f"average.method={self.method!r}: use one of {AVERAGINGS}")
        if not 0.0 < self.ema_decay < 1.0:
            raise ConfigError(f"average.ema_decay={self.ema_decay} must be in (0, 1)")
        if self.swa_epochs < 1:
            raise ConfigError(f"average.swa_epochs={self.swa_epochs} must be >= 1")

    @property
    def on(self) -> bool:
        return self.method != Averaging.NONE

    def describe(self) -> str:
        """The averaging in words (config.yaml, metrics.json, reports)."""
        if self.method == Averaging.EMA:
            warm = ", with warm-up" if self.ema_warmup else ""
            return f"EMA of the weights (decay {self.ema_decay:g}{warm}, per optimiser step)"
        if self.method == Averaging.SWA:
            return f"SWA of the weights over the last {self.swa_epochs} epochs (BN recomputed)"
        return "none"


@dataclasses.dataclass(frozen=True)
class SelectConfig(Config):
    """The model-selection rule (:mod:`rgasc.train.selection`).

    Attributes:
        rule: "best" (default, the paper), "smoothed", "last" or "averaged" (needs
            ``average.method`` ema or swa).
        window: epochs in the centred window of the "smoothed" rule (odd; capped at the
            run's length).
        score_all: also score the weights every rule would pick (best, smoothed, last, and
            averaged with averaging on) on val and test, and the selected weights on the
            training split, into metrics.json ``rules`` and ``train``. For studies of the
            rules themselves (``rgasc experiment variance``): one run gives every rule's
            result, since the rules do not change training. The exported weights and the
            headline numbers stay those of ``rule``.
    """

    rule: str = Rule.BEST.value
    window: int = 5
    score_all: bool = False

    def __post_init__(self) -> None:
        if self.rule not in RULES:
            raise ConfigError(f"select.rule={self.rule!r}: use one of {RULES}")
        if self.window < 1 or self.window % 2 == 0:
            raise ConfigError(
                f"select.window={self.window}: give an odd number >= 1 (a centred window)"
            )

    def describe(self, average: AverageConfig | None = None) -> str:
        """The rule in words, e.g. "best epoch" or "last epoch"."""
        if self.rule == Rule.SMOOTHED:
            return (
                f"smoothed: best epoch of the macro accuracy averaged over a centred window "
                f"of {self.window} epochs"
            )
        if self.rule == Rule.LAST:
            return "last epoch"
        if self.rule == Rule.AVERAGED:
            how = average.describe() if average is not None else "EMA/SWA"
            return f"averaged weights at the end ({how})"
        return "best epoch"

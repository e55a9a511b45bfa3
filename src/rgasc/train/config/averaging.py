"""The ``average`` section of the training config: weight averaging (EMA or SWA).

Off by default (the paper's protocol: raw weights). An exponential moving average of the
weights (EMA, updated after every optimiser step) or stochastic weight averaging (SWA, an
equal-weight mean of the weights at the end of each of the last ``swa_epochs`` epochs) is
validated every epoch beside the raw model (``val_ema/*`` or ``val_swa/*`` in the logs), stored
in every Lightning checkpoint and exported as ``checkpoints/averaged.pt``. The arithmetic:
:mod:`rgasc.train.algorithms.averaging`. Imports neither torch nor Lightning.
"""

from __future__ import annotations

import dataclasses
import enum

from rgasc.config import Config, option
from rgasc.errors import ConfigError


class Averaging(enum.StrEnum):
    """Weight averaging of a run."""

    NONE = "none"  # the paper
    EMA = "ema"  # exponential moving average, per optimiser step
    SWA = "swa"  # stochastic weight averaging, per epoch over the last epochs


@dataclasses.dataclass(frozen=True)
class AverageConfig(Config):
    """Weight averaging (:mod:`rgasc.train.algorithms.averaging`).

    Attributes:
        method: "none" (default), "ema" or "swa".
        ema_decay: EMA decay d: avg <- d * avg + (1 - d) * weights after each optimiser step.
        ema_warmup: use min(d, (1 + k) / (10 + k)) at step k (TensorFlow's num_updates rule)
            so that a short run's average is not dominated by its random initial weights.
        swa_epochs: SWA averages the weights at the end of each of the last ``swa_epochs``
            epochs (all epochs when the run is shorter).
    """

    method: Averaging = option(
        Averaging.NONE,
        help="Weight averaging: none (paper), ema (per step) or swa (last epochs); validated "
        "every epoch beside the raw model, exported as checkpoints/averaged.pt.",
        flag="averaging",
    )
    ema_decay: float = option(0.999, help="EMA decay per optimiser step.")
    ema_warmup: bool = option(True, help="EMA decay min(d, (1+k)/(10+k)) at step k (short runs).")
    swa_epochs: int = option(10, help="SWA averages the weights of the last N epochs.")

    def __post_init__(self) -> None:
        super().__post_init__()
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

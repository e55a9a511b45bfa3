"""The ``select`` section of the training config: which weights become ``best.pt``.

"best" by default (the paper's protocol: the best validation epoch), so a run that does not set
it computes what the paper's protocol computes. The rules as pure functions over the
validation curve: :mod:`rgasc.train.algorithms.selection`. Imports neither torch nor Lightning.
"""

from __future__ import annotations

import dataclasses
import enum

from rgasc.config import Config, option
from rgasc.errors import ConfigError
from rgasc.train.config.averaging import AverageConfig


class Rule(enum.StrEnum):
    """How the exported weights are chosen from the run."""

    BEST = "best"  # the paper: the epoch with the best validation macro accuracy
    SMOOTHED = "smoothed"  # best of the curve averaged over a centred window of epochs
    LAST = "last"  # the weights after the last epoch
    AVERAGED = "averaged"  # the EMA/SWA weights after the last epoch


#: Every rule, in the order reports list them.
RULES = tuple(Rule)


@dataclasses.dataclass(frozen=True)
class SelectConfig(Config):
    """The model-selection rule (:mod:`rgasc.train.algorithms.selection`).

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

    rule: Rule = option(
        Rule.BEST,
        help="Exported weights: best epoch (paper), smoothed (best of a centred moving average "
        "of the curve), last epoch, or averaged (the EMA/SWA weights).",
        flag="select_rule",
    )
    window: int = option(
        5,
        help="Epochs (odd) in the centred window of --select-rule smoothed.",
        flag="select_window",
    )
    score_all: bool = option(
        False,
        help="Also score every rule's weights on val and test, and the selected weights on the "
        "training split (metrics.json rules, train): a study of the rules.",
        flag="score_all_rules",
    )

    def __post_init__(self) -> None:
        super().__post_init__()
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

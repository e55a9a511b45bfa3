"""Selection rules on hand-made validation curves; the config sections that choose them."""

from __future__ import annotations

import math

import numpy as np
import pytest

from rgasc.cli.params import params_of
from rgasc.config import override
from rgasc.errors import ConfigError
from rgasc.train.algorithms.selection import (
    effective_window,
    keep_epochs,
    select_epoch,
    smoothed_curve,
)
from rgasc.train.config.tree import TrainConfig, make_config

PATHS = {
    "data.dataset": "d",
    "data.features": "f",
    "data.labels": "l",
    "data.relation": "r",
    "out": "o",
}
#: A noisy spike at epoch 2; the good plateau is epochs 5-7.
CURVE = [0.50, 0.55, 0.80, 0.52, 0.60, 0.70, 0.72, 0.71, 0.60, 0.58]


def test_best_last_and_averaged() -> None:
    s = select_epoch(CURVE, "best")
    assert (s.epoch, s.score) == (2, 0.80)
    assert select_epoch([0.5, 0.7, 0.7], "best").epoch == 1  # ties: the first
    s = select_epoch(CURVE, "last")
    assert (s.epoch, s.score, s.raw) == (9, 0.58, 0.58)
    s = select_epoch(CURVE, "averaged", averaged_score=0.75)
    assert (s.epoch, s.score, s.raw) == (9, 0.75, 0.58)
    s = select_epoch([math.nan, 0.4, math.nan], "best")
    assert s.epoch == 1  # NaN never wins
    assert select_epoch([math.nan], "best").epoch == 0
    with pytest.raises(ValueError):
        select_epoch([], "best")


def test_smoothed_centred_window_ignores_the_spike() -> None:
    s = smoothed_curve(CURVE, 3)
    assert math.isnan(s[0]) and math.isnan(s[9])  # no full window at the edges
    assert s[2] == pytest.approx((0.55 + 0.80 + 0.52) / 3)  # 0.6233
    assert s[6] == pytest.approx((0.70 + 0.72 + 0.71) / 3)  # 0.71: the plateau wins
    sel = select_epoch(CURVE, "smoothed", 3)
    assert (sel.epoch, sel.raw) == (6, 0.72) and sel.score == pytest.approx(0.71)
    # window 5: epoch 4 = mean(0.80, 0.52, 0.60, 0.70, 0.72) = 0.668 edges out epoch 6 = 0.666
    sel = select_epoch(CURVE, "smoothed", 5)
    assert sel.epoch == 4 and sel.score == pytest.approx(0.668)
    assert smoothed_curve(CURVE, 5)[6] == pytest.approx(0.666)
    # window 1 is the best rule
    assert select_epoch(CURVE, "smoothed", 1).epoch == 2
    # only the kept epochs can be picked
    assert select_epoch(CURVE, "smoothed", 3, available={2, 3, 9}).epoch == 3  # 0.64 > 0.623


def test_window_is_capped_at_the_run_length() -> None:
    assert effective_window(5, 10) == 5 and effective_window(5, 4) == 3
    assert effective_window(5, 2) == 1 and effective_window(3, 3) == 3
    assert select_epoch([0.1, 0.9], "smoothed", 5).epoch == 1  # 2 epochs: window 1
    # window 3: epoch 1 = (0.9 + 0.1 + 0.5) / 3 = 0.5 beats epoch 2 = 0.4
    assert select_epoch([0.9, 0.1, 0.5, 0.6], "smoothed", 5).epoch == 1
    with pytest.raises(ValueError):
        effective_window(4, 10)


def test_keep_epochs_on_a_hand_made_prefix() -> None:
    # window 3 (h = 1), after epochs 0..4 of CURVE: complete windows at 1..3 (0.6167, 0.6233,
    # 0.64): epoch 3 best; epoch 4's window is open; epoch 0 can never be picked
    assert keep_epochs(CURVE[:5], 3, 10) == {3, 4}
    assert keep_epochs(CURVE[:1], 3, 10) == set()  # epoch 0: never eligible with h = 1
    assert keep_epochs(CURVE[:2], 3, 10) == {1}
    assert keep_epochs(CURVE[:3], 5, 10) == {2}  # h = 2: nothing complete, epoch 2 open
    assert keep_epochs(CURVE, 1, 10) == {2}  # window 1: every window complete, the best


@pytest.mark.parametrize("window", [1, 3, 5, 7])
def test_the_final_pick_is_always_kept(window: int) -> None:
    """Whatever the curve, pruning to keep_epochs never loses the epoch the rule picks."""
    rng = np.random.default_rng(window)
    for _ in range(200):
        n = int(rng.integers(1, 16))
        curve = list(np.round(rng.uniform(0.4, 0.8, n), 2))  # rounded: ties happen
        pick = select_epoch(curve, "smoothed", window).epoch
        kept: set[int] = set()
        for c in range(1, n + 1):  # the runner prunes after every epoch
            kept = keep_epochs(curve[:c], window, n) & (kept | {c - 1})
        assert pick in kept or math.isnan(smoothed_curve(curve, window)[pick])
        assert select_epoch(curve, "smoothed", window, available=kept).epoch == pick
        assert len(keep_epochs(curve, window, n)) <= effective_window(window, n) // 2 + 1


def test_config_sections_defaults_checks_and_digest() -> None:
    cfg = make_config(PATHS)
    assert cfg.average.method == "none" and cfg.select.rule == "best"
    assert cfg.selection_label.endswith("rule: best epoch")
    ema = override(cfg, {"average.method": "ema", "select.rule": "averaged"})
    assert ema.digest() != cfg.digest() and ema.to_dict()["average"]["method"] == "ema"
    assert "EMA of the weights (decay 0.999" in ema.selection_label
    assert "select.rule" in cfg.identity() and "average.method" in cfg.identity()
    with pytest.raises(ConfigError, match="--averaging ema"):
        override(cfg, {"select.rule": "averaged"})
    with pytest.raises(ConfigError, match="odd"):
        override(cfg, {"select.window": 4})
    with pytest.raises(ConfigError, match="ema_decay"):
        override(cfg, {"average.ema_decay": 1.0})
    with pytest.raises(ConfigError, match="rule='max'"):
        override(cfg, {"select.rule": "max"})
    by_name = {p.name: p for p in params_of(TrainConfig)}
    assert by_name["select_rule"].flag == "--select-rule"
    assert by_name["averaging"].key == "average.method"
    assert by_name["select_window"].default_text() == "5"

"""Seed spread and the paired comparison on hand-made numbers; the tables that show them."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path

import pytest

from rgasc.experiments.settings import BASELINES, baseline_of, experiment_settings
from rgasc.experiments.stats import (
    ONE_SEED,
    comparison_sentence,
    interval_text,
    paired_comparison,
    spread,
    t_interval,
    verdict,
)
from rgasc.experiments.sweep import run_experiment
from rgasc.experiments.tables import RunRecord, aggregate
from rgasc.train import TrainConfig
from rgasc.train.config.tree import make_config

#: t_{0.975} with 2 and 3 degrees of freedom (tables of Student's t).
T2, T3 = 4.302652729911275, 3.182446305284263


def test_spread() -> None:
    s = spread([0.7, 0.8, 0.75, float("nan"), None])
    assert (s.n, s.min, s.max) == (3, 0.7, 0.8)
    assert s.mean == pytest.approx(0.75) and s.std == pytest.approx(0.05)
    one = spread([0.5])
    assert one.n == 1 and one.min == one.max == 0.5 and math.isnan(one.std)
    assert spread([]).n == 0 and math.isnan(spread([]).mean)


def test_t_interval_matches_the_hand_computation() -> None:
    # d = 1, 3, 5 points: mean 3, sd 2, half-width t(0.975, 2) * 2 / sqrt(3) = 4.968
    mean, lo, hi = t_interval([0.01, 0.03, 0.05])
    half = T2 * 0.02 / math.sqrt(3)
    assert mean == pytest.approx(0.03)
    assert (lo, hi) == (pytest.approx(0.03 - half), pytest.approx(0.03 + half))
    assert lo < 0 < hi and verdict(lo, hi) == "no difference"  # straddles 0
    # d = 2, 3, 4, 3 points: sd sqrt(2/3) points, half-width 1.299: excludes 0
    mean, lo, hi = t_interval([0.02, 0.03, 0.04, 0.03])
    half = T3 * math.sqrt(0.0002 / 3) / 2
    assert (lo, hi) == (pytest.approx(0.03 - half), pytest.approx(0.03 + half))
    assert lo == pytest.approx(0.017008, abs=1e-6) and verdict(lo, hi) == "higher"
    assert verdict(-0.05, -0.01) == "lower" and verdict(math.nan, math.nan) == "n/a"
    m, lo, hi = t_interval([0.02])
    assert m == 0.02 and math.isnan(lo) and math.isnan(hi)


def test_paired_comparison_pairs_by_seed() -> None:
    row = {1: 0.72, 2: 0.80, 3: 0.74, 4: 0.9}  # seed 4 has no partner
    base = {1: 0.70, 2: 0.82, 3: 0.70}
    p = paired_comparison(row, base)
    assert p.seeds == (1, 2, 3) and p.n == 3  # d = +2, -2, +4 points
    assert p.mean == pytest.approx(0.04 / 3)
    assert p.std == pytest.approx(
        math.sqrt(((0.02 - 0.04 / 3) ** 2 + (-0.02 - 0.04 / 3) ** 2 + (0.04 - 0.04 / 3) ** 2) / 2)
    )
    assert p.low < 0 < p.high and p.verdict == "no difference"
    assert interval_text(p).startswith("+1.33 [")
    # a deterministic row (run once) is paired with each seed of the baseline
    c = paired_comparison({1: 0.30}, base, row_constant=True)
    assert c.n == 3 and c.mean == pytest.approx(0.30 - (0.70 + 0.82 + 0.70) / 3)
    assert c.verdict == "lower"
    one = paired_comparison({1: 0.8}, {1: 0.7})
    assert one.n == 1 and one.verdict == "n/a" and "no interval" in interval_text(one)
    assert paired_comparison({}, base).n == 0 and interval_text(paired_comparison({}, {})) == ""


def test_sentences() -> None:
    p = paired_comparison({1: 0.72, 2: 0.80, 3: 0.74}, {1: 0.70, 2: 0.82, 3: 0.70})
    text = comparison_sentence("RGASC", "puASC", p)
    assert "3 paired seeds" in text and "95 % paired t interval" in text
    assert "no difference can be claimed" in text
    up = paired_comparison({1: 0.8, 2: 0.81, 3: 0.82}, {1: 0.7, 2: 0.7, 3: 0.71})
    assert "RGASC is higher, the interval excludes 0" in comparison_sentence("RGASC", "puASC", up)
    lone = comparison_sentence("RGASC", "puASC", paired_comparison({0: 0.8}, {0: 0.7}))
    assert "one seed cannot separate an effect" in lone
    assert "One seed cannot separate an effect from noise" in ONE_SEED


def test_every_experiment_has_its_baseline_row() -> None:
    for name, base in BASELINES.items():
        assert baseline_of(name, experiment_settings(name)) == base
    assert baseline_of("lambdas", experiment_settings("lambdas", grid=[(2, 0, 0, 0)])) == (
        "lambdas_2_0_0_0"
    )


def test_aggregate_adds_spread_and_the_paired_difference() -> None:
    recs = [RunRecord("b", s, "r", 0.5, 0.6 + d) for s, d in ((1, 0.0), (2, 0.02), (3, 0.01))]
    recs += [RunRecord("a", s, "r", 0.5, 0.5 + d) for s, d in ((1, 0.0), (2, 0.01), (3, 0.02))]
    rows = aggregate(recs, [("a", "A"), ("b", "B")], baseline="a")
    a, b = rows
    assert a.diff is None and a.baseline == "a"
    assert (b.test_min, b.test_max) == (pytest.approx(0.6), pytest.approx(0.62))
    assert b.diff is not None and b.diff.n == 3  # d = 10, 11, 9 points
    assert b.diff.mean == pytest.approx(0.10) and b.diff.verdict == "higher"
    half = T2 * 0.01 / math.sqrt(3)
    assert b.diff.low == pytest.approx(0.10 - half)


def _base(tmp_path: Path) -> TrainConfig:
    paths = {
        "data.dataset": "ds",
        "data.features": "feat",
        "data.labels": "labels.h5",
        "data.relation": "rel",
        "out": tmp_path / "ignored",
    }
    return make_config({**paths, "optim.epochs": 3})


#: Injected test accuracies by configuration and seed (fractions).
TEST_ACC = {
    "puasc": {1: 0.51, 2: 0.52, 3: 0.53},
    "rgasc": {1: 0.61, 2: 0.63, 3: 0.62},  # d = +10, +11, +9 points: higher
    "event_lookup": {1: 0.30},  # deterministic: one run, paired with every seed
    "pann_fixed": {1: 0.52},  # d = +1, 0, -1 points: no difference
}


def test_experiment_tables_carry_spread_and_comparison(tmp_path: Path) -> None:
    def run(cfg: TrainConfig) -> None:
        acc = TEST_ACC[Path(cfg.out).parent.name][cfg.seed]
        m = {"val": {"macro_accuracy": acc - 0.05}, "test": {"macro_accuracy": acc}}
        (Path(cfg.out) / "metrics.json").write_text(json.dumps(m))

    runners = {"train": run, "lookup": run, "pann_fixed": run}
    md = run_experiment(
        "baselines", _base(tmp_path), tmp_path / "x", [1, 2, 3], runners=runners, log=str
    )
    text = md.read_text()
    assert "Selection rule: best epoch." in text and "- selection rule: `best epoch`" in text
    assert "test min–max %" in text and "Δ test vs baseline, pp [95 % CI]" in text
    assert "paired t interval" in text and "scipy.stats.t" in text and "Baseline: puASC" in text
    half = 100 * T2 * 0.01 / math.sqrt(3)
    assert (
        f"| 62.00 ± 1.00 | 61.00–63.00 | +10.00 [{10 - half:+.2f}, {10 + half:+.2f}] | higher |"
        in text
    )
    assert "| 52.00 ± 1.00 | 51.00–53.00 |  | baseline |" in text
    rows = {
        r["config"]: r for r in csv.DictReader(io.StringIO((md.parent / "results.csv").read_text()))
    }
    assert rows["rgasc"]["verdict"] == "higher" and rows["rgasc"]["diff_n_seeds"] == "3"
    assert rows["rgasc"]["diff_test_mean_pp"] == "10.0000"
    assert rows["rgasc"]["test_acc_min_pct"] == "61.0000"
    assert rows["pann_fixed"]["verdict"] == "no difference"
    assert (
        rows["event_lookup"]["verdict"] == "lower" and rows["event_lookup"]["diff_n_seeds"] == "3"
    )
    assert rows["puasc"]["verdict"] == "baseline" and rows["puasc"]["baseline"] == "puasc"
    assert rows["pann_finetune"]["verdict"] == ""  # skipped: nothing to compare

"""The recipe and variance experiments: their rows, derived rows read from shared runs, and
per-row comparisons (a fake train function; the real runs are in benchmarks/results/)."""

from __future__ import annotations

import csv
import io
import json
from pathlib import Path
from typing import Any

import pytest

from rgasc.errors import ArtefactError, RgascError
from rgasc.experiments.settings import PIECES, experiment_settings, modern_pieces
from rgasc.experiments.sweep import Setting, run_experiment, run_sweep
from rgasc.experiments.tables import RunRecord, aggregate, results_table
from rgasc.train import TrainConfig
from rgasc.train.config.recipes import MODERN, PAPER
from rgasc.train.config.tree import PAPER_LAMBDAS, PUASC_LAMBDAS, make_config


def _base(tmp_path: Path, changes: dict[str, Any] | None = None) -> TrainConfig:
    paths = {
        "data.dataset": "ds",
        "data.features": "feat",
        "data.labels": "labels.h5",
        "data.relation": "rel",
        "out": tmp_path / "ignored",
    }
    return make_config({**paths, "optim.epochs": 3, **(changes or {})})


def _fake_train(calls: list[TrainConfig], rules: bool = True):  # noqa: ANN202
    """metrics.json with a top level, a train split and one result per rule; accuracy
    = seed / 10 + offsets that name where a number came from."""

    def run(cfg: TrainConfig) -> None:
        calls.append(cfg)
        base = cfg.seed / 10 + (0.01 if cfg.loss.lambdas == PAPER_LAMBDAS else 0.0)
        m: dict[str, Any] = {
            "val": {"macro_accuracy": base},
            "test": {"macro_accuracy": base},
            "train": {"macro_accuracy": 0.9},
        }
        if rules:
            m["rules"] = {
                r: {split: {"macro_accuracy": base + k / 1000} for split in ("val", "test")}
                for k, r in enumerate(("best", "smoothed", "last", "averaged"))
            }
        (Path(cfg.out) / "metrics.json").write_text(json.dumps(m))

    return run


def test_recipe_rows_set_every_option_of_their_recipe_whatever_the_base() -> None:
    rows = {s.name: s for s in experiment_settings("recipe")}
    assert list(rows)[:4] == ["puasc_paper", "rgasc_paper", "puasc_modern", "rgasc_modern"]
    for name in ("puasc_paper", "rgasc_paper"):
        assert all(rows[name].changes[k] == v for k, v in PAPER.items())
    for name in ("puasc_modern", "rgasc_modern"):
        assert all(rows[name].changes[k] == v for k, v in MODERN.items())
    assert rows["puasc_modern"].changes["loss.lambdas"] == PUASC_LAMBDAS
    assert rows["rgasc_modern"].versus == "puasc_modern"
    pieces = modern_pieces()
    assert all(p in PIECES for p in pieces) and len(pieces) == sum(
        n.startswith("rgasc_modern_no_") for n in rows
    )
    for piece, _, off in pieces:  # each piece removed, everything else modern
        row = rows[f"rgasc_modern_no_{piece}"]
        assert row.versus == "rgasc_modern"
        for k, v in MODERN.items():
            assert row.changes[k] == off.get(k, v)
        assert any(MODERN[k] != v for k, v in off.items()), f"{piece}: removes nothing"
    assert rows["rgasc_modern_vs_paper"].kind == "derived"


def test_variance_trains_two_configs_and_reads_every_rule_from_them(tmp_path: Path) -> None:
    calls: list[TrainConfig] = []
    base = _base(tmp_path, {"recipe": "modern"})
    md = run_experiment(
        "variance", base, tmp_path / "v", [1, 2, 3], runners={"train": _fake_train(calls)}, log=str
    )
    assert len(calls) == 2 * 3  # puASC and RGASC per seed: the rules are read, not trained
    assert all(c.average.method == "ema" and c.select.score_all for c in calls)
    assert all(c.recipe == "modern" for c in calls)  # the base's recipe is kept
    rows = {
        r["config"]: r
        for r in csv.DictReader(io.StringIO((tmp_path / "v" / "results.csv").read_text()))
    }
    # seeds 1..3: test 0.1, 0.2, 0.3 (+0.01 RGASC) (+k/1000 for rule k)
    assert rows["puasc"]["test_acc_mean_pct"] == "20.0000"
    assert rows["puasc_last"]["test_acc_mean_pct"] == "20.2000"
    assert rows["rgasc_ema"]["test_acc_mean_pct"] == "21.3000"
    # each RGASC row is paired with the puASC row of the same rule: +1 pp exactly
    assert rows["rgasc_ema"]["baseline"] == "puasc_ema"
    assert rows["rgasc_ema"]["diff_test_mean_pp"] == "1.0000"
    # the same +1 pp on every seed: an interval of no width is no verdict (issue 24)
    assert rows["rgasc_ema"]["verdict"] == "no spread: cannot tell"
    assert rows["puasc_smoothed"]["baseline"] == "puasc"
    assert rows["puasc"]["train_acc_mean_pct"] == "90.0000"
    assert rows["puasc_last"]["train_acc_mean_pct"] == ""  # scored for the selected weights only
    text = md.read_text()
    assert "vs #7:" in text and "train acc %" in text
    assert "- weight averaging: `set by each row`" in text and "- recipe: `modern`" in text


def test_derived_rows_need_the_results_they_read(tmp_path: Path) -> None:
    calls: list[TrainConfig] = []
    settings = [
        Setting("a", "a"),
        Setting("a_last", "a, last", kind="derived", source="a", metric="rules.last"),
    ]
    with pytest.raises(ArtefactError, match="no 'rules.last' results"):
        run_sweep(
            settings,
            _base(tmp_path),
            tmp_path / "o",
            [1],
            runners={"train": _fake_train(calls, rules=False)},
            log=str,
        )


def test_per_row_versus_pairs_with_the_named_row() -> None:
    accs = {
        ("a", 1): 0.5,
        ("a", 2): 0.6,
        ("b", 1): 0.7,
        ("b", 2): 0.8,
        ("c", 1): 0.4,
        ("c", 2): 0.5,
    }
    recs = [RunRecord(c, s, "", 0.5, acc) for (c, s), acc in accs.items()]
    rows = aggregate(recs, [("a", "A"), ("b", "B"), ("c", "C")], baseline="a", versus={"c": "b"})
    assert rows[1].baseline == "a" and rows[1].diff.mean == pytest.approx(0.2)
    assert rows[2].baseline == "b" and rows[2].diff.mean == pytest.approx(-0.3)
    assert "vs #2:" in results_table(rows) and "vs #1:" in results_table(rows)
    # one baseline for all: the table does not name it per row
    plain = aggregate(recs, [("a", "A"), ("b", "B")], baseline="a")
    assert "vs #" not in results_table(plain) and "train acc" not in results_table(plain)


def test_configs_picks_rows_and_their_sources(tmp_path: Path) -> None:
    calls: list[TrainConfig] = []
    md = run_experiment(
        "variance",
        _base(tmp_path),
        tmp_path / "v",
        [1, 2],
        configs=["rgasc_last"],
        runners={"train": _fake_train(calls)},
        log=str,
    )
    assert {Path(c.out).parent.name for c in calls} == {"rgasc"}  # the derived row's source
    assert "RGASC, last epoch" in md.read_text() and "puASC, last" not in md.read_text()
    with pytest.raises(RgascError, match="not rows of this experiment; its rows: puasc"):
        run_experiment(
            "variance",
            _base(tmp_path),
            tmp_path / "w",
            [1],
            configs=["nope"],
            runners={"train": _fake_train(calls)},
            log=str,
        )

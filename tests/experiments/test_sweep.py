"""Experiments: settings, sweep resume/redo with a fake train function, aggregation, writers."""

from __future__ import annotations

import csv
import io
import json
import math
from pathlib import Path
from typing import Any

import pytest

from rgasc.config import override
from rgasc.errors import ArtefactError, RgascError
from rgasc.experiments.sweep import (
    PAPER_TABLE_II,
    Setting,
    experiment_settings,
    parse_grid,
    parse_seeds,
    run_experiment,
    run_sweep,
)
from rgasc.experiments.tables import (
    Row,
    RunRecord,
    aggregate,
    markdown_table,
    mean_std,
    per_class_markdown,
    pm,
    results_csv,
    results_markdown,
)
from rgasc.train import TrainConfig
from rgasc.train.config.tree import PAPER_LAMBDAS, make_config

# test accuracy of the fake runs: config -> seed -> value
FAKE_TEST = {"a": {1: 0.70, 2: 0.80}, "b": {1: 0.50, 2: 0.60}}


def _base(tmp_path: Path, changes: dict[str, Any] | None = None) -> TrainConfig:
    paths = {
        "data.dataset": "ds",
        "data.features": "feat",
        "data.labels": "labels.h5",
        "data.relation": "rel",
        "out": tmp_path / "ignored",
    }
    return make_config({**paths, "optim.epochs": 3, **(changes or {})})


class FakeTrain:
    """Writes metrics.json like the real runner; can crash once for one run."""

    def __init__(self, crash: tuple[str, int] | None = None) -> None:
        self.calls: list[tuple[str, int]] = []
        self.crash = crash

    def __call__(self, cfg: TrainConfig) -> Path:
        run = Path(cfg.out)
        config = run.parent.name
        self.calls.append((config, cfg.seed))
        (run / "checkpoints").mkdir(parents=True, exist_ok=True)
        (run / "checkpoints" / "last.ckpt").write_text("partial")
        if self.crash == (config, cfg.seed):
            self.crash = None
            raise RuntimeError("killed mid-training")
        test = FAKE_TEST[config][cfg.seed]
        m = {
            "val": {"macro_accuracy": test - 0.1},
            "test": {"macro_accuracy": test},
            "lambdas": list(cfg.loss.lambdas),
        }
        (run / "metrics.json").write_text(json.dumps(m))
        return run


SETTINGS = [
    Setting("a", "config a", changes={"loss.lambdas": (1, 0, 0, 0)}, paper=71.46, paper_ref="T1"),
    Setting("b", "config b", changes={"model.shared_blocks": 4}),
]


def test_sweep_runs_resumes_and_redoes_a_crashed_run(tmp_path: Path) -> None:
    base = _base(tmp_path)
    fake = FakeTrain(crash=("b", 2))
    with pytest.raises(RuntimeError, match="killed"):
        run_sweep(SETTINGS, base, tmp_path / "out", [1, 2], runners={"train": fake}, log=str)
    assert fake.calls == [("a", 1), ("a", 2), ("b", 1), ("b", 2)]
    crashed = tmp_path / "out" / "b" / "seed2"
    assert (crashed / "checkpoints" / "last.ckpt").is_file()
    assert not (crashed / "metrics.json").exists()

    fake.calls.clear()
    records = run_sweep(SETTINGS, base, tmp_path / "out", [1, 2], runners={"train": fake}, log=str)
    assert fake.calls == [("b", 2)]  # finished runs skipped, the crashed one redone
    assert [(r.config, r.seed, r.test_acc) for r in records] == [
        ("a", 1, 0.70),
        ("a", 2, 0.80),
        ("b", 1, 0.50),
        ("b", 2, 0.60),
    ]
    # the setting's changes reached the config
    m = json.loads((tmp_path / "out" / "a" / "seed1" / "metrics.json").read_text())
    assert m["lambdas"] == [1.0, 0.0, 0.0, 0.0]

    fake.calls.clear()
    run_sweep(SETTINGS, base, tmp_path / "out", [1, 2], runners={"train": fake}, log=str)
    assert fake.calls == []


def test_sweep_refuses_finished_runs_made_with_other_settings(tmp_path: Path) -> None:
    fake = FakeTrain()
    run_sweep(SETTINGS[:1], _base(tmp_path), tmp_path / "o", [1], runners={"train": fake}, log=str)
    with pytest.raises(ArtefactError, match="other settings"):
        run_sweep(
            SETTINGS[:1],
            _base(tmp_path, {"optim.epochs": 9}),
            tmp_path / "o",
            [1],
            runners={"train": fake},
            log=str,
        )
    # runtime options may change freely
    run_sweep(
        SETTINGS[:1],
        _base(tmp_path, {"runtime.progress_bar": False, "runtime.devices": "2"}),
        tmp_path / "o",
        [1],
        runners={"train": fake},
        log=str,
    )
    assert len(fake.calls) == 1


def test_sweep_never_deletes_a_foreign_folder(tmp_path: Path) -> None:
    foreign = tmp_path / "o" / "a" / "seed1"
    foreign.mkdir(parents=True)
    (foreign / "precious.txt").write_text("x")
    with pytest.raises(ArtefactError, match="not a run folder"):
        run_sweep(
            SETTINGS[:1],
            _base(tmp_path),
            tmp_path / "o",
            [1],
            runners={"train": FakeTrain()},
            log=str,
        )
    assert (foreign / "precious.txt").is_file()


def test_mean_std_on_known_numbers() -> None:
    m, s = mean_std([0.7, 0.8])
    assert m == pytest.approx(0.75) and s == pytest.approx(0.0707107, abs=1e-6)
    m, s = mean_std([1.0, 2.0, 3.0, 4.0])
    assert m == 2.5 and s == pytest.approx(1.2909944, abs=1e-6)  # sample std (ddof=1)
    m, s = mean_std([0.5])
    assert m == 0.5 and math.isnan(s)
    assert all(math.isnan(x) for x in mean_std([]))
    assert mean_std([0.2, float("nan"), 0.4])[0] == pytest.approx(0.3)


def test_aggregate_rows_in_order_with_paper_and_missing_configs() -> None:
    recs = [
        RunRecord("b", 2, "r", 0.5, 0.6),
        RunRecord("a", 1, "r", 0.6, 0.7),
        RunRecord("a", 2, "r", 0.7, 0.8),
        RunRecord("b", 1, "r", 0.4, 0.5),
    ]
    rows = aggregate(
        recs,
        [("a", "A"), ("b", "B"), ("c", "C")],
        paper={"a": (71.46, "T1")},
        notes={"c": "skipped"},
    )
    assert [r.config for r in rows] == ["a", "b", "c"]
    a, b, c = rows
    assert a.seeds == (1, 2) and a.test_mean == pytest.approx(0.75)
    assert a.val_mean == pytest.approx(0.65) and a.paper == 71.46
    assert b.test_std == pytest.approx(0.0707107, abs=1e-6) and b.paper is None
    assert c.n == 0 and math.isnan(c.test_mean) and c.note == "skipped"


def test_csv_and_markdown_writers() -> None:
    rows = [
        Row("a", "config a", (1, 2), 0.65, 0.0707107, 0.75, 0.0707107, 71.46, "Table I #1"),
        Row("b", "x | y", (1,), 0.4, math.nan, 0.5, math.nan, None, "", "one seed"),
    ]
    parsed = list(csv.DictReader(io.StringIO(results_csv(rows))))
    assert parsed[0]["test_acc_mean_pct"] == "75.0000" and parsed[0]["n_seeds"] == "2"
    assert parsed[0]["seeds"] == "1 2" and parsed[0]["paper_acc_pct"] == "71.46"
    assert parsed[1]["test_acc_std_pct"] == "" and parsed[1]["paper_acc_pct"] == ""
    md = results_markdown("T", rows, selection_split="val", settings={"epochs": 3})
    assert "| 1 | config a | 2 | 65.00 ± 7.07 | 75.00 ± 7.07 |  |  |  | 71.46 (Table I #1) |" in md
    assert "| 2 | x \\| y | 1 | 40.00 | 50.00 |  |  |  | — | one seed |" in md
    assert "validation split" in md and "- epochs: `3`" in md
    md_test = results_markdown("T", rows, selection_split="test")
    assert "selected on the TEST split" in md_test and "test (selection!)" in md_test
    assert pm(math.nan, math.nan) == "n/a"
    t = markdown_table(["h1", "h2"], [["1", "2"]])
    assert t.splitlines() == ["| h1 | h2 |", "|---|---|", "| 1 | 2 |"]
    pc = per_class_markdown(
        ["park", "bus"], [("ours", [(0.5, 0.1), (1.0, math.nan)])], {"paper": {"park": 93.38}}
    )
    assert "| ours | 50.0 ± 10.0 | 100.0 |" in pc and "| paper | 93.38 |  |" in pc


def test_settings_follow_the_paper() -> None:
    assert [s.name for s in experiment_settings("shared-blocks")] == [f"N{n}" for n in range(7)]
    abl = experiment_settings("ablation")
    assert len(abl) == 6 and abl[1].kind == "lookup" and abl[1].paper == 36.90
    assert [s.paper for s in abl] == [71.46, 36.90, 72.94, 10.07, 75.80, 74.36]
    assert abl[3].changes["loss.lambdas"] == (0, 1, 0, 1)
    lam = experiment_settings("lambdas")
    assert len(lam) == 8 and lam[5].paper == 77.35 and lam[5].paper_ref == "Table II #6"
    assert [s.changes["loss.lambdas"] for s in lam] == [
        tuple(map(float, r[0])) for r in PAPER_TABLE_II
    ]
    assert lam[5].changes["loss.lambdas"] == PAPER_LAMBDAS
    custom = experiment_settings("lambdas", grid=parse_grid("1,0,1,0.01; 2,0,0,0"))
    assert custom[0].paper == 75.92 and custom[1].paper is None
    base = experiment_settings("baselines")
    assert [s.name for s in base] == [
        "puasc",
        "event_lookup",
        "pann_fixed",
        "pann_finetune",
        "rgasc",
    ]
    assert base[3].kind == "skipped" and "--init-checkpoint" in base[3].note
    ft = experiment_settings("baselines", init_checkpoint="cnn14.pth")[3]
    assert ft.kind == "train" and ft.changes["model.init"] == "panns"
    for s in experiment_settings("baselines", init_checkpoint="cnn14.pth"):  # valid keys
        override(_base(Path("x")), s.changes)
    with pytest.raises(RgascError, match="unknown experiment"):
        experiment_settings("nope")


def test_parsers() -> None:
    assert parse_grid("1,0.01,0.5,0.01;1,0,0,0") == [(1, 0.01, 0.5, 0.01), (1, 0, 0, 0)]
    for bad in ("1,2,3", "a,b,c,d", "1,0,0,-1", ""):
        with pytest.raises(RgascError):
            parse_grid(bad)
    assert parse_seeds(["1 2", "3,1"]) == [1, 2, 3]
    with pytest.raises(RgascError):
        parse_seeds(["x"])


def test_run_experiment_writes_results_and_baselines(tmp_path: Path) -> None:
    calls: list[str] = []

    def fake(kind: str, acc: float):  # noqa: ANN202
        def run(cfg: TrainConfig) -> None:
            calls.append(f"{kind}:{Path(cfg.out).parent.name}:{cfg.seed}")
            m = {"val": {"macro_accuracy": acc}, "test": {"macro_accuracy": acc + cfg.seed / 100}}
            (Path(cfg.out) / "metrics.json").write_text(json.dumps(m))

        return run

    runners = {
        "train": fake("train", 0.5),
        "lookup": fake("lookup", 0.3),
        "pann_fixed": fake("pann", 0.4),
    }
    md = run_experiment(
        "baselines", _base(tmp_path), tmp_path / "x", [1, 2], runners=runners, log=str
    )
    # lookup and PANN fixed are deterministic: one run; fine-tuning skipped without checkpoint
    assert sorted(c.split(":")[0] for c in calls).count("lookup") == 1
    assert len(calls) == 2 + 1 + 1 + 2
    text = md.read_text()
    assert "skipped: needs --init-checkpoint" in text and "| 0 | n/a | n/a |" in text
    rows = list(csv.DictReader(io.StringIO((tmp_path / "x" / "results.csv").read_text())))
    puasc = next(r for r in rows if r["config"] == "puasc")
    assert puasc["test_acc_mean_pct"] == "51.5000" and puasc["n_seeds"] == "2"
    assert (tmp_path / "x" / "runs.csv").is_file()
    with pytest.raises(ArtefactError, match="holds experiment"):
        run_experiment("ablation", _base(tmp_path), tmp_path / "x", [1], runners=runners, log=str)


def test_shared_blocks_and_per_class_figures(tmp_path: Path) -> None:
    def train(cfg: TrainConfig) -> None:
        acc = 0.5 + cfg.model.shared_blocks / 100 + cfg.seed / 1000
        m = {"val": {"macro_accuracy": acc}, "test": {"macro_accuracy": acc}}
        (Path(cfg.out) / "metrics.json").write_text(json.dumps(m))

    md = run_experiment(
        "shared-blocks", _base(tmp_path), tmp_path / "sb", [1, 2], runners={"train": train}, log=str
    )
    assert (tmp_path / "sb" / "shared_blocks.png").stat().st_size > 1000
    assert "Best N on validation: 6" in md.read_text()

    def evaluate(run: Path) -> dict:
        good = 1 if run.parent.name == "rgasc" else 0
        ev = {
            "per_class": [
                {"class": "bus", "accuracy": 0.5 + good / 4},
                {"class": "park", "accuracy": 1.0},
            ],
            "confusion": [[2, 2 - good], [0, 4]],
        }
        (run / "eval_test").mkdir(exist_ok=True)
        (run / "eval_test" / "metrics.json").write_text(json.dumps(ev))
        return ev

    md = run_experiment(
        "per-class",
        _base(tmp_path),
        tmp_path / "pc",
        [1, 2],
        runners={"train": train},
        evaluate_fn=evaluate,
        log=str,
    )
    text = md.read_text()
    assert "| puASC (ours) | 50.0 ± 0.0 | 100.0 ± 0.0 |" in text
    assert "| RGASC (ours) | 75.0 ± 0.0 | 100.0 ± 0.0 |" in text
    assert "| puASC (paper) |" in text
    assert (tmp_path / "pc" / "confusion_side_by_side.png").is_file()


# --- baselines on real (tiny) inputs (the CLI: tests/cli) -------------------------------------
def test_event_lookup_and_pann_fixed_write_run_metrics(tmp_path: Path, tiny_inputs) -> None:
    from rgasc.experiments.baselines import event_lookup, pann_fixed

    inputs = tiny_inputs
    cfg = make_config(
        {
            "data.dataset": inputs.dataset,
            "data.features": inputs.features,
            "data.labels": inputs.labels,
            "data.relation": inputs.relation,
            "out": tmp_path / "lk",
        }
    )
    (tmp_path / "lk").mkdir()
    lk = event_lookup(cfg)
    # the hand-made labels put event k on scene k: the lookup is (nearly) perfect
    assert lk["test"]["macro_accuracy"] > 0.9 and lk["test"]["n"] == 12
    assert json.loads((tmp_path / "lk" / "metrics.json").read_text())["val"]["n"] == 6
    (tmp_path / "pf").mkdir()
    pf = pann_fixed(override(cfg, {"out": tmp_path / "pf"}), cs=(0.1, 1.0))
    assert pf["input"] == "teacher event probabilities" and pf["C"] in (0.1, 1.0)
    assert set(pf["selection_scores"]) == {"0.1", "1"}
    assert pf["test"]["macro_accuracy"] > 0.9
    # probabilities, so a log loss (finite: the [N, K] matrix covers every scene); one device
    assert 0 < pf["test"]["log_loss"] < 1.0 and pf["test"]["devices"] is None
    assert "log_loss" not in lk["test"]  # hard predictions: no log loss

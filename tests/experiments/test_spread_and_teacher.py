"""Issue 24, item 3: an interval of no width is no verdict, and the teacher-probability
baseline is named after the teacher that made the label file."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np

from rgasc.experiments.baselines import labels_teacher
from rgasc.experiments.settings import experiment_settings, teacher_title
from rgasc.experiments.stats import (
    NO_SPREAD,
    comparison_sentence,
    interval_text,
    paired_comparison,
    verdict,
)
from rgasc.experiments.sweep import run_experiment
from rgasc.experiments.tables import RunRecord, aggregate, results_csv, results_table
from rgasc.labels.files import PseudoLabels, write_labels
from rgasc.train import TrainConfig
from rgasc.train.config.tree import make_config


def test_identical_differences_give_no_verdict() -> None:
    # 13 test clips: both seeds one clip better than the baseline (float sums not exactly equal)
    p = paired_comparison({1: 9 / 13, 2: 10 / 13}, {1: 8 / 13, 2: 9 / 13})
    assert p.n == 2 and p.verdict == NO_SPREAD == "no spread: cannot tell"
    # the "+5.00 [+5.00, +5.00] higher"
    p = paired_comparison({1: 0.55, 2: 0.65}, {1: 0.50, 2: 0.60})
    assert p.verdict == NO_SPREAD
    assert interval_text(p) == "+5.00 (every seed alike, no interval)"
    sentence = comparison_sentence("RGASC", "puASC", p)
    assert "no spread: cannot tell" in sentence and "is higher" not in sentence
    assert verdict(0.05, 0.05) == NO_SPREAD and verdict(0.0, 0.0) == NO_SPREAD
    # any spread at all keeps the verdict
    assert paired_comparison({1: 0.56, 2: 0.65}, {1: 0.50, 2: 0.60}).verdict != NO_SPREAD


def test_tables_show_no_spread_instead_of_higher() -> None:
    records = [
        RunRecord(c, s, f"{c}/{s}", 0.5, acc)
        for c, accs in (("base", (0.50, 0.60)), ("new", (0.55, 0.65)))
        for s, acc in zip((1, 2), accs, strict=True)
    ]
    rows = aggregate(records, [("base", "Base"), ("new", "New")], baseline="base")
    table = results_table(rows)
    new = next(line for line in table.splitlines() if "| New |" in line)
    assert "no spread: cannot tell" in new and "higher" not in new and "[" not in new
    assert results_csv(rows).splitlines()[2].count("no spread: cannot tell") == 1


def _labels(path: Path, teacher: str | None) -> Path:
    attrs = {"teacher": teacher} if teacher else {}
    write_labels(path, PseudoLabels(["a.wav"], np.ones((1, 2), np.float32), ["x", "y"], attrs))
    return path


def test_labels_teacher_reads_the_attribute(tmp_path: Path) -> None:
    assert labels_teacher(_labels(tmp_path / "y.h5", "yamnet")) == "yamnet"
    assert labels_teacher(_labels(tmp_path / "n.h5", None)) is None
    assert labels_teacher(_labels(tmp_path / "c.csv", "yamnet")) is None  # CSV: no attributes
    assert labels_teacher(tmp_path / "missing.h5") is None and labels_teacher(None) is None
    assert [teacher_title(t) for t in ("panns-cnn14-16k", "yamnet", "mine", None)] == [
        "PANN",
        "YAMNet",
        "mine",
        "Teacher",
    ]


def test_the_fixed_mode_row_is_named_after_the_teacher() -> None:
    rows = {s.name: s for s in experiment_settings("baselines", teacher="yamnet")}
    fixed = rows["pann_fixed"]
    assert fixed.label.startswith("YAMNet fixed mode") and "PANN" not in fixed.label
    assert "the paper's figure is PANN's" in fixed.note
    pann = {s.name: s for s in experiment_settings("baselines", teacher="panns-cnn14-16k")}
    assert pann["pann_fixed"].label.startswith("PANN fixed mode")


def test_baselines_experiment_reads_the_teacher_from_the_labels(tmp_path: Path) -> None:
    labels = _labels(tmp_path / "labels.h5", "yamnet")
    base: TrainConfig = make_config(
        {
            "data.dataset": "ds",
            "data.features": "feat",
            "data.labels": labels,
            "data.relation": "rel",
            "out": tmp_path / "ignored",
        }
    )

    def run(cfg: TrainConfig) -> None:
        m = {"val": {"macro_accuracy": 0.5}, "test": {"macro_accuracy": 0.5 + cfg.seed / 100}}
        (Path(cfg.out) / "metrics.json").write_text(json.dumps(m))

    runners = {"train": run, "lookup": run, "pann_fixed": run}
    md = run_experiment("baselines", base, tmp_path / "x", [1, 2], runners=runners, log=str)
    text = md.read_text()
    assert "YAMNet fixed mode" in text and "PANN fixed" not in text

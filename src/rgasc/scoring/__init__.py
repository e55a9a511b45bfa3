"""Scoring: metrics (:mod:`rgasc.scoring.metrics`), per-device reports
(:mod:`rgasc.scoring.devices`), figures (:mod:`rgasc.scoring.plots`) and the one function that
scores a model on a split (:mod:`rgasc.scoring.score`).

Metrics and plots are pure: arrays in, numbers or matplotlib Figures out; they know no stage.
Neither the plots nor the scoring (torch) are imported here, so importing the metrics stays light.
"""

from __future__ import annotations

from rgasc.scoring.metrics import (
    confusion_matrix,
    log_loss,
    macro_accuracy,
    mean_average_precision,
    mean_clip_auc,
    overall_accuracy,
    per_class_accuracy,
    per_class_table,
    per_device_accuracy,
    summarize,
)

__all__ = [
    "confusion_matrix",
    "log_loss",
    "macro_accuracy",
    "mean_average_precision",
    "mean_clip_auc",
    "overall_accuracy",
    "per_class_accuracy",
    "per_class_table",
    "per_device_accuracy",
    "summarize",
]

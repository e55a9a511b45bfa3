"""Evaluation: metrics (``rgasc.evaluate.metrics``) and figures (``rgasc.evaluate.plots``).

Both are pure: arrays in, numbers or matplotlib Figures out. The plotting module is not
imported here so that importing the metrics never loads matplotlib.
"""

from __future__ import annotations

from rgasc.evaluate.metrics import (
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

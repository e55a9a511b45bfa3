"""File names shared between stages: one writer, any number of readers, one spelling.

A run folder (``rgasc train --out RUN``)::

    RUN/config.yaml             the resolved TrainConfig (a valid ``rgasc train --config``)
    RUN/metrics.json            selected epoch, selection rule, val/test scores
    RUN/checkpoints/last.ckpt   Lightning state, for ``--resume``
    RUN/checkpoints/best.pt     self-describing model (``rgasc.load_model``)
    RUN/logs/                   CSV + TensorBoard logs
    RUN/eval_SPLIT/             ``rgasc evaluate`` reports (metrics.json, per_class.csv, plots)
"""

from __future__ import annotations

import os
from pathlib import Path

CONFIG_FILE = "config.yaml"
METRICS_FILE = "metrics.json"
CHECKPOINTS_DIR = "checkpoints"
LAST_CKPT = Path(CHECKPOINTS_DIR) / "last.ckpt"
BEST_MODEL = Path(CHECKPOINTS_DIR) / "best.pt"
LOGS_DIR = "logs"
#: Every training session's CSV log, merged at the end of a run (rgasc.train.loop.logs).
TRAINING_LOG = Path(LOGS_DIR) / "metrics.csv"
#: The event-only lookup's scores, beside R_SE (``rgasc relation --evaluate``).
LOOKUP_FILE = "lookup.json"
#: Ground-truth events of a dataset (``rgasc synth``, the real-sound benchmark).
EVENTS_FILE = "events.csv"
#: Clips a batch stage could not read, beside its output.
BAD_CLIPS_FILE = "bad_clips.csv"


def eval_dir(run: str | os.PathLike[str], split: str) -> Path:
    """Where ``rgasc evaluate --model RUN --split SPLIT`` writes its report by default."""
    return Path(run) / f"eval_{split}"

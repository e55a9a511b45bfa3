"""The run's training log: one Lightning CSV log per training session, merged for reading.

Lightning's ``CSVLogger`` deletes an existing ``metrics.csv`` when it starts, so a resumed run
would lose its history. Each session (the first run, then every ``--resume``) therefore logs to
its own folder ``RUN/logs/csv/session_<k>/metrics.csv``, and :func:`read_training_log` merges
them; :func:`write_merged_log` writes the merge to ``RUN/logs/metrics.csv`` at the end of a run.
"""

from __future__ import annotations

import csv
import os
import re
from pathlib import Path

from rgasc.artefacts import LOGS_DIR as LOG_DIR  # one name for the run's log folder
from rgasc.artefacts import TRAINING_LOG
from rgasc.utils import atomic_path

CSV_DIR = "csv"


def session_dirs(run_dir: str | os.PathLike[str]) -> list[Path]:
    """Existing session folders, oldest first."""
    root = Path(run_dir) / LOG_DIR / CSV_DIR
    found = []
    for p in root.glob("session_*"):
        m = re.fullmatch(r"session_(\d+)", p.name)
        if m and p.is_dir():
            found.append((int(m.group(1)), p))
    return [p for _, p in sorted(found)]


def next_session(run_dir: str | os.PathLike[str]) -> str:
    """Version name of the next session's CSV log (``session_<k>``)."""
    dirs = session_dirs(run_dir)
    k = int(dirs[-1].name.split("_")[1]) + 1 if dirs else 0
    return f"session_{k}"


def _epoch(row: dict[str, str]) -> float | None:
    try:
        return float(row.get("epoch", ""))
    except ValueError:
        return None


def read_training_log(run_dir: str | os.PathLike[str]) -> list[dict[str, str]]:
    """Rows of every session's ``metrics.csv``, in order.

    A resumed session restarts at the epoch after the last saved checkpoint; rows an earlier
    session logged for that epoch or later (an epoch interrupted half-way) are dropped.
    """
    sessions: list[list[dict[str, str]]] = []
    for d in session_dirs(run_dir):
        f = d / "metrics.csv"
        if f.is_file():
            with open(f, newline="") as fh:
                sessions.append(list(csv.DictReader(fh)))
    merged: list[dict[str, str]] = []
    for rows in sessions:
        epochs = [e for r in rows if (e := _epoch(r)) is not None]
        if epochs:
            start = min(epochs)
            merged = [r for r in merged if (e := _epoch(r)) is None or e < start]
        merged.extend(rows)
    return merged


def write_merged_log(run_dir: str | os.PathLike[str]) -> Path | None:
    """Write ``RUN/logs/metrics.csv`` (all sessions merged); None when nothing was logged."""
    rows = read_training_log(run_dir)
    if not rows:
        return None
    keys: list[str] = []
    for r in rows:
        keys.extend(k for k in r if k not in keys)
    # epoch and step first, the metrics sorted: stable columns across sessions
    head = [k for k in ("epoch", "step") if k in keys]
    fields = head + sorted(k for k in keys if k not in head)
    path = Path(run_dir) / TRAINING_LOG
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        w = csv.DictWriter(f, fieldnames=fields, restval="")
        w.writeheader()
        w.writerows(rows)
    return path

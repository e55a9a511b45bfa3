"""Per-device scores and the seen/unseen-device summary (DCASE 2020 Task 1A's reporting).

Arrays in, numbers out. The clips of a split are grouped by recording device; each device
gets its macro (class-wise) accuracy, overall accuracy, log loss and clip count. Devices are
then split into *seen* (present in the training split) and *unseen* (the dataset's devices
that training never heard: TAU 2020 Mobile's s4-s6, from the registry, or those of the
evaluate fold absent from the training fold, :meth:`DcaseDataset.unseen_devices`). Each side is
summarised by the mean over its devices (every device counts once, as the task's ranking
does), not by pooling its clips, which would let device a's many clips dominate.

A split recorded by one device has no device table: :func:`device_report` returns None.
"""

from __future__ import annotations

import csv
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rgasc.data.datasets import device_sort_key
from rgasc.scoring.metrics import log_loss, macro_accuracy, overall_accuracy
from rgasc.utils import atomic_path

__all__ = [
    "DEVICE_CSV_FIELDS",
    "device_lines",
    "device_report",
    "device_rows",
    "device_summary",
    "summary_lines",
    "write_device_csv",
]

DEVICE_CSV_FIELDS = (
    "device",
    "unseen",
    "n",
    "classes",
    "macro_accuracy",
    "overall_accuracy",
    "log_loss",
)


def _devices(devices: Sequence[str], n: int) -> np.ndarray:
    d = np.asarray([str(x) for x in devices])
    if d.shape != (n,):
        raise ValueError(f"devices has {d.size} entries for {n} clips")
    return d


def device_rows(
    y_true: Any, probs: Any, devices: Sequence[str], unseen: Sequence[str] = ()
) -> list[dict[str, Any]]:
    """One row of scores per device present in the split.

    Args:
        y_true: int class ids [N]; probs: class probabilities [N, K];
        devices: device name of each clip, length N;
        unseen: devices never heard in training (may list devices absent from the split).
    Returns:
        ``[{"device", "unseen", "n", "classes", "macro_accuracy", "overall_accuracy",
        "log_loss"}]`` in natural device order (a, b, c, s1, ..., s10); ``classes`` is the
        number of classes that device has clips of: its macro accuracy averages over those
        only (a device that lacks a class is not scored on it).
    """
    t = np.asarray(y_true, dtype=np.int64)
    p = np.asarray(probs, dtype=np.float64)
    if p.ndim != 2 or p.shape[0] != t.size:
        raise ValueError(f"probs must be [N={t.size}, K], got shape {p.shape}")
    d = _devices(devices, t.size)
    k = p.shape[1]
    pred = p.argmax(axis=1) if t.size else np.zeros(0, dtype=np.int64)
    hidden = {str(x) for x in unseen}
    rows = []
    for name in sorted(set(d.tolist()), key=device_sort_key):
        m = d == name
        rows.append(
            {
                "device": name,
                "unseen": name in hidden,
                "n": int(m.sum()),
                "classes": int(np.unique(t[m]).size),
                "macro_accuracy": macro_accuracy(t[m], pred[m], k),
                "overall_accuracy": overall_accuracy(t[m], pred[m]),
                "log_loss": log_loss(t[m], p[m]),
            }
        )
    return rows


def _mean(values: Sequence[float]) -> float:
    v = [x for x in values if x is not None and math.isfinite(x)]
    return float(np.mean(v)) if v else math.nan


def device_summary(rows: Sequence[Mapping[str, Any]]) -> dict[str, dict[str, Any]]:
    """Seen and unseen sides of :func:`device_rows`: the mean over each side's devices.

    Returns:
        ``{"seen": {...}, "unseen": {...}}``, each ``{"devices": [names], "n": clips,
        "macro_accuracy": mean of the devices' macro accuracies, "log_loss": mean of their
        log losses}``; NaN means where a side has no device in the split.
    """
    out: dict[str, dict[str, Any]] = {}
    for side, flag in (("seen", False), ("unseen", True)):
        mine = [r for r in rows if bool(r["unseen"]) is flag]
        out[side] = {
            "devices": [str(r["device"]) for r in mine],
            "n": int(sum(int(r["n"]) for r in mine)),
            "macro_accuracy": _mean([r["macro_accuracy"] for r in mine]),
            "log_loss": _mean([r["log_loss"] for r in mine]),
        }
    return out


def device_report(
    y_true: Any, probs: Any, devices: Sequence[str] | None, unseen: Sequence[str] = ()
) -> dict[str, Any] | None:
    """Rows and seen/unseen summary, or None when the split has fewer than two devices.

    Returns:
        ``{"rows": device_rows(...), "seen": {...}, "unseen": {...},
        "unseen_devices": sorted(unseen)}`` (``unseen_devices`` is what the dataset says
        training never heard, whether or not the split holds those devices).
    """
    if devices is None:
        return None
    rows = device_rows(y_true, probs, devices, unseen)
    if len(rows) < 2:
        return None
    return {
        "rows": rows,
        **device_summary(rows),
        "unseen_devices": sorted({str(x) for x in unseen}, key=device_sort_key),
    }


def _num(x: Any, digits: int = 4) -> str:
    return f"{x:.{digits}f}" if isinstance(x, int | float) and math.isfinite(x) else ""


def write_device_csv(path: str | Path, rows: Sequence[Mapping[str, Any]]) -> None:
    """``per_device.csv``: one line per device (:data:`DEVICE_CSV_FIELDS`); blank for NaN."""
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(DEVICE_CSV_FIELDS)
        for r in rows:
            w.writerow(
                [
                    r["device"],
                    "yes" if r["unseen"] else "no",
                    r["n"],
                    r["classes"],
                    _num(r["macro_accuracy"]),
                    _num(r["overall_accuracy"]),
                    _num(r["log_loss"]),
                ]
            )


def device_lines(report: Mapping[str, Any] | None) -> list[str]:
    """Human-readable lines of a :func:`device_report` (also read back from JSON: None = NaN).

    Example::

        per device      macro acc  log loss  clips
          a                0.6667    0.9213      6
          s4 (unseen)      0.3333    1.2044      6
        seen devices (a, b, s1): macro acc 0.6111  log loss 0.9400  (18 clips)
        unseen devices (s4): macro acc 0.3333  log loss 1.2044  (6 clips)
    """
    if not report:
        return []
    lines = [f"{'per device':<16s}{'macro acc':>10s}{'log loss':>10s}{'clips':>7s}"]
    for r in report["rows"]:
        name = r["device"] + (" (unseen)" if r["unseen"] else "")
        acc, ll = _num(r["macro_accuracy"]) or "n/a", _num(r["log_loss"]) or "n/a"
        lines.append(f"  {name:<14s}{acc:>10s}{ll:>10s}{r['n']:>7d}")
    return lines + summary_lines(report)


def summary_lines(report: Mapping[str, Any] | None) -> list[str]:
    """The seen / unseen lines of :func:`device_lines` alone ([] without a report)."""
    if not report:
        return []
    lines: list[str] = []
    for side in ("seen", "unseen"):
        s = report[side]
        if not s["devices"]:
            if side == "unseen":
                known = report.get("unseen_devices") or []
                lines.append(
                    f"unseen devices: none in this split (the dataset's: {', '.join(known)})"
                    if known
                    else "unseen devices: none (every device was heard in training)"
                )
            continue
        lines.append(
            f"{side} devices ({', '.join(s['devices'])}): macro acc "
            f"{_num(s['macro_accuracy']) or 'n/a'}  log loss {_num(s['log_loss']) or 'n/a'}  "
            f"({s['n']} clips)"
        )
    return lines

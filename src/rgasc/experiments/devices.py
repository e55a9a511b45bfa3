"""Log loss and per-device tables of ``rgasc experiment``: pure functions over run metrics.

Every finished run leaves ``metrics.json`` whose ``test`` entry holds the selected model's
macro accuracy, log loss (the DCASE 2020+ metric; absent for baselines without
probabilities) and, on a dataset with several recording devices, a ``devices`` report
(:func:`rgasc.scoring.devices.device_report`: per-device macro accuracy and clip counts, the
means over seen and unseen devices). This module aggregates them over seeds:

- a table of test macro accuracy beside test log loss, one row per configuration;
- when any run has a device report, a per-device table (seen mean, unseen mean, each device:
  macro accuracy in %, mean ± std over seeds) and ``devices.csv`` (every run x device).

A dataset recorded by one device gets no per-device table and no ``devices.csv``.
"""

from __future__ import annotations

import csv
import io
import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rgasc.artefacts import METRICS_FILE
from rgasc.data.datasets import device_sort_key
from rgasc.experiments.tables import RunRecord, markdown_table, mean_std, pm
from rgasc.utils import read_json, write_text_atomic

#: Scores of one run's test split (metrics.json "test"), keyed by the run folder.
Scores = Mapping[str, Mapping[str, Any]]

DEVICES_CSV_FIELDS = (
    "config",
    "seed",
    "device",
    "unseen",
    "n",
    "classes",
    "macro_accuracy",
    "log_loss",
    "run",
)


def _float(x: Any) -> float:
    return float(x) if isinstance(x, int | float) and not isinstance(x, bool) else math.nan


def plain_pm(mean: float, std: float, digits: int = 3) -> str:
    """``mean ± std`` as plain numbers (log loss); no ± for one seed, "n/a" for none."""
    if not math.isfinite(mean):
        return "n/a"
    if not math.isfinite(std):
        return f"{mean:.{digits}f}"
    return f"{mean:.{digits}f} ± {std:.{digits}f}"


def _mine(records: Sequence[RunRecord], config: str) -> list[RunRecord]:
    return sorted((r for r in records if r.config == config), key=lambda r: r.seed)


def _report(scores: Scores, run: str) -> Mapping[str, Any] | None:
    rep = scores.get(run, {}).get("devices")
    return rep if isinstance(rep, Mapping) and rep.get("rows") else None


def loss_table(
    records: Sequence[RunRecord], configs: Sequence[tuple[str, str]], scores: Scores
) -> str:
    """Markdown: configuration, seeds, test macro accuracy %, test log loss (mean ± std)."""
    body = []
    for name, label in configs:
        mine = _mine(records, name)
        acc = mean_std([r.test_acc for r in mine])
        loss = mean_std([_float(scores.get(r.run, {}).get("log_loss")) for r in mine])
        body.append([label, str(len(mine)), pm(*acc), plain_pm(*loss)])
    return markdown_table(["configuration", "seeds", "test acc %", "test log loss"], body)


def device_names(records: Sequence[RunRecord], scores: Scores) -> tuple[list[str], set[str]]:
    """Every device of the runs' test reports (natural order) and those marked unseen."""
    names: set[str] = set()
    unseen: set[str] = set()
    for r in records:
        rep = _report(scores, r.run)
        for row in rep["rows"] if rep else ():
            names.add(str(row["device"]))
            if row.get("unseen"):
                unseen.add(str(row["device"]))
    return sorted(names, key=device_sort_key), unseen


def device_table(
    records: Sequence[RunRecord], configs: Sequence[tuple[str, str]], scores: Scores
) -> str:
    """Markdown: per configuration, seen / unseen means and each device's macro accuracy %.

    Empty when no run has a device report (a one-device dataset). Unseen devices are
    starred in the header; a last row gives each device's test clips (of the first run).
    """
    devices, unseen = device_names(records, scores)
    if not devices:
        return ""
    header = ["configuration", "seen %", "unseen %"]
    header += [d + ("*" if d in unseen else "") for d in devices]
    body = []
    counts: dict[str, int] = {}
    for name, label in configs:
        reps = [rep for r in _mine(records, name) if (rep := _report(scores, r.run))]
        if not reps:
            continue
        row = [label]
        for side in ("seen", "unseen"):
            row.append(pm(*mean_std([_float(rep[side]["macro_accuracy"]) for rep in reps])))
        for d in devices:
            vals = [
                _float(x["macro_accuracy"]) for rep in reps for x in rep["rows"] if x["device"] == d
            ]
            row.append(pm(*mean_std(vals)))
        for x in reps[0]["rows"]:
            counts.setdefault(str(x["device"]), int(x["n"]))
        body.append(row)
    body.append(["test clips", "", "", *(str(counts.get(d, "")) for d in devices)])
    return markdown_table(header, body)


def devices_csv(records: Sequence[RunRecord], scores: Scores) -> str:
    """Every run x device of the test split (fractions); only the header when none has one."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(DEVICES_CSV_FIELDS)
    for r in sorted(records, key=lambda r: (r.config, r.seed)):
        rep = _report(scores, r.run)
        for x in rep["rows"] if rep else ():
            acc, loss = _float(x["macro_accuracy"]), _float(x["log_loss"])
            w.writerow(
                [
                    r.config,
                    r.seed,
                    x["device"],
                    "yes" if x.get("unseen") else "no",
                    x["n"],
                    x.get("classes", ""),
                    f"{acc:.6f}" if math.isfinite(acc) else "",
                    f"{loss:.6f}" if math.isfinite(loss) else "",
                    r.run,
                ]
            )
    return buf.getvalue()


def device_markdown(
    records: Sequence[RunRecord], configs: Sequence[tuple[str, str]], scores: Scores
) -> str:
    """The results.md section: the log-loss table, then the per-device one when there is one."""
    parts = [
        "\n## Test log loss\n\nMacro accuracy (%) beside the multi-class log loss (the DCASE "
        "2020+ metric; n/a for baselines that predict no probabilities), mean ± std over "
        "seeds.\n\n",
        loss_table(records, configs, scores),
    ]
    table = device_table(records, configs, scores)
    if table:
        parts += [
            "\n## Test accuracy per device (%)\n\nMacro accuracy of each recording device's "
            "clips, mean ± std over seeds; seen / unseen = the mean over the devices present / "
            "absent in the training split (* = unseen). Every run x device, with log loss: "
            "`devices.csv`.\n\n",
            table,
        ]
    return "".join(parts)


def read_test_scores(records: Sequence[RunRecord]) -> dict[str, Mapping[str, Any]]:
    """Each run's ``metrics.json`` ``test`` entry ({} when missing or unreadable)."""
    out: dict[str, Mapping[str, Any]] = {}
    for r in records:
        path = Path(r.run) / METRICS_FILE
        try:
            test = read_json(path).get("test") if path.is_file() else None
        except (OSError, ValueError, AttributeError):
            test = None  # a run's scores only add columns; an odd file leaves them blank
        out[r.run] = test if isinstance(test, Mapping) else {}
    return out


def device_results(
    out: str | Path, records: Sequence[RunRecord], configs: Sequence[tuple[str, str]]
) -> str:
    """Read the runs' test scores, write ``out/devices.csv`` (2+ devices); return the markdown."""
    scores = read_test_scores(records)
    text = devices_csv(records, scores)
    if text.count("\n") > 1:
        write_text_atomic(Path(out) / "devices.csv", text)
    return device_markdown(records, configs, scores)

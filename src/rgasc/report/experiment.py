"""An experiment folder on the page: mean ± std over seeds, the paired interval, one member.

``rgasc experiment`` writes ``OUT/experiment.json``, ``OUT/results.csv`` (one row per
configuration: mean and sample std over seeds, the paired comparison with the baseline,
:mod:`rgasc.experiments.tables`), ``OUT/runs.csv`` (every run) and a run folder per
configuration and seed (``OUT/<config>/seed<k>/``). The page shows the results rows as they
were computed there, the test log loss over seeds (:func:`rgasc.experiments.stats.spread` over
the member runs' metrics.json), and the clips of one member run.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import os
from pathlib import Path
from typing import Any

from rgasc.artefacts import BEST_MODEL, METRICS_FILE
from rgasc.errors import ArtefactError
from rgasc.experiments.devices import plain_pm
from rgasc.experiments.stats import LEVEL, Paired, interval_text, spread
from rgasc.experiments.tables import pm, selection_sentence
from rgasc.utils import read_json

#: Written by ``rgasc experiment`` (rgasc.experiments.sweep) at the top of its folder.
EXPERIMENT_FILE = "experiment.json"
RESULTS_FILE = "results.csv"
RUNS_FILE = "runs.csv"


@dataclasses.dataclass(frozen=True)
class ExperimentRow:
    """One configuration, as display strings (accuracies in %, Δ in percentage points)."""

    config: str
    label: str
    seeds: str
    val: str
    test: str
    log_loss: str
    diff: str
    verdict: str


@dataclasses.dataclass(frozen=True)
class ExperimentSummary:
    """What the page says about an experiment folder."""

    name: str
    folder: Path
    seeds: list[int]
    selection: str
    rows: list[ExperimentRow]
    member: str
    level: float = LEVEL


def is_experiment(folder: str | os.PathLike[str]) -> bool:
    return (Path(folder) / EXPERIMENT_FILE).is_file()


def _read_csv(path: Path) -> list[dict[str, str]]:
    if not path.is_file():
        raise ArtefactError(
            f"{path}: missing; the experiment has not finished: rerun the same "
            "`rgasc experiment` command (finished runs are kept)"
        )
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _frac(text: str | None) -> float:
    """A percentage cell of results.csv as a fraction (NaN when blank)."""
    try:
        return float(text) / 100 if text else math.nan
    except ValueError:
        return math.nan


def _interval(row: dict[str, str]) -> str:
    """The paired comparison of results.csv, in :func:`interval_text`'s words."""
    n = int(row.get("diff_n_seeds") or 0)
    if n == 0:
        return ""
    mean, low, high = (_frac(row.get(f"diff_test_{k}_pp")) for k in ("mean", "ci_low", "ci_high"))
    verdict = row.get("verdict", "")
    return interval_text(Paired(n, mean, math.nan, low, high, verdict))


def member_runs(folder: Path) -> list[tuple[str, int, Path]]:
    """(config, seed, run folder) of every run in runs.csv, located under ``folder`` (the
    folder may have moved since the runs were recorded)."""
    out = []
    for r in _read_csv(folder / RUNS_FILE):
        try:
            seed = int(r["seed"])
        except (KeyError, ValueError) as e:
            raise ArtefactError(
                f"{folder / RUNS_FILE}: bad seed ({e}); rerun the experiment"
            ) from e
        out.append((r["config"], seed, folder / r["config"] / f"seed{seed}"))
    return out


def _log_loss(runs: list[Path]) -> str:
    values: list[float | None] = []
    for run in runs:
        path = run / METRICS_FILE
        m: Any = read_json(path) if path.is_file() else {}
        test = m.get("test") if isinstance(m, dict) else None
        values.append(test.get("log_loss") if isinstance(test, dict) else None)
    s = spread(values)
    return plain_pm(s.mean, s.std)


def pick_member(folder: Path, member: str | None = None) -> tuple[str, Path]:
    """The run whose clips the page shows: ``member`` ("CONFIG/seedK"), else the first trained
    run (one with best.pt) in runs.csv order.

    Raises:
        ArtefactError: an unknown member, or no trained run at all.
    """
    runs = member_runs(folder)
    names = [f"{c}/seed{s}" for c, s, _ in runs]
    if member is not None:
        if member not in names:
            raise ArtefactError(
                f"{folder / RUNS_FILE}: no run {member!r}; use one of {', '.join(names)}"
            )
        return member, runs[names.index(member)][2]
    for name, (_, _, run) in zip(names, runs, strict=True):
        if (run / BEST_MODEL).is_file():
            return name, run
    raise ArtefactError(
        f"{folder}: no run of the experiment has {BEST_MODEL}; the page needs a trained "
        "run: report one run folder instead"
    )


def read_experiment(folder: str | os.PathLike[str], member: str | None = None) -> ExperimentSummary:
    """The experiment's rows (results.csv), test log loss over seeds, and the member shown."""
    d = Path(folder)
    info = read_json(d / EXPERIMENT_FILE)
    if not isinstance(info, dict):
        raise ArtefactError(f"{d / EXPERIMENT_FILE}: not an experiment record; rerun it")
    runs = member_runs(d)
    base = info.get("base") or {}
    select_on = str((base.get("optim") or {}).get("select_on", "val"))
    rows = []
    for r in _read_csv(d / RESULTS_FILE):
        mine = [run for c, _, run in runs if c == r.get("config")]
        rows.append(
            ExperimentRow(
                config=r.get("config", ""),
                label=r.get("label", ""),
                seeds=r.get("seeds", ""),
                val=pm(_frac(r.get("val_acc_mean_pct")), _frac(r.get("val_acc_std_pct"))),
                test=pm(_frac(r.get("test_acc_mean_pct")), _frac(r.get("test_acc_std_pct"))),
                log_loss=_log_loss(mine),
                diff=_interval(r),
                verdict=r.get("verdict", ""),
            )
        )
    name, _ = pick_member(d, member)
    return ExperimentSummary(
        name=str(info.get("experiment", d.name)),
        folder=d,
        seeds=[int(s) for s in info.get("seeds", [])],
        selection=selection_sentence(select_on).replace("**", ""),
        rows=rows,
        member=name,
    )

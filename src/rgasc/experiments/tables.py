"""Aggregation and table writers of ``rgasc experiment``: pure functions, known numbers in/out.

A sweep yields one :class:`RunRecord` per configuration x seed (macro accuracies of the
selected model on the validation and test splits). :func:`aggregate` turns them into one
:class:`Row` per configuration (mean, sample standard deviation, min and max over seeds, and
the paired comparison of its test accuracy with the experiment's baseline row,
:mod:`rgasc.experiments.stats`), and the writers render rows as ``results.csv`` and a
markdown table with the paper's figure beside ours. Accuracies are fractions in records and
percentages in the written tables (the paper's unit).
"""

from __future__ import annotations

import csv
import dataclasses
import io
import math
import os
from collections.abc import Collection, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rgasc.experiments.stats import LEVEL, Paired, interval_text, paired_comparison, spread
from rgasc.utils import write_text_atomic


@dataclasses.dataclass(frozen=True)
class RunRecord:
    """One finished run of a sweep.

    Attributes:
        config: configuration name (the run folder's parent, e.g. ``N2``).
        seed: the run's seed. run: its folder.
        val_acc, test_acc: macro accuracy (fraction) of the selected model; NaN if absent.
        per_class: test accuracy per scene (fraction), when the run was evaluated per class.
        train_acc: the selected model's macro accuracy on the training split (runs with
            ``select.score_all``), NaN otherwise.
    """

    config: str
    seed: int
    run: str
    val_acc: float
    test_acc: float
    per_class: Mapping[str, float] | None = None
    train_acc: float = math.nan


@dataclasses.dataclass(frozen=True)
class Row:
    """One configuration of an experiment, aggregated over its seeds (fractions)."""

    config: str
    label: str
    seeds: tuple[int, ...]
    val_mean: float
    val_std: float
    test_mean: float
    test_std: float
    paper: float | None = None  # the paper's accuracy in %, None where it reports none
    paper_ref: str = ""
    note: str = ""
    test_min: float = math.nan
    test_max: float = math.nan
    baseline: str = ""  # the config compared with ("" = none; the baseline row names itself)
    diff: Paired | None = None  # test accuracy minus the baseline's, paired by seed
    train_mean: float = math.nan  # the selected model on the training split (when scored)
    train_std: float = math.nan

    @property
    def n(self) -> int:
        return len(self.seeds)


def mean_std(values: Sequence[float]) -> tuple[float, float]:
    """Mean and sample standard deviation (ddof=1) of the finite values.

    Returns (nan, nan) for no value and (x, nan) for one: one seed says nothing about spread.
    """
    v = np.asarray([x for x in values if x is not None and math.isfinite(x)], dtype=np.float64)
    if v.size == 0:
        return math.nan, math.nan
    if v.size == 1:
        return float(v[0]), math.nan
    return float(v.mean()), float(v.std(ddof=1))


def aggregate(
    records: Sequence[RunRecord],
    configs: Sequence[tuple[str, str]],
    paper: Mapping[str, tuple[float | None, str]] | None = None,
    notes: Mapping[str, str] | None = None,
    *,
    baseline: str | None = None,
    constant: Collection[str] = (),
    versus: Mapping[str, str] | None = None,
) -> list[Row]:
    """One row per configuration, in ``configs`` order.

    Args:
        records: finished runs (any order; configurations absent from ``configs`` ignored).
        configs: (config name, table label) pairs: the rows wanted, in order. A configuration
            without records still gets a row (n = 0), so a skipped baseline stays visible.
        paper: config -> (the paper's accuracy in % or None, where it is reported).
        notes: config -> free text for the note column.
        baseline: the config every other row is compared with (paired by seed on the test
            accuracy); None for no comparison.
        constant: deterministic configs (run once): their one run pairs with every seed.
        versus: config -> the config it is compared with instead of ``baseline``.
    """
    paper = paper or {}
    notes = notes or {}
    versus = versus or {}
    rows = []
    for name, label in configs:
        mine = sorted((r for r in records if r.config == name), key=lambda r: r.seed)
        vm, vs = mean_std([r.val_acc for r in mine])
        tm, ts = mean_std([r.test_acc for r in mine])
        trm, trs = mean_std([r.train_acc for r in mine])
        test = spread([r.test_acc for r in mine])
        p, ref = paper.get(name, (None, ""))
        diff = None
        other = versus.get(name, baseline)
        base = {r.seed: r.test_acc for r in records if r.config == other}
        if other is not None and name != other and mine and base:
            diff = paired_comparison(
                {r.seed: r.test_acc for r in mine},
                base,
                row_constant=name in constant,
                baseline_constant=other in constant,
            )
        rows.append(
            Row(
                name,
                label,
                tuple(r.seed for r in mine),
                vm,
                vs,
                tm,
                ts,
                p,
                ref,
                notes.get(name, ""),
                test.min,
                test.max,
                other or "",
                diff,
                trm,
                trs,
            )
        )
    return rows


def per_class_stats(
    records: Sequence[RunRecord], config: str, scenes: Sequence[str]
) -> list[tuple[float, float]]:
    """(mean, sample std) over seeds of one configuration's per-scene test accuracy."""
    mine = [r for r in records if r.config == config and r.per_class is not None]
    out = []
    for s in scenes:
        vals = [float(r.per_class[s]) for r in mine if r.per_class and s in r.per_class]
        out.append(mean_std(vals))
    return out


# --- formatting -----------------------------------------------------------------------------
def pct(x: float | None, digits: int = 2) -> str:
    """A fraction as a percentage string; blank for None/NaN."""
    if x is None or not math.isfinite(x):
        return ""
    return f"{100 * x:.{digits}f}"


def pm(mean: float, std: float, digits: int = 2) -> str:
    """``mean ± std`` in %; the ± part is left out when std is undefined (one seed)."""
    if not math.isfinite(mean):
        return "n/a"
    if not math.isfinite(std):
        return pct(mean, digits)
    return f"{pct(mean, digits)} ± {pct(std, digits)}"


def _paper_cell(row: Row) -> str:
    if row.paper is None:
        return "—"
    return f"{row.paper:.2f}" + (f" ({row.paper_ref})" if row.paper_ref else "")


CSV_FIELDS = (
    "config",
    "label",
    "n_seeds",
    "seeds",
    "val_acc_mean_pct",
    "val_acc_std_pct",
    "test_acc_mean_pct",
    "test_acc_std_pct",
    "paper_acc_pct",
    "paper_ref",
    "note",
    "test_acc_min_pct",
    "test_acc_max_pct",
    "baseline",
    "diff_n_seeds",
    "diff_test_mean_pp",
    "diff_test_ci_low_pp",
    "diff_test_ci_high_pp",
    "verdict",
    "train_acc_mean_pct",
    "train_acc_std_pct",
)


def results_csv(rows: Sequence[Row]) -> str:
    """CSV text of the rows (percentages with 4 decimals; blank where undefined)."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(CSV_FIELDS)
    for r in rows:
        w.writerow(
            [
                r.config,
                r.label,
                r.n,
                " ".join(str(s) for s in r.seeds),
                pct(r.val_mean, 4),
                pct(r.val_std, 4),
                pct(r.test_mean, 4),
                pct(r.test_std, 4),
                "" if r.paper is None else f"{r.paper:g}",
                r.paper_ref,
                r.note,
                pct(r.test_min, 4),
                pct(r.test_max, 4),
                r.baseline,
                *_diff_cells(r),
                pct(r.train_mean, 4),
                pct(r.train_std, 4),
            ]
        )
    return buf.getvalue()


def _diff_cells(r: Row) -> list[str]:
    """diff_n_seeds, mean, CI low, CI high (percentage points), verdict."""
    if r.diff is None:
        return ["", "", "", "", "baseline" if r.baseline and r.config == r.baseline else ""]
    d = r.diff
    return [str(d.n), pct(d.mean, 4), pct(d.low, 4), pct(d.high, 4), d.verdict]


def min_max(lo: float, hi: float, digits: int = 2) -> str:
    """``lo–hi`` in %; blank when undefined."""
    if not (math.isfinite(lo) and math.isfinite(hi)):
        return ""
    return f"{pct(lo, digits)}–{pct(hi, digits)}"


def _md_escape(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def markdown_table(header: Sequence[str], body: Sequence[Sequence[str]]) -> str:
    """A GitHub markdown table (cells escaped for ``|``)."""
    lines = ["| " + " | ".join(_md_escape(h) for h in header) + " |"]
    lines.append("|" + "|".join("---" for _ in header) + "|")
    lines += ["| " + " | ".join(_md_escape(c) for c in row) + " |" for row in body]
    return "\n".join(lines) + "\n"


def results_table(rows: Sequence[Row], selection_split: str = "val") -> str:
    """The results as a markdown table: ours (mean ± std over seeds) beside the paper's."""
    sel = "val (selection)" if selection_split == "val" else "val"
    test = "test" if selection_split == "val" else "test (selection!)"
    header = [
        "#",
        "configuration",
        "seeds",
        f"{sel} acc %",
        f"{test} acc %",
        "test min–max %",
        f"Δ test vs baseline, pp [{100 * LEVEL:g} % CI]",
        "verdict",
        "paper %",
        "note",
    ]
    number = {r.config: i for i, r in enumerate(rows, start=1)}
    several = _several_baselines(rows)
    train = any(math.isfinite(r.train_mean) for r in rows)
    body = []
    for i, r in enumerate(rows, start=1):
        diff = interval_text(r.diff) if r.diff is not None else ""
        if several and diff and r.baseline in number:
            diff = f"vs #{number[r.baseline]}: {diff}"
        cells = [
            str(i),
            r.label,
            str(r.n),
            pm(r.val_mean, r.val_std),
            pm(r.test_mean, r.test_std),
            min_max(r.test_min, r.test_max),
            diff,
            _diff_cells(r)[-1],
            _paper_cell(r),
            r.note,
        ]
        tr = pm(r.train_mean, r.train_std) if math.isfinite(r.train_mean) else ""
        body.append([*cells[:3], tr, *cells[3:]] if train else cells)
    if train:
        header.insert(3, "train acc %")
    return markdown_table(header, body)


def _several_baselines(rows: Sequence[Row]) -> bool:
    return len({r.baseline for r in rows if r.diff is not None}) > 1


def spread_footnote(rows: Sequence[Row]) -> str:
    """How to read the spread and comparison columns (names the baseline row)."""
    base = next((r for r in rows if r.baseline and r.config == r.baseline), None)
    n = max((r.n for r in rows), default=0)
    text = (
        f"Mean ± sample standard deviation (ddof 1) and min–max over seeds (up to {n}). "
        "Δ test: each row's test macro accuracy minus the baseline's, paired by seed (same "
        f"seed, same split), in percentage points: mean and {100 * LEVEL:g} % paired t "
        'interval (mean ± t(0.975, n-1) · sd / √n, scipy.stats.t); verdict "no difference" '
        'when the interval covers 0, "higher"/"lower" when it excludes it, "n/a" with '
        'fewer than 2 paired seeds, "no spread: cannot tell" when every paired seed gives the '
        "same difference (an interval of no width is no evidence). A deterministic row (run "
        "once) is paired with every seed."
    )
    if _several_baselines(rows):
        text += " Each row is compared with the row its Δ names (vs #k)."
    elif base is not None:
        text += f" Baseline: {base.label}."
    if any(math.isfinite(r.train_mean) for r in rows):
        text += (
            " Train acc: the selected weights scored on the training split (no augmentation);"
            " train minus val is the generalisation gap."
        )
    return text + "\n"


def selection_sentence(selection_split: str, rule: str = "") -> str:
    """How the numbers were selected and reported, said plainly (``rule``: the selection
    rule in words, e.g. "best epoch")."""
    how = f" Selection rule: {rule}." if rule else ""
    if selection_split == "test":
        return (
            "**Models were selected on the TEST split** (the authors' protocol, `--select-on "
            "test`): the test accuracies below are optimistic (a maximum over training)." + how
        )
    return (
        "Models were selected on the validation split (the dataset's own validate list where "
        "it ships one, else locations carved from the training fold) and scored once on the "
        "test split." + how
    )


def results_markdown(
    title: str,
    rows: Sequence[Row],
    *,
    selection_split: str = "val",
    settings: Mapping[str, Any] | None = None,
    extra: str = "",
    selection_rule: str = "",
) -> str:
    """The whole ``results.md``: title, protocol, table, settings, extra sections."""
    parts = [
        f"# {title}\n\n",
        selection_sentence(selection_split, selection_rule),
        " Accuracy = macro (class-wise average) accuracy in %, mean ± sample standard "
        "deviation over seeds (no ± with one seed). The paper's column quotes Hou et al. "
        "(IJCNN 2022), trained on TUT2018 with PANN CNN14 pseudo-labels and full-width models "
        "for 100 epochs; compare trends, not absolute values, when the data or settings "
        "differ.\n\n",
        results_table(rows, selection_split),
        "\n" + spread_footnote(rows),
    ]
    if settings:
        parts.append("\n## Settings\n\n")
        parts += [f"- {k}: `{v}`\n" for k, v in settings.items()]
    if extra:
        parts.append("\n" + extra.rstrip() + "\n")
    return "".join(parts)


def per_class_markdown(
    scenes: Sequence[str],
    models: Sequence[tuple[str, Sequence[tuple[float, float]]]],
    paper: Mapping[str, Mapping[str, float]] | None = None,
) -> str:
    """Table V layout: one row per model (ours, then the paper's), one column per scene.

    Args:
        scenes: column names.
        models: (row label, per-scene (mean, std) fractions) for each of our models.
        paper: row label -> {scene: accuracy %} of the paper; scenes it lacks stay blank.
    """
    header = ["model", *scenes]
    body = [[label, *(pm(m, s, 1) for m, s in stats)] for label, stats in models]
    for label, accs in (paper or {}).items():
        body.append([label, *(f"{accs[s]:.2f}" if s in accs else "" for s in scenes)])
    return markdown_table(header, body)


def runs_csv(records: Sequence[RunRecord]) -> str:
    """Every run, one line each: config, seed, val/test macro accuracy (fractions), folder."""
    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["config", "seed", "val_macro_acc", "test_macro_acc", "run"])
    for r in sorted(records, key=lambda r: (r.config, r.seed)):
        w.writerow([r.config, r.seed, _frac(r.val_acc), _frac(r.test_acc), r.run])
    return buf.getvalue()


def _frac(x: float) -> str:
    return f"{x:.6f}" if math.isfinite(x) else ""


def write_results(
    out: str | os.PathLike[str], rows: Sequence[Row], records: Sequence[RunRecord], markdown: str
) -> tuple[Path, Path]:
    """Write ``results.csv``, ``results.md`` and ``runs.csv`` into ``out`` (atomically)."""
    d = Path(out)
    write_text_atomic(d / "results.csv", results_csv(rows))
    write_text_atomic(d / "runs.csv", runs_csv(records))
    write_text_atomic(d / "results.md", markdown)
    return d / "results.csv", d / "results.md"

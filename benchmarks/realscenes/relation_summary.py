"""Does relation guidance help? Every measured RGASC-vs-puASC pair, from committed runs.csv.

Each experiment folder under ``benchmarks/results/`` keeps ``runs.csv`` (config, seed, val and
test macro accuracy of every run). This script pairs the puASC and RGASC rows of each
independent measurement by seed and prints one markdown table: both rows' mean ± std, the
paired difference with its 95 % t interval and verdict (:mod:`rgasc.experiments.stats`, the
same rule as every experiment table), and the difference in standard deviations:

    d = (mean_RGASC - mean_puASC) / sqrt((sd_puASC^2 + sd_RGASC^2) / 2)      (Cohen's d)

the pooled seed-to-seed spread, because "by how many standard deviations" asks how the gap
compares with how much one configuration moves between seeds. Runs that are the same trainings
read again are listed once: the recipe tables' paper-recipe rows and the synthetic baselines
are seeds 1-3 of the variance runs (10 seeds, ``variance-10seeds``).

    python benchmarks/realscenes/relation_summary.py [--results benchmarks/results] [--out F]
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import math
from pathlib import Path

from rgasc.experiments.stats import Spread, interval_text, paired_comparison, spread


@dataclasses.dataclass(frozen=True)
class Measurement:
    """One independent puASC-vs-RGASC comparison: a table's runs.csv and its two rows."""

    data: str
    table: str  # folder under the results root: <data folder>/<experiment>
    puasc: str
    rgasc: str
    rule: str
    note: str = ""


MEASUREMENTS = (
    Measurement(
        "real-sound", "realscenes/baselines", "puasc", "rgasc", "best epoch", "first YAMNet tags"
    ),
    Measurement(
        "real-sound",
        "realscenes/variance-10seeds",
        "puasc",
        "rgasc",
        "best epoch",
        "rebuilt YAMNet tags",
    ),
    Measurement(
        "real-sound",
        "realscenes/variance-10seeds",
        "puasc_ema",
        "rgasc_ema",
        "EMA",
        "rebuilt YAMNet tags",
    ),
    Measurement("synthetic", "synthetic/variance-10seeds", "puasc", "rgasc", "best epoch"),
    Measurement("synthetic", "synthetic/variance-10seeds", "puasc_ema", "rgasc_ema", "EMA"),
    Measurement(
        "real-sound",
        "realscenes/recipe",
        "puasc_modern",
        "rgasc_modern",
        "best epoch",
        "--recipe modern, rebuilt YAMNet tags",
    ),
    Measurement(
        "synthetic",
        "synthetic/recipe",
        "puasc_modern",
        "rgasc_modern",
        "best epoch",
        "--recipe modern",
    ),
    Measurement(
        "real-sound",
        "realscenes/yamnet-baselines",
        "puasc",
        "rgasc",
        "best epoch",
        "pretrained yamnet student, --recipe finetune, 8 epochs",
    ),
    Measurement(
        "real-sound",
        "realscenes/variance-v2",
        "puasc",
        "rgasc",
        "best epoch",
        "validate fold, --gain rms:-20",
    ),
    Measurement(
        "real-sound",
        "realscenes/variance-v2",
        "puasc_ema",
        "rgasc_ema",
        "EMA",
        "validate fold, --gain rms:-20",
    ),
    Measurement(
        "real-sound",
        "realscenes/yamnet-baselines-v2",
        "puasc",
        "rgasc",
        "best epoch",
        "pretrained yamnet student, validate fold, --gain rms:-20",
    ),
    Measurement(
        "real-sound",
        "realscenes/yamnet-baselines-v3",
        "puasc",
        "rgasc",
        "best epoch",
        "pretrained yamnet student, heads at 1e-2 (--recipe finetune now)",
    ),
)


def read_runs(path: Path) -> dict[str, dict[int, float]]:
    """runs.csv -> config -> seed -> test macro accuracy (a fraction)."""
    if not path.is_file():
        raise SystemExit(f"{path}: no such runs.csv; run the experiment (see the README beside it)")
    out: dict[str, dict[int, float]] = {}
    with open(path, newline="") as f:
        for row in csv.DictReader(f):
            out.setdefault(row["config"], {})[int(row["seed"])] = float(row["test_macro_acc"])
    return out


def cohen_d(sa: Spread, sb: Spread) -> float:
    """(mean b - mean a) / pooled sample std; NaN with fewer than two values a side."""
    pooled = math.sqrt((sa.std**2 + sb.std**2) / 2)
    return (sb.mean - sa.mean) / pooled if pooled > 0 else math.nan


def summarize(root: Path, measurements: tuple[Measurement, ...] = MEASUREMENTS) -> str:
    """The markdown table of every measurement under ``root``."""
    lines = [
        "| data | rule | seeds | puASC % | RGASC % | RGASC - puASC, pp [95 % CI] | verdict "
        "| d (pooled sd) | note |",
        "|---|---|---|---|---|---|---|---|---|",
    ]
    for m in measurements:
        runs = read_runs(root / m.table / "runs.csv")
        for config in (m.puasc, m.rgasc):
            if config not in runs:
                raise SystemExit(f"{root / m.table / 'runs.csv'}: no rows of config {config!r}")
        pu, rg = runs[m.puasc], runs[m.rgasc]
        seeds = sorted(set(pu) & set(rg))
        sa, sb = spread([pu[s] for s in seeds]), spread([rg[s] for s in seeds])
        p = paired_comparison(rg, pu)
        lines.append(
            f"| {m.data} | {m.rule} | {len(seeds)} | {100 * sa.mean:.1f} ± {100 * sa.std:.1f} "
            f"| {100 * sb.mean:.1f} ± {100 * sb.std:.1f} | {interval_text(p, 1)} | {p.verdict} "
            f"| {cohen_d(sa, sb):+.2f} | {m.note} |"
        )
    return "\n".join(lines) + "\n"


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    p.add_argument("--results", type=Path, default=Path("benchmarks/results"))
    p.add_argument("--out", type=Path, help="write the table here as well as to stdout")
    a = p.parse_args()
    table = summarize(a.results)
    print(table, end="")
    if a.out:
        a.out.write_text(table)


if __name__ == "__main__":
    main()

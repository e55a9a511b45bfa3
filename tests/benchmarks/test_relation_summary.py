"""benchmarks/realscenes/relation_summary.py on hand-made runs.csv files with known numbers."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers.scripts import BENCHMARKS, load_script


@pytest.fixture(scope="module")
def summary():
    return load_script("realscenes/relation_summary.py")


def _runs(path: Path, rows: dict[str, dict[int, float]]) -> None:
    path.parent.mkdir(parents=True)
    lines = ["config,seed,val_macro_acc,test_macro_acc,run"]
    lines += [f"{c},{s},0.5,{v},x" for c, seeds in rows.items() for s, v in seeds.items()]
    path.write_text("\n".join(lines) + "\n")


def test_pairs_by_seed_and_reports_d(summary, tmp_path):
    # puASC 0.30/0.40/0.50 (mean 40, sd 10); RGASC +2, +4, +6 pp: diffs mean 4, sd 2
    _runs(
        tmp_path / "t" / "runs.csv",
        {"pu": {1: 0.30, 2: 0.40, 3: 0.50, 9: 0.9}, "rg": {1: 0.32, 2: 0.44, 3: 0.56}},
    )
    m = summary.Measurement("toy", "t", "pu", "rg", "best epoch", "n")
    table = summary.summarize(tmp_path, (m,))
    row = table.splitlines()[2]
    cells = [c.strip() for c in row.strip("|").split("|")]
    assert cells[:5] == ["toy", "best epoch", "3", "40.0 ± 10.0", "44.0 ± 12.0"]
    # t(0.975, 2) = 4.303: 4 ± 4.303 * 2 / sqrt(3) = 4 ± 4.97
    assert cells[5] == "+4.0 [-1.0, +9.0]" and cells[6] == "no difference"
    assert cells[7] == f"{4 / ((100 + 144) / 2) ** 0.5:+.2f}"  # +0.36


def test_missing_config_names_the_file(summary, tmp_path):
    _runs(tmp_path / "t" / "runs.csv", {"pu": {1: 0.3, 2: 0.4}})
    with pytest.raises(SystemExit, match="runs.csv: no rows of config 'rg'"):
        summary.summarize(tmp_path, (summary.Measurement("toy", "t", "pu", "rg", "best"),))


def test_committed_results_summarize(summary):
    table = summary.summarize(BENCHMARKS / "results")
    assert len(table.splitlines()) == 2 + len(summary.MEASUREMENTS)

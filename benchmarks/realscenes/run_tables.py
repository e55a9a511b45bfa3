"""Run the paper's experiments (`rgasc experiment ...`) on a built benchmark, N jobs at a time.

Each job is one ``rgasc experiment NAME --seeds S`` (every configuration of a table for one
seed); jobs of the same table write different ``<config>/seed<S>`` folders, so two can run at
once. On a 2-core machine two single-threaded jobs finish sooner than one job using both
cores (small convolutions scale badly across threads).

Configurations that are the same run in several tables (same settings, same seed) are trained
once and linked: the baselines' puASC and RGASC runs are also Table I's "L_scene" row, Fig. 2's
N = 2 point, Table II's row #6 and the per-class table's two models. ``rgasc experiment``
skips a finished run whose recorded settings match, so a linked run is used as it is.

A last pass per table (``--seeds`` all of them) finds every run finished and writes
``results.md`` / ``results.csv`` and the figures. Rerunning the script resumes.

    python benchmarks/realscenes/run_tables.py --out runs/tables --dataset data/realscenes \
        --features data/rs_feats5 --labels data/rs_yamnet.h5 --relation data/rs_rel \
        --width 0.0625 --epochs 30 --batch-size 32 --jobs 2
    # a pretrained student (YAMNet's front-end and network):
    python benchmarks/realscenes/run_tables.py --out runs/ytables --dataset data/realscenes \
        --features data/rs_yfeats --labels data/rs_yamnet.h5 --relation data/rs_rel \
        --width 1 --epochs 8 --batch-size 32 --jobs 2 --tables baselines \
        --extra "--backbone yamnet --recipe finetune" --seeds 1 2 3 4 5
"""

from __future__ import annotations

import argparse
import os
import shlex
import shutil
import subprocess
import sys
import threading
import time
from pathlib import Path

#: (table, config folder) -> the baselines' config folder it shares runs with.
SHARED = {
    ("ablation", "scene_only"): "puasc",
    ("per-class", "puasc"): "puasc",
    ("per-class", "rgasc"): "rgasc",
    ("shared-blocks", "N2"): "rgasc",
    ("lambdas", "lambdas_1_0.01_0.5_0.01"): "rgasc",
}
TABLES = ("baselines", "ablation", "shared-blocks", "lambdas", "per-class", "recipe", "variance")


def _command(
    rgasc: str, table: str, out: Path, seeds: list[int], a: argparse.Namespace
) -> list[str]:
    return [
        rgasc,
        "experiment",
        table,
        "--dataset",
        a.dataset,
        "--features",
        a.features,
        "--labels",
        a.labels,
        "--relation",
        a.relation,
        "--out",
        str(out / table),
        "--seeds",
        ",".join(str(s) for s in seeds),
        "--width",
        str(a.width),
        "--epochs",
        str(a.epochs),
        "--batch-size",
        str(a.batch_size),
        "--accelerator",
        "cpu",
        "--no-progress-bar",
        "--no-model-summary",
        *(["--recipe", a.recipe] if a.recipe else []),
        *(["--configs", a.configs] if a.configs else []),
        *shlex.split(a.extra),
    ]


def _link_shared(out: Path, table: str, seed: int, wait: bool) -> None:
    """Link the baselines' finished runs into ``table``. ``wait``: the baselines are part of
    this invocation, so wait for them to finish; otherwise link only those already finished
    (the table then trains the rest itself)."""
    for (t, config), source in SHARED.items():
        if t != table:
            continue
        src = out / "baselines" / source / f"seed{seed}"
        while wait and not (src / "metrics.json").is_file():
            time.sleep(10)
        if not (src / "metrics.json").is_file():
            continue
        dst = out / table / config / f"seed{seed}"
        if dst.is_symlink() or dst.exists():
            continue
        dst.parent.mkdir(parents=True, exist_ok=True)
        dst.symlink_to(src.resolve(), target_is_directory=True)


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    for name in ("--out", "--dataset", "--features", "--labels", "--relation"):
        p.add_argument(name, required=True)
    p.add_argument("--width", type=float, default=0.0625)
    p.add_argument("--epochs", type=int, default=30)
    p.add_argument("--batch-size", type=int, default=32)
    p.add_argument("--seeds", type=int, nargs="+", default=[1, 2, 3])
    p.add_argument("--tables", nargs="+", default=list(TABLES), choices=TABLES)
    p.add_argument("--jobs", type=int, default=2)
    p.add_argument("--rgasc", default=shutil.which("rgasc") or "rgasc")
    p.add_argument("--recipe", default=None, help="--recipe of every run (default: the paper's)")
    p.add_argument("--configs", default=None, help="--configs of every table (default: all rows)")
    p.add_argument(
        "--extra",
        default="",
        help="more options of every run, e.g. '--backbone yamnet --recipe finetune'",
    )
    a = p.parse_args()
    out = Path(a.out)
    (out / "logs").mkdir(parents=True, exist_ok=True)
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    jobs = [(t, s) for t in a.tables for s in a.seeds]
    lock = threading.Lock()
    failed: list[str] = []

    def worker() -> None:
        while True:
            with lock:
                if not jobs:
                    return
                table, seed = jobs.pop(0)
            if table != "baselines":
                _link_shared(out, table, seed, wait="baselines" in a.tables)
            log = out / "logs" / f"{table}-seed{seed}.log"
            started = time.time()
            with open(log, "w") as f:
                rc = subprocess.call(
                    _command(a.rgasc, table, out, [seed], a),
                    stdout=f,
                    stderr=subprocess.STDOUT,
                    env=env,
                )
            took = time.time() - started
            print(f"{table} seed {seed}: exit {rc} in {took / 60:.1f} min ({log})", flush=True)
            if rc:
                failed.append(f"{table} seed {seed}")

    threads = [threading.Thread(target=worker) for _ in range(a.jobs)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    for table in a.tables:  # every run is finished now: this pass only tabulates
        started = time.time()
        log = out / "logs" / f"{table}-table.log"
        with open(log, "w") as f:
            rc = subprocess.call(
                _command(a.rgasc, table, out, a.seeds, a),
                stdout=f,
                stderr=subprocess.STDOUT,
                env=env,
            )
        print(f"{table} table: exit {rc} in {time.time() - started:.0f} s", flush=True)
        failed += [f"{table} table"] if rc else []
    if failed:
        sys.exit(f"failed: {', '.join(failed)}")


if __name__ == "__main__":
    main()

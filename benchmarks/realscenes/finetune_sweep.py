"""Validation sweep of the fine-tuning options of a pretrained student (``--recipe finetune``).

Trains each candidate (a set of dotted TrainConfig changes over a shared base) for each seed,
and tabulates the **validation** macro accuracy of the selected epoch: the preset is chosen on
the validation split only, and this script never reads or prints a test score.

    python benchmarks/realscenes/finetune_sweep.py --out runs/ft-sweep \
        --dataset data/realscenes --features data/rs_yfeats --labels data/rs_yamnet.h5 \
        --relation data/rs_rel --epochs 8 --seeds 1 2 --jobs 2 \
        --md benchmarks/results/realscenes/finetune-sweep/results.md

Runs are kept (a rerun reuses a finished run folder). ``--jobs`` runs that many trainings at
once, each on one CPU thread (on a 2-core machine two one-thread runs beat one two-thread run).
"""

from __future__ import annotations

import argparse
import json
import multiprocessing as mp
import statistics
import time
from pathlib import Path
from typing import Any

#: name -> (what it tests, changes over the base). The base: yamnet backbone, the paper's
#: lambdas, Adam, batch 32, 300-frame (3-s) random crops for training.
CANDIDATES: dict[str, tuple[str, dict[str, Any]]] = {
    "stages_0.1": ("stages at 0.1 x lr (1e-4), heads at 1e-3", {"optim.stage_lr_scale": 0.1}),
    "stages_1": ("every parameter at 1e-3", {"optim.stage_lr_scale": 1.0}),
    "stages_0.1_lr3e-4": (
        "stages at 3e-5, heads at 3e-4",
        {"optim.stage_lr_scale": 0.1, "optim.lr": 3e-4},
    ),
    "frozen_shared": (
        "the 2 shared stages frozen, the rest at 0.1 x lr",
        {"optim.stage_lr_scale": 0.1, "optim.freeze_shared": True},
    ),
    "warmup_cosine": (
        "stages at 0.1 x lr, 10 % warm-up then cosine decay",
        {
            "optim.stage_lr_scale": 0.1,
            "optim.warmup": 0.1,
            "optim.schedule": "cosine",
            "optim.lr_floor": 0.01,
        },
    ),
}


def _base(a: argparse.Namespace) -> dict[str, Any]:
    return {
        "data.dataset": a.dataset,
        "data.features": a.features,
        "data.labels": a.labels,
        "data.relation": a.relation,
        "model.backbone": "yamnet",
        "optim.epochs": a.epochs,
        "optim.batch_size": 32,
        "augment.time_crop": 300,
        "runtime.progress_bar": False,
        "runtime.model_summary": False,
    }


def _one(job: tuple[str, int, dict[str, Any], str]) -> tuple[str, int, float, float]:
    """Train one (candidate, seed); its validation macro accuracy and wall seconds."""
    import torch

    from rgasc.train.config.tree import make_config
    from rgasc.train.runner import train

    name, seed, changes, out = job
    torch.set_num_threads(1)
    run = Path(out) / name / f"seed{seed}"
    metrics = run / "metrics.json"
    started = time.time()
    if not metrics.is_file():
        if run.exists():
            import shutil

            shutil.rmtree(run)  # an interrupted run: redone
        train(make_config({**changes, "seed": seed, "out": str(run)}))
    val = json.loads(metrics.read_text())["val"]["macro_accuracy"]
    return name, seed, float(val), time.time() - started


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for flag in ("--dataset", "--features", "--labels", "--relation", "--out"):
        ap.add_argument(flag, required=True)
    ap.add_argument("--epochs", type=int, default=8)
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--only", nargs="*", help="candidate names (default: all)")
    ap.add_argument("--md", type=Path, help="write the table here too")
    a = ap.parse_args()
    names = a.only or list(CANDIDATES)
    jobs = [(n, s, {**_base(a), **CANDIDATES[n][1]}, a.out) for n in names for s in a.seeds]
    with mp.get_context("spawn").Pool(a.jobs) as pool:
        results = pool.map(_one, jobs, chunksize=1)
    rows = [
        "| candidate | what | val macro acc % (mean ± std) | seeds | minutes per run |",
        "|---|---|---|---|---|",
    ]
    best, best_mean = "", -1.0
    for n in names:
        vals = [v for m, _, v, _ in results if m == n]
        secs = [t for m, _, _, t in results if m == n]
        mean = statistics.mean(vals) * 100
        sd = statistics.stdev(vals) * 100 if len(vals) > 1 else 0.0
        if mean > best_mean:
            best, best_mean = n, mean
        rows.append(
            f"| {n} | {CANDIDATES[n][0]} | {mean:.1f} ± {sd:.1f} | {len(vals)} | "
            f"{statistics.median(secs) / 60:.1f} |"
        )
    rows.append("")
    rows.append(f"Highest validation mean: **{best}** ({best_mean:.1f} %).")
    text = "\n".join(rows)
    print(text)
    if a.md:
        a.md.parent.mkdir(parents=True, exist_ok=True)
        a.md.write_text(text + "\n")


if __name__ == "__main__":
    main()

"""Validation sweeps that choose the values of the ``--recipe`` presets.

Trains each candidate of a grid (a set of dotted TrainConfig changes over the grid's base) for
each seed and tabulates the **validation** macro accuracy of the selected epoch. The preset is
chosen on the validation split only: the table never shows a test score. ``--test-after``
prints, once the choice is made, the chosen candidate's test accuracy against the grid's
reference, paired by seed (each run scored the test split once, at its end).

Grids:
  finetune  a pretrained yamnet student (8 epochs, 300-frame crops) -> ``--recipe finetune``
  modern    the from-scratch CNN14-style student (width 1/16, 30 epochs, 5-s clips), the
            published pieces of ``--recipe modern`` recombined -> ``--recipe modern``

    python benchmarks/realscenes/recipe_sweep.py --grid modern --out runs/modern-sweep \
        --dataset data/realscenes --features data/rs_feats5 --labels data/rs_yamnet_g20.h5 \
        --relation data/rs_rel_g20 --seeds 1 2 3 --jobs 2 \
        --md benchmarks/results/realscenes/modern-sweep/results.md

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

#: The finetune grid: name -> (what it tests, changes over the base). Base: yamnet backbone,
#: the paper's lambdas, Adam, batch 32, 300-frame (3-s) random crops for training, 8 epochs.
FINETUNE: dict[str, tuple[str, dict[str, Any]]] = {
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
    # the new heads faster, the stages still at 1e-4 (the N = 6 student, heads only on frozen
    # YAMNet, trails a logistic regression on the same embeddings by 20 points: underfit heads?)
    "heads_3e-3": (
        "shared stages frozen, the rest at 1e-4, heads at 3e-3",
        {"optim.lr": 3e-3, "optim.stage_lr_scale": 1 / 30, "optim.freeze_shared": True},
    ),
    "heads_1e-2": (
        "shared stages frozen, the rest at 1e-4, heads at 1e-2",
        {"optim.lr": 1e-2, "optim.stage_lr_scale": 0.01, "optim.freeze_shared": True},
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

#: The pieces of the published modern recipe (the preset's values before this sweep; sources
#: in rgasc.train.config.recipes), written out so that the grid does not move with the preset.
_AUG = {
    "augment.mixup_alpha": 0.3,
    "augment.freq_masks": 1,
    "augment.freq_mask_width": 12,
    "augment.time_roll": 4,
}
_ADAMW = {"optim.optimizer": "adamw", "optim.weight_decay": 1e-4}
_COSINE = {"optim.schedule": "cosine", "optim.warmup": 0.05, "optim.lr_floor": 0.01}

#: The modern grid. Base: the paper's recipe (Adam 1e-3, constant lr, no augmentation), RGASC
#: lambdas, N = 2. Freq-MixStyle is off in every candidate: the benchmark has one device, and
#: the earlier ablation (benchmarks/results/recipe.md) found it, with the cosine decay, to be
#: what made the published recipe fail to fit at this size.
MODERN: dict[str, tuple[str, dict[str, Any]]] = {
    "paper": ("the paper's recipe (reference)", {}),
    "published": ("published values without Freq-MixStyle", {**_AUG, **_ADAMW, **_COSINE}),
    "constant": ("published without Freq-MixStyle, constant lr", {**_AUG, **_ADAMW}),
    "constant_warmup": (
        "as constant, 5 % linear warm-up",
        {**_AUG, **_ADAMW, "optim.warmup": 0.05},
    ),
    "constant_no_mixup": (
        "as constant, no mixup",
        {**_AUG, **_ADAMW, "augment.mixup_alpha": 0.0},
    ),
    "masks_roll": (
        "paper + frequency mask and time roll only",
        {"augment.freq_masks": 1, "augment.freq_mask_width": 12, "augment.time_roll": 4},
    ),
}

GRIDS = {"finetune": (FINETUNE, None), "modern": (MODERN, "paper")}


def _base(a: argparse.Namespace) -> dict[str, Any]:
    common = {
        "data.dataset": a.dataset,
        "data.features": a.features,
        "data.labels": a.labels,
        "data.relation": a.relation,
        "optim.batch_size": 32,
        "runtime.progress_bar": False,
        "runtime.model_summary": False,
    }
    if a.grid == "finetune":
        return {
            **common,
            "model.backbone": "yamnet",
            "optim.epochs": a.epochs or 8,
            "augment.time_crop": 300,
        }
    return {**common, "recipe": "paper", "model.width": 0.0625, "optim.epochs": a.epochs or 30}


def _one(job: tuple[str, int, dict[str, Any], str]) -> tuple[str, int, float, float, float]:
    """Train one (candidate, seed); its validation and test macro accuracy and wall seconds."""
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
    m = json.loads(metrics.read_text())
    val, test = m["val"]["macro_accuracy"], m["test"]["macro_accuracy"]
    return name, seed, float(val), float(test), time.time() - started


def _test_after(
    winner: str, reference: str, results: list[tuple[str, int, float, float, float]]
) -> str:
    """The chosen candidate's test accuracy against the reference's, paired by seed."""
    from rgasc.experiments.stats import interval_text, paired_comparison

    test = {n: {s: t for m, s, _, t, _ in results if m == n} for n in (winner, reference)}
    p = paired_comparison(test[winner], test[reference])
    mean = {n: statistics.mean(v.values()) * 100 for n, v in test.items()}
    return (
        f"Test, read after the choice: {winner} {mean[winner]:.1f} %, {reference} "
        f"{mean[reference]:.1f} %; {winner} - {reference} = {interval_text(p, 1)} pp "
        f"({p.verdict}, {p.n} paired seeds)."
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    for flag in ("--dataset", "--features", "--labels", "--relation", "--out"):
        ap.add_argument(flag, required=True)
    ap.add_argument("--grid", choices=tuple(GRIDS), default="finetune")
    ap.add_argument("--epochs", type=int, default=0, help="0: the grid's (8 or 30)")
    ap.add_argument("--seeds", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--jobs", type=int, default=2)
    ap.add_argument("--only", nargs="*", help="candidate names (default: all)")
    ap.add_argument("--md", type=Path, help="write the table here too")
    ap.add_argument(
        "--test-after", action="store_true", help="after the choice: its test vs the reference's"
    )
    a = ap.parse_args()
    grid, reference = GRIDS[a.grid]
    names = a.only or list(grid)
    jobs = [(n, s, {**_base(a), **grid[n][1]}, a.out) for n in names for s in a.seeds]
    with mp.get_context("spawn").Pool(a.jobs) as pool:
        results = pool.map(_one, jobs, chunksize=1)
    rows = [
        "| candidate | what | val macro acc % (mean ± std) | seeds | minutes per run |",
        "|---|---|---|---|---|",
    ]
    best, best_mean = "", -1.0
    for n in names:
        vals = [v for m, _, v, _, _ in results if m == n]
        secs = [t for m, _, _, _, t in results if m == n]
        mean = statistics.mean(vals) * 100
        sd = statistics.stdev(vals) * 100 if len(vals) > 1 else 0.0
        if mean > best_mean:
            best, best_mean = n, mean
        rows.append(
            f"| {n} | {grid[n][0]} | {mean:.1f} ± {sd:.1f} | {len(vals)} | "
            f"{statistics.median(secs) / 60:.1f} |"
        )
    rows.append("")
    rows.append(f"Highest validation mean: **{best}** ({best_mean:.1f} %).")
    text = "\n".join(rows)
    print(text)
    if a.md:
        a.md.parent.mkdir(parents=True, exist_ok=True)
        a.md.write_text(text + "\n")
    if a.test_after and reference is not None and reference in names and best != reference:
        print(_test_after(best, reference, results))


if __name__ == "__main__":
    main()

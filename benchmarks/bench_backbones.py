"""Benchmark: one training step of the two-tower student on each backbone, same run, same batch.

A step = forward of both towers, the four losses (eq. 8), backward and an Adam update, on a
batch of random log-mel clips of each backbone's input contract (``rgasc.models.backbones``):
cnn14 reads the paper's 320 x 64 clips, yamnet YAMNet's 998 x 64 (10 s), or a random crop of
them (``--crop``, what ``--time-crop`` trains on). Rounds alternate between the candidates so
load from other processes hits all alike; clips/s = batch / median step time, and the ratio to
the reference (the width-1/4 CNN14 student, the benchmark's earlier CPU runs) is printed.

    python benchmarks/bench_backbones.py --batch-size 16 --steps 3 --rounds 3 --crop 300
"""

from __future__ import annotations

import argparse
import statistics
import time
from typing import Any

import torch

from rgasc.features.logmel import YAMNET_FEATURES, FeatureConfig
from rgasc.models import RGASC, ModelConfig, RelationPrior
from rgasc.train.algorithms.losses import LossConfig, total_loss


def candidates(crop: int) -> dict[str, tuple[ModelConfig, int]]:
    """name -> (model config, frames per clip)."""
    out = {
        "cnn14 width 1/4 (reference)": (
            ModelConfig(width=0.25, n_events=521),
            FeatureConfig().n_frames,
        ),
        "yamnet (full 10-s clip)": (
            ModelConfig(backbone="yamnet", n_events=521),
            YAMNET_FEATURES.n_frames,
        ),
    }
    if crop:
        out[f"yamnet ({crop}-frame crop)"] = (ModelConfig(backbone="yamnet", n_events=521), crop)
    return out


def make_step(cfg: ModelConfig, frames: int, batch: int) -> Any:
    torch.manual_seed(0)
    model = RGASC(cfg).train()
    prior = RelationPrior(torch.rand(cfg.n_scenes, cfg.n_events))
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    x = torch.randn(batch, frames, cfg.n_mels)
    y = torch.randint(0, cfg.n_scenes, (batch,))
    targets = torch.rand(batch, cfg.n_events)
    loss_cfg = LossConfig()

    def step() -> None:
        out = model(x)
        loss = total_loss(out, y, targets, prior.matrix, loss_cfg)["loss"]
        opt.zero_grad(set_to_none=True)
        loss.backward()
        opt.step()

    return step


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--batch-size", type=int, default=16)
    ap.add_argument("--steps", type=int, default=3, help="timed steps per round and candidate")
    ap.add_argument("--warmup", type=int, default=1)
    ap.add_argument("--rounds", type=int, default=3)
    ap.add_argument("--crop", type=int, default=300, help="frames of the cropped yamnet row")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: default)")
    a = ap.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    steps = {n: make_step(cfg, f, a.batch_size) for n, (cfg, f) in candidates(a.crop).items()}
    times: dict[str, list[float]] = {n: [] for n in steps}
    for fn in steps.values():
        for _ in range(a.warmup):
            fn()
    for _ in range(a.rounds):
        for n, fn in steps.items():
            for _ in range(a.steps):
                t0 = time.perf_counter()
                fn()
                times[n].append(time.perf_counter() - t0)
    ref = next(iter(times))
    ref_rate = a.batch_size / statistics.median(times[ref])
    print(
        f"batch {a.batch_size}, {a.rounds} rounds x {a.steps} steps, torch threads "
        f"{torch.get_num_threads()}"
    )
    for n, ts in times.items():
        rate = a.batch_size / statistics.median(ts)
        print(f"{n:32s} {rate:8.2f} clips/s   ratio to reference {rate / ref_rate:5.2f}")


if __name__ == "__main__":
    main()

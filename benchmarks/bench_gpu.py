"""Benchmark: the GPU training path, clips/s and model FLOP utilisation (MFU).

For each ``--batch-sizes`` entry it times, at width ``--width`` (1 = the paper's model):

- ``loop``: the plain training step (``RGASC`` + ``total_loss`` + Adam) on data already on
  the GPU, with bf16 autocast and channels-last (``--compile``: also ``torch.compile``): what
  the model itself can do;
- ``ours`` (with ``--ours``): the real path, ``RGASCDataModule`` reading an on-disk synthetic
  cache (``--workers`` loader processes, pinned memory) + ``RGASCModule`` under a Lightning
  ``Trainer`` with ``precision="bf16-mixed"``, ``channels_last=True`` (and ``compile``).

MFU = clips/s x (forward MACs per clip x 2 FLOPs x 3 for forward + backward) / peak. The
default peak, 989 TFLOP/s, is NVIDIA's H100 SXM datasheet figure for dense BF16 tensor-core
math (the datasheet's 1979 is with 2:4 sparsity); pass ``--peak-tflops`` for another GPU. The
projected time is ``--epochs`` x ``--clips-per-epoch`` (TUT2018 fold-1 training list: 6122
clips) / clips/s, training steps only (no validation).

    python benchmarks/bench_gpu.py --batch-sizes 64,256 --steps 30 --warmup 10 --ours --compile
    python benchmarks/bench_gpu.py --device cpu --width 0.0625 --batch-sizes 4 --steps 2  # smoke
"""

from __future__ import annotations

import argparse
import tempfile
from pathlib import Path
from typing import Any

import torch

from _common import machine, make_inputs
from bench_train import run_ours, run_reference

H100_SXM_BF16_DENSE_TFLOPS = 989.0


def macs_per_clip(width: float, n_events: int = 527, frames: int = 320, mels: int = 64) -> int:
    """Forward MACs of one clip (conv + linear; :func:`rgasc.inference.export.count_macs`)."""
    from rgasc.inference.export import count_macs
    from rgasc.models import RGASC, ModelConfig

    model = RGASC(ModelConfig(n_scenes=10, n_events=n_events, width=width)).eval()
    return count_macs(model, torch.zeros(1, frames, mels))["total"]


def random_data(n: int, device: str) -> dict[str, Any]:
    """In-memory batches for the loop: x [n, 320, 64], scene ids [n], targets [n, 527], R."""
    g = torch.Generator().manual_seed(0)
    return {
        "x": torch.randn(n, 320, 64, generator=g).to(device),
        "y": torch.randint(0, 10, (n,), generator=g).to(device),
        "t": torch.rand(n, 527, generator=g).to(device),
        "R": torch.rand(10, 527, generator=g),
        "n_scenes": 10,
        "n_events": 527,
    }


def clips_s(times: list[float], ns: argparse.Namespace) -> float:
    """CUDA: one total over all timed steps; CPU: per-step times (mean here, it is a smoke)."""
    return (
        ns.batch_size * ns.steps / times[0]
        if len(times) == 1
        else ns.batch_size * len(times) / sum(times)
    )


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--width", type=float, default=1.0, help="channel multiplier (1 = paper)")
    ap.add_argument("--batch-sizes", default="64,256", help="comma list of batch sizes")
    ap.add_argument("--steps", type=int, default=30, help="timed steps")
    ap.add_argument("--warmup", type=int, default=10, help="untimed steps (compile, autotune)")
    ap.add_argument("--compile", action="store_true", help="also time torch.compile variants")
    ap.add_argument("--ours", action="store_true", help="also time the Lightning path")
    ap.add_argument("--workers", type=int, default=8, help="DataLoader workers (ours)")
    ap.add_argument("--device", choices=("cuda", "cpu"), default="cuda", help="cpu: smoke only")
    ap.add_argument(
        "--peak-tflops",
        type=float,
        default=H100_SXM_BF16_DENSE_TFLOPS,
        help="the GPU's dense bf16 peak (default: H100 SXM datasheet)",
    )
    ap.add_argument("--epochs", type=int, default=100, help="epochs of the projection")
    ap.add_argument("--clips-per-epoch", type=int, default=6122, help="TUT2018 fold-1 train")
    args = ap.parse_args()
    if args.device == "cuda" and not torch.cuda.is_available():
        raise SystemExit("no CUDA device here: run this on a GPU machine (or --device cpu)")
    if args.device == "cuda":
        torch.backends.cudnn.benchmark = True  # fixed shapes: let cuDNN pick the fastest kernels
    batches = [int(b) for b in args.batch_sizes.split(",") if b]
    flops_clip = macs_per_clip(args.width) * 2 * 3
    print(machine())
    print(
        f"width={args.width}: {flops_clip / 6 / 1e9:.2f} GMAC forward per clip, "
        f"{flops_clip / 1e9:.1f} GFLOP per trained clip; peak {args.peak_tflops} TFLOP/s"
    )
    variants: list[tuple[str, dict[str, Any]]] = [
        ("loop bf16+NHWC", {"bf16": True, "channels_last": True})
    ]
    if args.compile:
        variants.append(
            ("loop bf16+NHWC+compile", {"bf16": True, "channels_last": True, "compile": True})
        )
    rows = []
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        inputs = None
        if args.ours:
            need = (args.warmup + args.steps) * max(batches)
            inputs = make_inputs(tmp / "inputs", max(200, int(need / 0.45) + 20))
        for b in batches:
            ns = argparse.Namespace(
                width=args.width,
                batch_size=b,
                steps=args.steps,
                warmup=args.warmup,
                device=args.device,
                seed=0,
                workers=args.workers,
            )
            data = random_data(b * (args.warmup + args.steps), args.device)
            for name, opts in variants:
                rows.append((name, b, clips_s(run_reference(data, ns, **opts), ns)))
            del data
            if inputs is not None:
                for comp in [False, True] if args.compile else [False]:
                    timer = run_ours(
                        inputs,
                        ns,
                        tmp / f"ours{b}{comp}",
                        cfg_changes={
                            "runtime.precision": "bf16-mixed",
                            "runtime.channels_last": True,
                            "runtime.compile": comp,
                        },
                    )
                    t = [timer.total] if args.device == "cuda" else timer.times
                    name = "ours Lightning bf16+NHWC" + ("+compile" if comp else "")
                    rows.append((name, b, clips_s(t, ns)))
            if args.device == "cuda":
                torch.cuda.empty_cache()
    total = args.epochs * args.clips_per_epoch
    print(
        f"{'variant':28s} {'batch':>5s} {'clips/s':>9s} {'MFU':>6s} "
        f"{args.epochs} epochs x {args.clips_per_epoch} clips"
    )
    for name, b, c in rows:
        mfu = c * flops_clip / (args.peak_tflops * 1e12)
        print(f"{name:28s} {b:5d} {c:9.1f} {100 * mfu:5.1f}% {total / c / 60:8.1f} min")
    if args.device == "cuda":
        print(f"peak GPU memory: {torch.cuda.max_memory_allocated() / 2**30:.1f} GiB")


if __name__ == "__main__":
    main()

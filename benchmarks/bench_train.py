"""Benchmark: our training path vs a plain PyTorch loop, same model, batch, loss and optimiser.

- ours: ``RGASCDataModule`` (features read lazily from an on-disk cache, the real DataLoader)
  + ``RGASCModule`` (``training_step``: eq. 8, epoch-mean logging) + Adam, driven by a
  Lightning ``Trainer`` (no logger/checkpoints: we time the hot path, not file writes);
- reference: the same ``RGASC`` class, ``total_loss`` and Adam in a ``for`` loop over batches
  of standardised features already in memory.

``--backbone yamnet`` times the yamnet student (random weights: speed does not depend on
them) on its own input contract (998 x 64 frames, or ``--time-crop`` frames, what the finetune
recipe trains on) and adds, in the same run, the plain-loop step of the width-1/4 CNN14 student
on the paper's 320 x 64 clips, the reference earlier CPU runs were measured with.

Both start from the same seed (identical initial weights). Each path runs ``--warmup`` untimed
steps then ``--steps`` timed ones, rounds alternate (ours, ref, ours, ref...) so load from other
processes hits both alike, and clips/s = batch / median step time. On CUDA the steps are timed
as a whole (one sync at each end: a per-step sync would itself slow the GPU path).

    python benchmarks/bench_train.py --width 1 --batch-size 16 --steps 3 --warmup 1
    python benchmarks/bench_train.py --width 0.25 --batch-size 4 --steps 5      # quick
    python benchmarks/bench_train.py --backbone yamnet --time-crop 300 --batch-size 16 --rounds 3
"""

from __future__ import annotations

import argparse
import functools
import statistics
import tempfile
import time
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch

from _common import Inputs, clips_per_s, machine, make_inputs, peak_rss_mb, train_config


def make_timer(
    warmup: int, steps: int, sync: bool, between: Callable[[], Any] | None = None
) -> Any:
    """A Lightning callback recording the wall and CPU time of every training step.

    ``times`` / ``cpu_times``: per step, from the end of the previous step (or of ``between``)
    to the end of this one: data fetch + step + framework; the first ``warmup`` are dropped.
    ``between``: called after each step, untimed (``--interleave`` runs one reference step
    there, so both paths see the same load). With ``sync`` (CUDA) only ``total`` is
    meaningful: seconds from the end of the warm-up to the end of the last step, synchronised
    at both ends only.
    """
    import lightning as L

    class StepTimer(L.Callback):
        def __init__(self) -> None:
            self.starts: list[tuple[float, float]] = []  # (wall, process CPU seconds)
            self.ends: list[tuple[float, float]] = []
            self.t_warm = 0.0
            self.total = 0.0

        def on_train_epoch_start(self, trainer: Any, pl_module: Any) -> None:
            self.starts.append((time.perf_counter(), time.process_time()))

        def on_train_batch_end(
            self, trainer: Any, pl_module: Any, outputs: Any, batch: Any, batch_idx: int
        ) -> None:
            if sync and batch_idx in (warmup - 1, warmup + steps - 1):
                torch.cuda.synchronize()
            now = time.perf_counter()
            self.ends.append((now, time.process_time()))
            if batch_idx == warmup - 1:
                self.t_warm = now
            if batch_idx == warmup + steps - 1:
                self.total = now - (self.t_warm or self.starts[0][0])
            if between is not None:
                between()
            self.starts.append((time.perf_counter(), time.process_time()))

        @property
        def times(self) -> list[float]:
            return [e[0] - s[0] for s, e in zip(self.starts, self.ends, strict=False)][warmup:]

        @property
        def cpu_times(self) -> list[float]:
            return [e[1] - s[1] for s, e in zip(self.starts, self.ends, strict=False)][warmup:]

    return StepTimer()


def run_ours(
    inputs: Inputs,
    args: argparse.Namespace,
    tmp: Path,
    between: Callable[[], Any] | None = None,
    cfg_changes: Mapping[str, Any] | None = None,
) -> Any:
    """Train ``warmup + steps`` batches through Lightning; returns the StepTimer.

    ``between``: called untimed after every step (see :func:`make_timer`). ``cfg_changes``:
    dotted TrainConfig keys, e.g. ``{"runtime.precision": "bf16-mixed"}``.
    """
    import lightning as L

    from rgasc.train.loop.data import RGASCDataModule
    from rgasc.train.runner import build_module, resolve_precision

    on_gpu = args.device == "cuda"
    cfg = train_config(
        inputs,
        tmp / "run",
        {
            **_model_changes(args),
            "optim.batch_size": args.batch_size,
            "seed": args.seed,
            "runtime.accelerator": "gpu" if on_gpu else "cpu",
            "runtime.workers": args.workers,
            **(cfg_changes or {}),
        },
    )
    L.seed_everything(cfg.seed, verbose=False)
    dm = RGASCDataModule(cfg)
    module = build_module(cfg, dm)
    timer = make_timer(args.warmup, args.steps, sync=on_gpu, between=between)
    trainer = L.Trainer(
        accelerator=cfg.runtime.accelerator,
        devices=1,
        precision=resolve_precision(cfg),  # type: ignore[arg-type]
        max_epochs=1,
        limit_train_batches=args.warmup + args.steps,
        limit_val_batches=0,
        num_sanity_val_steps=0,
        logger=False,
        enable_checkpointing=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        callbacks=[timer],
        default_root_dir=tmp,
    )
    n_train = len(dm.splits["train"].clips)
    if n_train < (args.warmup + args.steps) * args.batch_size:
        raise SystemExit(f"{n_train} training clips: too few for the steps; raise --clips")
    trainer.fit(module, datamodule=dm)
    return timer


def _model_changes(args: argparse.Namespace) -> dict[str, Any]:
    """The student ours trains: backbone, width, crop; random weights (``init`` he)."""
    return {
        "model.backbone": args.backbone,
        "model.width": args.width,
        "model.init": "he",
        "augment.time_crop": args.time_crop,
    }


def cnn14_reference(args: argparse.Namespace) -> tuple[argparse.Namespace, dict[str, Any]]:
    """The width-1/4 CNN14 student's plain loop on in-memory 320 x 64 clips (values do not
    change the speed): the reference a ``--backbone`` other than cnn14 is compared with."""
    from rgasc.features import FeatureConfig

    ref = argparse.Namespace(**{**vars(args), "backbone": "cnn14", "width": 0.25, "time_crop": 0})
    fc, n = FeatureConfig(), (args.warmup + args.steps) * args.batch_size
    gen = torch.Generator().manual_seed(args.seed)
    data = {
        "x": torch.randn(n, fc.n_frames, fc.n_mels, generator=gen),
        "y": torch.arange(n) % 10,
        "t": torch.rand(n, 521, generator=gen),
        "R": torch.rand(10, 521, generator=gen),
        "n_scenes": 10,
        "n_events": 521,
    }
    return ref, data


def reference_data(inputs: Inputs, args: argparse.Namespace, tmp: Path) -> dict[str, Any]:
    """The train split in memory: standardised x [N, T, F], scene ids [N], targets [N, E], R."""
    from rgasc.train.loop.data import RGASCDataModule

    dm = RGASCDataModule(train_config(inputs, tmp / "ref", _model_changes(args)))
    s = dm.splits["train"]
    x = (np.asarray(dm.cache.features[s.rows]) - dm.mean) / np.maximum(dm.std, 1e-8)
    return {
        "x": torch.from_numpy(x.astype(np.float32)),
        "y": torch.from_numpy(s.scene_ids),
        "t": torch.from_numpy(s.event_targets),
        "R": torch.from_numpy(dm.relation.matrix),
        "n_scenes": len(dm.scenes),
        "n_events": len(dm.events),
    }


def reference_loop(
    data: dict[str, Any], args: argparse.Namespace, **opts: Any
) -> Iterator[tuple[float, float]]:
    """The plain loop, one step per ``next``: yields (wall, process CPU) seconds of the step.

    ``opts``: ``channels_last`` / ``bf16`` / ``compile`` (the GPU variants). On CUDA the
    device is synchronised only after the last warm-up step and the last step.
    """
    from rgasc.models import RGASC, ModelConfig
    from rgasc.train.algorithms.losses import LossConfig, total_loss

    dev = torch.device(args.device)
    torch.manual_seed(args.seed)  # same initial weights as ours (seed_everything seeds torch)
    net = ModelConfig(
        n_scenes=data["n_scenes"],
        n_events=data["n_events"],
        width=args.width,
        backbone=args.backbone,
    )
    model = RGASC(net).to(dev)
    if opts.get("channels_last"):
        model = model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]
    fwd = torch.compile(model) if opts.get("compile") else model
    opt = torch.optim.Adam(model.parameters(), lr=1e-3)
    loss_cfg, R = LossConfig(), data["R"].to(dev)
    x, y, t = (data[k].to(dev) for k in ("x", "y", "t"))
    gen = torch.Generator().manual_seed(args.seed)
    order = torch.randperm(len(x), generator=gen)
    model.train()
    b, n = args.batch_size, args.warmup + args.steps
    for i in range(n):
        t0, c0 = time.perf_counter(), time.process_time()
        idx = order[(i * b) % len(x) :][:b].to(dev)
        xb, yb, tb = x[idx], y[idx], t[idx]
        if 0 < args.time_crop < xb.shape[1]:  # the crop ours draws (one window, same cost)
            xb = xb[:, : args.time_crop]
        opt.zero_grad(set_to_none=True)
        with torch.autocast(dev.type, dtype=torch.bfloat16, enabled=bool(opts.get("bf16"))):
            out = fwd(xb)
        loss = total_loss(out, yb, tb, R, loss_cfg)["loss"]
        loss.backward()
        opt.step()
        if dev.type == "cuda" and i in (args.warmup - 1, n - 1):
            torch.cuda.synchronize()
        yield time.perf_counter() - t0, time.process_time() - c0


def run_reference(
    data: dict[str, Any],
    args: argparse.Namespace,
    cpu_out: list[float] | None = None,
    **opts: Any,
) -> list[float]:
    """The whole plain loop; per-step seconds after warm-up ([total] on CUDA).

    ``cpu_out``: per-step process CPU seconds are appended to it.
    """
    steps = list(reference_loop(data, args, **opts))[args.warmup :]
    if cpu_out is not None:
        cpu_out += [c for _, c in steps]
    walls = [w for w, _ in steps]
    return [sum(walls)] if args.device == "cuda" else walls


def _append_next(out: list[Any], it: Iterator[Any]) -> None:
    out.append(next(it))


def parse(argv: list[str] | None = None) -> argparse.Namespace:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--width", type=float, default=1.0, help="channel multiplier (1 = paper)")
    ap.add_argument("--batch-size", type=int, default=16, help="clips per step")
    ap.add_argument("--steps", type=int, default=3, help="timed steps per round and path")
    ap.add_argument("--warmup", type=int, default=1, help="untimed steps first (per round)")
    ap.add_argument("--rounds", type=int, default=1, help="alternating rounds ours/reference")
    ap.add_argument(
        "--clips",
        type=int,
        default=0,
        help="clips in the synthetic cache (default: enough for the steps)",
    )
    ap.add_argument("--device", choices=("cpu", "cuda"), default="cpu", help="training device")
    ap.add_argument("--workers", type=int, default=0, help="DataLoader workers (ours)")
    ap.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    ap.add_argument("--seed", type=int, default=0, help="seed of both paths")
    ap.add_argument(
        "--backbone",
        choices=("cnn14", "yamnet"),
        default="cnn14",
        help="the student's backbone (other than cnn14: the width-1/4 CNN14 step is timed too)",
    )
    ap.add_argument("--time-crop", type=int, default=0, help="train on N-frame crops (0 = off)")
    ap.add_argument(
        "--no-interleave",
        dest="interleave",
        action="store_false",
        help="run all our steps, then all reference steps (default on CPU: alternate step by "
        "step, so load from other processes hits both alike)",
    )
    return ap.parse_args(argv)


def main() -> None:
    from rgasc.models.backbones import get_backbone

    args = parse()
    if args.threads:
        torch.set_num_threads(args.threads)
    # ~49 % of the clips land in the train split (test fold, then the val carve)
    need = (args.warmup + args.steps) * args.batch_size
    n_clips = args.clips or max(200, int(need / 0.45) + 20)
    print(machine())
    with tempfile.TemporaryDirectory() as tmp_s:
        tmp = Path(tmp_s)
        inputs = make_inputs(tmp / "inputs", n_clips, features=get_backbone(args.backbone).features)
        cnn14 = cnn14_reference(args) if args.backbone != "cnn14" else None
        base: list[float] = []
        data = reference_data(inputs, args, tmp)
        ours: list[float] = []
        ref: list[float] = []
        cpu_ours: list[float] = []
        cpu_ref: list[float] = []
        for r in range(args.rounds):
            if args.interleave:  # ours step, ref step, ours step...: same load on both
                loop = reference_loop(data, args)
                done: list[tuple[float, float]] = []
                step = functools.partial(_append_next, done, loop)
                timer = run_ours(inputs, args, tmp / f"ours{r}", step)
                ref += [w for w, _ in done[args.warmup :]]
                cpu_ref += [c for _, c in done[args.warmup :]]
            else:
                timer = run_ours(inputs, args, tmp / f"ours{r}")
                ref += run_reference(data, args, cpu_ref)
            ours += [timer.total] if args.device == "cuda" else timer.times
            cpu_ours += timer.cpu_times
            if cnn14 is not None:
                base += run_reference(cnn14[1], cnn14[0])
    b = args.batch_size
    if args.device == "cuda":
        c_ours = b * args.steps * len(ours) / sum(ours)
        c_ref = b * args.steps * len(ref) / sum(ref)
    else:
        c_ours, c_ref = clips_per_s(ours, b), clips_per_s(ref, b)
    print(
        f"width={args.width} batch={b} steps={args.steps}x{args.rounds} warmup={args.warmup} "
        f"device={args.device} clips in cache={n_clips} backbone={args.backbone} "
        f"time_crop={args.time_crop}"
    )
    print(f"step seconds ours: {' '.join(f'{s:.3f}' for s in ours)}")
    print(f"step seconds ref:  {' '.join(f'{s:.3f}' for s in ref)}")
    print(
        f"ours (Lightning + on-disk cache): {c_ours:9.2f} clips/s "
        f"(median step {statistics.median(ours):.3f} s)"
    )
    print(
        f"reference (plain loop, in memory): {c_ref:9.2f} clips/s "
        f"(median step {statistics.median(ref):.3f} s)"
    )
    print(f"ratio ours/reference: {c_ours / c_ref:.3f}")
    if base:
        c_base = (
            b * args.steps * len(base) / sum(base)
            if args.device == "cuda"
            else clips_per_s(base, b)
        )
        print(
            f"cnn14 width 1/4, plain loop, 320 frames: {c_base:9.2f} clips/s "
            f"(median step {statistics.median(base):.3f} s)"
        )
        print(f"ratio {args.backbone} ours / cnn14 width 1/4: {c_ours / c_base:.3f}")
    # wall time swings with the other processes on a shared machine; CPU time much less
    m_ours, m_ref = statistics.median(cpu_ours), statistics.median(cpu_ref)
    print(
        f"CPU seconds per step (median, all threads): ours {m_ours:.3f}, ref {m_ref:.3f}, "
        f"ratio ref/ours {m_ref / m_ours:.3f}"
    )
    print(f"peak RSS: {peak_rss_mb():.0f} MiB (this process, both paths)")
    print(f"after: {machine()}")


if __name__ == "__main__":
    main()

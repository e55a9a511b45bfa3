"""Benchmark: CNN14-16k tagging, ours against a straightforward reference loop.

Reference: the plain module, one clip at a time (batch 1), fp32, ``torch.no_grad``.
Ours: :class:`rgasc.teachers.panns.PannsTeacher` (batches of ``--batch-size``,
``torch.inference_mode``, channels_last on CPU). Same weights, same generated clips; the
two are timed alternately ``--repeats`` times and the median ratio is reported, which is
robust to other load on a shared machine.

    python benchmarks/bench_tagging.py --clips 8 --seconds 10 --batch-size 8
"""

from __future__ import annotations

import argparse
import statistics
import time

import numpy as np
import torch

from rgasc.teachers.panns import CNN14_CONFIGS, Cnn14, PannsTeacher, load_cnn14

NAME = "panns-cnn14-16k"


def make_clips(n: int, seconds: float, sr: int, seed: int = 0) -> np.ndarray:
    """(n, samples) float32: noise plus a few tones per clip, so outputs differ per clip."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(seconds * sr)) / sr
    x = 0.05 * rng.standard_normal((n, t.size))
    for i in range(n):
        for f in rng.uniform(100, 6000, size=3):
            x[i] += 0.1 * np.sin(2 * np.pi * f * t + rng.uniform(0, 6.3))
    return x.astype(np.float32)


def reference(model: Cnn14, clips: np.ndarray, device: torch.device) -> np.ndarray:
    """The straightforward loop: batch 1, fp32, no_grad."""
    out = []
    with torch.no_grad():
        for x in clips:
            y = model(torch.from_numpy(x[None]).to(device))["clipwise_output"]
            out.append(y.cpu().numpy())
    return np.concatenate(out)


def ours(teacher: PannsTeacher, clips: np.ndarray, batch_size: int) -> np.ndarray:
    return np.concatenate(
        [teacher.tag(clips[i : i + batch_size]) for i in range(0, len(clips), batch_size)]
    )


def timed(fn: object, *args: object) -> tuple[float, np.ndarray]:
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    t0 = time.perf_counter()
    y = fn(*args)  # type: ignore[operator]
    if torch.cuda.is_available():
        torch.cuda.synchronize()
    return time.perf_counter() - t0, y


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clips", type=int, default=8)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--checkpoint", default=None, help="real weights (default: random init)")
    p.add_argument("--device", default="cpu")
    p.add_argument("--threads", type=int, default=0, help="torch threads (0: torch default)")
    a = p.parse_args()
    if a.threads:
        torch.set_num_threads(a.threads)
    cfg = CNN14_CONFIGS[NAME]
    torch.manual_seed(0)
    if a.checkpoint:
        model, sha = load_cnn14(NAME, a.checkpoint)
    else:
        model, sha = Cnn14(**cfg.model_kwargs()).eval(), None
    device = torch.device(a.device)
    model.to(device)
    teacher = PannsTeacher(NAME, model, [str(i) for i in range(527)], None, sha).to(a.device)
    clips = make_clips(a.clips, a.seconds, cfg.sample_rate)
    print(
        f"{a.clips} clips x {a.seconds:g} s, batch {a.batch_size}, device {a.device}, "
        f"threads {torch.get_num_threads()}, weights {'file' if a.checkpoint else 'random'}"
    )
    # warm-up (allocator, oneDNN primitive caches, CUDA kernels)
    reference(model, clips[:1], device)
    ours(teacher, clips[: min(a.batch_size, a.clips)], a.batch_size)

    ratios, t_ref, t_ours, diff = [], [], [], 0.0
    for r in range(a.repeats):
        tr, y_ref = timed(reference, model, clips, device)
        to, y_ours = timed(ours, teacher, clips, a.batch_size)
        ratios.append(tr / to)
        t_ref.append(tr)
        t_ours.append(to)
        diff = max(diff, float(np.abs(y_ref - y_ours).max()))
        print(
            f"  repeat {r + 1}: reference {a.clips / tr:.2f} clips/s, "
            f"ours {a.clips / to:.2f} clips/s, ratio {tr / to:.2f}"
        )
    print(
        f"reference {a.clips / statistics.median(t_ref):.2f} clips/s | "
        f"ours {a.clips / statistics.median(t_ours):.2f} clips/s | "
        f"ratio (median) {statistics.median(ratios):.2f} | max abs diff {diff:.2e}"
    )


if __name__ == "__main__":
    main()

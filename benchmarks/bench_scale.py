"""Benchmark: ``rgasc tag`` and ``rgasc features`` on N processes against 1, same outputs.

Builds a synthetic corpus (``rgasc synth``) and, for tagging, CNN14-16k with random weights
in the official file layout; then runs each command as a user would (a fresh ``python -m
rgasc`` process, wall time including start-up and the launch of the ranks) with
``--devices 1`` and ``--devices N`` on the CPU, and prints clips/s, the N-vs-1 ratio and
whether the outputs agree (tag: same rows and order, max abs difference of the values;
features: same cache key, manifest and rows, array bytes identical).

    python benchmarks/bench_scale.py --clips 16 --seconds 10 --devices 2
    python benchmarks/bench_scale.py --stages features --clips 8 --seconds 2 --devices 2
    python benchmarks/bench_scale.py --stages tag --accelerator gpu --devices 8   # a GPU node

The features are numpy on CPU cores: that stage always runs ``--accelerator cpu``.

On a machine with fewer free cores than N x threads the ratio measures contention, not
scaling; each rank gets cores // N threads (Lightning's default), the single process all.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

SRC = Path(__file__).resolve().parents[1] / "src"


def rgasc(args: list[str], cwd: Path) -> float:
    """Run ``python -m rgasc ARGS``; its wall seconds."""
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
    }
    t0 = time.perf_counter()
    res = subprocess.run(
        [sys.executable, "-m", "rgasc", *args], cwd=cwd, env=env, capture_output=True, text=True
    )
    if res.returncode:
        raise SystemExit(f"rgasc {' '.join(args)} failed:\n{res.stdout}\n{res.stderr}")
    return time.perf_counter() - t0


def teacher_files(root: Path) -> tuple[Path, Path]:
    """CNN14-16k with random weights (official layout) and a 527-class list."""
    import torch

    from rgasc.teachers.panns import CNN14_CONFIGS, Cnn14

    torch.manual_seed(0)
    ckpt = root / "Cnn14_16k_mAP=0.438.pth"
    model = Cnn14(**CNN14_CONFIGS["panns-cnn14-16k"].model_kwargs())
    torch.save({"model": model.state_dict()}, ckpt)
    labels = root / "class_labels_indices.csv"
    rows = ["index,mid,display_name", *(f"{i},/m/{i:04x},Event {i}" for i in range(527))]
    labels.write_text("\n".join(rows) + "\n")
    return ckpt, labels


def compare_tags(a: Path, b: Path) -> str:
    from rgasc.labels.files import read_labels

    x, y = read_labels(a), read_labels(b)
    same = x.filenames == y.filenames and x.labels == y.labels
    return f"same rows/order {same}, max abs diff {float(np.abs(x.probs - y.probs).max()):.2e}"


def compare_features(a: Path, b: Path) -> str:
    from rgasc.features import open_cache

    x, y = open_cache(a), open_cache(b)
    drop = ("created", "file")  # the time and the random name of the array file
    manifest = {k: v for k, v in x.manifest.items() if k not in drop} == {
        k: v for k, v in y.manifest.items() if k not in drop
    }
    same = x.key == y.key and x.names == y.names and manifest
    fx, fy = np.asarray(x.features), np.asarray(y.features)
    identical = fx.shape == fy.shape and fx.tobytes() == fy.tobytes()
    diff = float(np.abs(fx - fy).max()) if fx.shape == fy.shape else float("nan")
    return (
        f"same key/manifest/rows {same}, features byte-identical {identical} "
        f"(max abs diff {diff:.2e})"
    )


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--clips", type=int, default=16)
    p.add_argument("--seconds", type=float, default=10.0)
    p.add_argument("--devices", type=int, default=2)
    p.add_argument("--accelerator", default="cpu", help="tagging only; features run on CPUs")
    p.add_argument("--batch-size", type=int, default=8)
    p.add_argument(
        "--stages",
        nargs="+",
        default=["tag", "features"],
        help="tag and/or features (also comma-separated)",
    )
    p.add_argument("--root", default=None, help="work folder (default: a temporary one)")
    a = p.parse_args()
    stages = [s for arg in a.stages for s in arg.split(",") if s]
    if unknown := set(stages) - {"tag", "features"}:
        p.error(f"--stages: unknown {sorted(unknown)}; choose tag and/or features")
    with tempfile.TemporaryDirectory() as tmp:
        root = Path(a.root or tmp)
        root.mkdir(parents=True, exist_ok=True)
        ds = root / "synth"
        rgasc(
            ["synth", "--out", str(ds), "--clips", str(a.clips), "--clip-seconds", str(a.seconds)],
            root,
        )
        print(f"{a.clips} clips x {a.seconds:g} s, {os.cpu_count()} CPUs, devices 1 vs {a.devices}")
        for stage in stages:
            times: dict[int, float] = {}
            outs: dict[int, Path] = {}
            for n in (1, a.devices):
                if stage == "tag":
                    ckpt, labels = teacher_files(root)
                    outs[n] = root / f"tag{n}" / "labels.h5"
                    args = [
                        "tag",
                        "--dataset",
                        str(ds),
                        "--teacher",
                        "panns-cnn14-16k",
                        "--checkpoint",
                        str(ckpt),
                        "--class-labels",
                        str(labels),
                        "--accelerator",
                        a.accelerator,
                        "--batch-size",
                        str(a.batch_size),
                        "--out",
                        str(outs[n]),
                    ]
                else:
                    outs[n] = root / f"feat{n}"
                    args = [
                        "features",
                        "--dataset",
                        str(ds),
                        "--out",
                        str(outs[n]),
                        "--no-progress",
                        "--clip-seconds",
                        f"{a.seconds:g}",
                    ]
                    if n > 1:
                        args += ["--accelerator", "cpu"]
                if n > 1:
                    args += ["--devices", str(n)]
                times[n] = rgasc(args, root)
                print(
                    f"  {stage:8s} devices {n}: {times[n]:7.1f} s, {a.clips / times[n]:.2f} clips/s"
                )
            check = compare_tags if stage == "tag" else compare_features
            print(
                f"{stage}: {a.devices} processes vs 1: throughput ratio "
                f"{times[1] / times[a.devices]:.2f}; outputs: {check(outs[1], outs[a.devices])}"
            )


if __name__ == "__main__":
    main()

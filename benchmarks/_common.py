"""Shared helpers of the training benchmarks: synthetic run inputs, timing, memory, machine.

``make_inputs(root, n_clips)`` writes everything ``rgasc train`` reads, without audio or a
teacher: a DCASE-layout dataset (meta.csv and fold files; ``audio/`` stays empty, training
never opens it), a finished feature cache in the on-disk format of
:mod:`rgasc.features.cache` (``features.npy`` float32 (clips, 320, 64) = 80 KB a clip, its
manifest and ``latest.json``), pseudo-labels over E events and R_SE from them.
"""

from __future__ import annotations

import dataclasses
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

N_SCENES = 10
N_EVENTS = 527  # AudioSet's label space (the CNN14/YAMNet teachers)
LOCATIONS = 12  # per scene; 4 go to the test fold, ~30 % of the rest to the val carve
TEST_LOCATIONS = 4
BANK = 64  # distinct synthetic clips, repeated: writing 1.6 GB of fresh noise is just slow


@dataclasses.dataclass(frozen=True)
class Inputs:
    """Paths of one synthetic training setup (the four inputs of ``TrainConfig``)."""

    dataset: Path
    features: Path
    labels: Path
    relation: Path
    n_clips: int


def make_inputs(
    root: str | os.PathLike[str],
    n_clips: int,
    *,
    n_events: int = N_EVENTS,
    seed: int = 0,
    chunk: int = 1024,
    features: Any = None,
) -> Inputs:
    """Write a synthetic dataset + feature cache + labels + R_SE of ``n_clips`` under ``root``.

    Clip ``i`` has scene ``i % 10`` and location ``(i // 10) % 12``; locations 0-3 form the
    test fold. Features: (n_clips, T, 64) float32 of ``features`` (a FeatureConfig; default the
    paper's, T = 320) written in chunks (the parent never holds
    the whole array). The train split's normalisation stats are computed here too, as the
    first training run on a cache would, so a measured run reads only what training reads.
    """
    from rgasc.data.datasets import DcaseDataset
    from rgasc.features import FeatureConfig
    from rgasc.features.cache import FORMAT_VERSION, LATEST, MANIFEST, open_cache
    from rgasc.labels.files import PseudoLabels, write_labels
    from rgasc.relation import Relation, save_relation
    from rgasc.utils import package_versions, write_json

    root = Path(root)
    rng = np.random.default_rng(seed)
    scenes = [f"scene{k:02d}" for k in range(N_SCENES)]
    meta = []
    for i in range(n_clips):
        scene, loc = scenes[i % N_SCENES], (i // N_SCENES) % LOCATIONS
        meta.append(
            {
                "filename": f"audio/{scene}-loc{loc}-{i}-a.wav",
                "scene": scene,
                "location": f"loc{loc}",
                "device": "a",
            }
        )

    ds_root = root / "dataset"
    (ds_root / "audio").mkdir(parents=True)
    (ds_root / "evaluation_setup").mkdir()
    lines = ["filename\tscene_label\tidentifier\tsource_label"]
    lines += [f"{m['filename']}\t{m['scene']}\t{m['location']}\ta" for m in meta]
    (ds_root / "meta.csv").write_text("\n".join(lines) + "\n")
    test = {f"loc{k}" for k in range(TEST_LOCATIONS)}
    for part, keep in (("train", False), ("evaluate", True)):
        rows = [f"{m['filename']}\t{m['scene']}" for m in meta if (m["location"] in test) == keep]
        (ds_root / "evaluation_setup" / f"fold1_{part}.txt").write_text("\n".join(rows) + "\n")

    # the paper's front-end (320 frames x 64 bands) unless a backbone's contract is given
    cfg = features if features is not None else FeatureConfig()
    shape = (n_clips, cfg.n_frames, cfg.n_mels)
    key = f"synthetic{n_clips}"
    kdir = root / "features" / key
    kdir.mkdir(parents=True)
    bank = rng.standard_normal((BANK, *shape[1:]), dtype=np.float32) * 2.0 - 5.0
    array_file = "features.npy"
    arr = np.lib.format.open_memmap(kdir / array_file, mode="w+", dtype=np.float32, shape=shape)
    for start in range(0, n_clips, chunk):
        idx = np.arange(start, min(start + chunk, n_clips))
        arr[idx] = bank[idx % BANK] + (idx % N_SCENES)[:, None, None].astype(np.float32) * 0.1
    arr.flush()
    del arr
    write_json(
        kdir / MANIFEST,
        {
            "format": FORMAT_VERSION,
            "key": key,
            "file": array_file,
            "config": cfg.to_dict(),
            "config_digest": cfg.digest(),
            "files_digest": key,
            "dataset": str(ds_root),
            "shape": list(shape),
            "dtype": "float32",
            "names": [m["filename"] for m in meta],
            "meta": meta,
            "bad_clips": [],
            "versions": package_versions(),
            "created": "synthetic",
        },
    )
    write_json(root / "features" / LATEST, {"key": key})

    events = [f"event{j:03d}" for j in range(n_events)]
    probs = rng.uniform(0.0, 0.3, size=(n_clips, n_events)).astype(np.float32)
    probs[np.arange(n_clips), np.arange(n_clips) % N_SCENES] = 0.9  # event k follows scene k
    names = [m["filename"] for m in meta]
    write_labels(root / "labels.h5", PseudoLabels(names, probs, events, {"teacher": "synthetic"}))

    ds = DcaseDataset(ds_root)
    train = ds.split("train", check_audio=False)
    rows = np.asarray([int(c.filename.rsplit("-", 2)[1]) for c in train])
    y = ds.labels(train)
    R = np.stack([probs[rows[y == k]].mean(axis=0) for k in range(N_SCENES)])
    save_relation(root / "relation", Relation(R, scenes, events, {"split": "train"}))
    open_cache(root / "features").norm_stats([c.filename for c in train])
    return Inputs(ds_root, root / "features", root / "labels.h5", root / "relation", n_clips)


def train_config(inputs: Inputs, out: Path, changes: Mapping[str, Any] | None = None) -> Any:
    """A quiet TrainConfig (no progress bar, summary or sanity steps) on ``inputs``.

    ``changes``: dotted keys applied last (``{"model.width": 0.5}``).
    """
    from rgasc.train.config.tree import make_config

    return make_config(
        {
            "data.dataset": inputs.dataset,
            "data.features": inputs.features,
            "data.labels": inputs.labels,
            "data.relation": inputs.relation,
            "out": out,
            "optim.epochs": 1,
            "runtime.progress_bar": False,
            "runtime.model_summary": False,
            "runtime.sanity_val_steps": 0,
            "runtime.devices": "1",
            **(changes or {}),
        }
    )


# --- timing ------------------------------------------------------------------------------------
def median_time(
    fn: Callable[[], Any], warmup: int = 1, repeats: int = 3
) -> tuple[float, list[float]]:
    """(median seconds, all timed seconds) of ``fn()`` after ``warmup`` untimed calls."""
    for _ in range(warmup):
        fn()
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return statistics.median(times), times


def clips_per_s(step_seconds: Sequence[float], batch: int) -> float:
    """Clips/s from per-step seconds: batch / median step (robust to a loaded machine)."""
    return batch / statistics.median(step_seconds)


# --- memory ------------------------------------------------------------------------------------
def peak_rss_mb() -> float:
    """This process's peak resident set (MiB): VmHWM of /proc/self/status, else ru_maxrss.

    Not ru_maxrss first: Linux carries it over fork and exec, so a child started by a parent
    that had just written a 1.6 GB cache would report the parent's peak as its own. VmHWM
    belongs to the process's own address space. File-backed pages of a memory map count while
    they stay mapped, so reading a memmapped cache shows up here.
    """
    hwm = rss_now_mb().get("VmHWM")
    if hwm is not None:
        return hwm
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def rss_now_mb() -> dict[str, float]:
    """Current VmRSS / RssAnon / RssFile (MiB) from /proc/self/status ({} off Linux)."""
    out: dict[str, float] = {}
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            name, _, value = line.partition(":")
            if name in ("VmRSS", "RssAnon", "RssFile", "VmHWM"):
                out[name] = int(value.split()[0]) / 1024
    except OSError:
        pass
    return out


def run_child(script: str | os.PathLike[str], args: Sequence[str]) -> dict[str, Any]:
    """Run ``python script args`` in a fresh process; its last stdout line is a JSON result.

    A fresh process per measurement, so each peak RSS is that run's own (ru_maxrss never goes
    down within a process).
    """
    proc = subprocess.run(
        [sys.executable, os.fspath(script), *args], capture_output=True, text=True, check=False
    )
    if proc.returncode != 0:
        raise RuntimeError(f"child {args} failed ({proc.returncode}):\n{proc.stderr[-3000:]}")
    return dict(json.loads(proc.stdout.strip().splitlines()[-1]))


# --- the machine -------------------------------------------------------------------------------
def machine() -> str:
    """One line: CPU model, cores, load average, torch version and threads (GPU if used)."""
    import torch

    cpu = platform.processor() or platform.machine()
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    load = " ".join(f"{x:.2f}" for x in os.getloadavg()) if hasattr(os, "getloadavg") else "?"
    gpu = f", GPU {torch.cuda.get_device_name()}" if torch.cuda.is_available() else ""
    return (
        f"{cpu}, {os.cpu_count()} cores, load avg {load}, torch {torch.__version__}, "
        f"{torch.get_num_threads()} threads{gpu}"
    )

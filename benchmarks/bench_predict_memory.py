"""Benchmark: peak RSS of ``predict`` on a long file, streamed vs decoded whole.

Writes a ``--minutes`` long 48-kHz stereo 16-bit wav and an untrained width ``--width``
model, then, each in a fresh child process (so every peak is that run's own):

- ``streamed``: ``Predictor.predict_file`` as it is (the file read a window's frames at a
  time, windows cut as the audio arrives: rgasc.inference.predict);
- ``whole``: the reference, the file decoded whole (``rgasc.audio.load_audio``, then
  resampled whole) and classified with ``Predictor.predict_waveform``;
- ``model``: loading the model only, the floor both share.

and prints each child's peak RSS (VmHWM), the whole/streamed ratio and the checks that the two
paths gave the same probabilities. The streamed peak should not grow with ``--minutes``.

    python benchmarks/bench_predict_memory.py --minutes 30
"""

from __future__ import annotations

import argparse
import json
import shutil
import tempfile
import time
from pathlib import Path
from typing import Any

import numpy as np

from _common import machine, peak_rss_mb, run_child

MODES = ("model", "streamed", "whole")


def write_long_wav(path: Path, minutes: float, sr: int = 48000, seed: int = 0) -> Path:
    """A tone plus noise, written a minute at a time (the writer never holds the whole file)."""
    import soundfile as sf

    rng = np.random.default_rng(seed)
    with sf.SoundFile(path, "w", samplerate=sr, channels=2, subtype="PCM_16") as f:
        for m in range(int(np.ceil(minutes))):
            n = int(sr * 60 * min(1.0, minutes - m))
            t = (np.arange(n) + m * 60 * sr) / sr
            x = 0.3 * np.sin(2 * np.pi * (220 + 40 * m) * t)
            f.write(np.stack([x, x], axis=1) + 0.05 * rng.standard_normal((n, 2)))
    return path


def make_model(run: Path, width: float) -> Path:
    """An untrained RGASC over the paper front-end (44.1 kHz): ``run/checkpoints/best.pt``."""
    import torch

    from rgasc.features import FeatureConfig
    from rgasc.models import RGASC, ModelConfig
    from rgasc.models.checkpoint import save_model

    torch.manual_seed(0)
    features = FeatureConfig()
    cfg = ModelConfig(n_scenes=10, n_events=20, width=width, n_mels=features.n_mels)
    save_model(
        run / "checkpoints" / "best.pt",
        RGASC(cfg).eval(),
        model_config=cfg,
        feature_config=features,
        scenes=[f"s{i}" for i in range(10)],
        events=[f"e{i}" for i in range(20)],
        relation=np.full((10, 20), 0.5, np.float32),
        norm_mean=np.zeros(features.n_mels, np.float32),
        norm_std=np.ones(features.n_mels, np.float32),
    )
    return run


def child(args: argparse.Namespace) -> dict[str, Any]:
    """One measured run in its own process."""
    import torch

    import rgasc
    from rgasc.audio import load_audio

    torch.set_num_threads(args.threads)
    p = rgasc.load_model(args.run, batch_size=args.batch_size)
    started = time.perf_counter()
    probs: list[float] = []
    if args.mode == "streamed":
        probs = p.predict_file(args.file).scene_probs.tolist()
    elif args.mode == "whole":
        x, sr = load_audio(args.file)
        probs = p.predict_waveform(x, sr).scene_probs.tolist()
    return {
        "mode": args.mode,
        "peak_rss_mb": round(peak_rss_mb(), 1),
        "seconds": round(time.perf_counter() - started, 1),
        "scene_probs": probs,
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--minutes", type=float, default=30.0, help="length of the test file")
    ap.add_argument("--width", type=float, default=0.25, help="model width (cnn14 x width)")
    ap.add_argument("--batch-size", type=int, default=16, help="windows per model call")
    ap.add_argument("--threads", type=int, default=2, help="torch threads of each child")
    ap.add_argument("--child", choices=MODES, help=argparse.SUPPRESS)
    ap.add_argument("--run", type=Path, help=argparse.SUPPRESS)
    ap.add_argument("--file", type=Path, help=argparse.SUPPRESS)
    args = ap.parse_args()
    if args.child:
        args.mode = args.child
        print(json.dumps(child(args)))
        return
    tmp = Path(tempfile.mkdtemp(prefix="rgasc-bench-predict-"))
    try:
        wav = write_long_wav(tmp / "long.wav", args.minutes)
        run = make_model(tmp / "run", args.width)
        common = ["--run", str(run), "--file", str(wav), "--batch-size", str(args.batch_size)]
        common += ["--width", str(args.width), "--threads", str(args.threads)]
        r = {m: run_child(__file__, ["--child", m, *common]) for m in MODES}
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    print(f"{machine()}; {args.minutes:g} min of 48-kHz stereo, width {args.width:g}")
    for m in MODES:
        print(f"  {m:9s} peak RSS {r[m]['peak_rss_mb']:8.1f} MB  ({r[m]['seconds']} s)")
    floor = r["model"]["peak_rss_mb"]
    streamed, whole = r["streamed"]["peak_rss_mb"], r["whole"]["peak_rss_mb"]
    same = np.allclose(r["streamed"]["scene_probs"], r["whole"]["scene_probs"], atol=1e-5)
    print(f"  whole / streamed peak: {whole / streamed:.2f}x")
    print(
        f"  above the model alone: streamed {streamed - floor:.1f} MB, whole {whole - floor:.1f} MB"
    )
    print(f"  same scene probabilities: {same}")


if __name__ == "__main__":
    main()

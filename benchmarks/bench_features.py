"""Benchmark: our feature extraction vs the straightforward reference recipe.

Generates N stereo 48 kHz clips in a temporary DCASE-layout folder, then times

- reference: for each clip, soundfile read, mean of channels, librosa.resample to 44.1 kHz,
  scipy.signal.spectrogram (magnitude) + librosa mel filterbank, log; one after another;
- ours: ``rgasc.features.compute_features`` (soxr resampling, scipy.fft front-end, worker
  processes), into a fresh cache each repeat;

and prints clips/s for both (median of the repeats), their ratio, and the max abs difference:
on the same resampled input (the front-end equality) and end to end (adds the resamplers'
difference, librosa's vs ours).

    python benchmarks/bench_features.py --clips 32 --seconds 10 --workers 2
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import numpy as np
import soundfile as sf


def make_clips(root: Path, n: int, seconds: float, sr: int = 48000) -> Path:
    """N stereo noise+tone clips (PCM_24, like TUT 2018) and a meta.csv."""
    rng = np.random.default_rng(0)
    (root / "audio").mkdir(parents=True)
    meta = ["filename\tscene_label\tidentifier\tsource_label"]
    t = np.arange(int(seconds * sr)) / sr
    for i in range(n):
        name = f"audio/scene{i % 3}-city-{i % 4}-{i}-a.wav"
        tone = 0.2 * np.sin(2 * np.pi * (200.0 + 50 * i) * t)
        x = tone[:, None] + 0.05 * rng.standard_normal((t.size, 2))
        sf.write(root / name, x.astype(np.float32), sr, subtype="PCM_24")
        meta.append(f"{name}\tscene{i % 3}\tcity-{i % 4}\ta")
    (root / "meta.csv").write_text("\n".join(meta) + "\n")
    return root


def reference_frontend(x: np.ndarray, fb: np.ndarray) -> np.ndarray:
    """scipy magnitude spectrogram + mel + log on a 44.1 kHz mono waveform -> (frames, mels)."""
    import scipy.signal

    _, _, spec = scipy.signal.spectrogram(
        x,
        window=np.hamming(2048),
        nperseg=2048,
        noverlap=672,
        detrend=False,
        return_onesided=True,
        mode="magnitude",
    )
    return np.log(fb @ spec + 1e-8).T


def reference(paths: list[Path], fb: np.ndarray) -> np.ndarray:
    """One clip after another, BLAS on one thread (a multi-threaded 64 x 1025 x 320 product
    only adds contention on a loaded machine; ours runs BLAS single-threaded too)."""
    import librosa
    from threadpoolctl import threadpool_limits

    out = []
    with threadpool_limits(1, user_api="blas"):
        for p in paths:
            x, sr = sf.read(p, dtype="float32")
            x = librosa.resample(x.mean(axis=1), orig_sr=sr, target_sr=44100)
            out.append(reference_frontend(x, fb))
    return np.stack(out)


def cpu_seconds() -> float:
    """CPU time of this process and its reaped children (the decoding workers)."""
    t = os.times()
    return t.user + t.system + t.children_user + t.children_system


def interleaved_medians(
    fns: dict[str, Callable[[], np.ndarray]], repeats: int
) -> dict[str, tuple[float, float]]:
    """Median (wall, CPU) seconds of each function, run in turn (a, b, c, a, b, c, ...) so
    that load from other processes on a shared machine hits them alike."""
    times: dict[str, list[tuple[float, float]]] = {k: [] for k in fns}
    for _ in range(repeats):
        for k, fn in fns.items():
            t0, c0 = time.perf_counter(), cpu_seconds()
            fn()
            times[k].append((time.perf_counter() - t0, cpu_seconds() - c0))
    return {
        k: (statistics.median(w for w, _ in v), statistics.median(c for _, c in v))
        for k, v in times.items()
    }


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawTextHelpFormatter)
    ap.add_argument("--clips", type=int, default=32, help="number of generated clips")
    ap.add_argument("--seconds", type=float, default=10.0, help="clip length (s)")
    ap.add_argument("--workers", type=int, default=2, help="worker processes for ours")
    ap.add_argument("--repeats", type=int, default=3, help="timed repeats (median reported)")
    args = ap.parse_args()

    import librosa

    from rgasc.audio import load_audio
    from rgasc.data import DcaseDataset
    from rgasc.features import FeatureConfig, compute_features

    cfg = FeatureConfig(clip_seconds=args.seconds)
    fb = librosa.filters.mel(sr=44100, n_fft=2048, n_mels=64, fmin=50, fmax=22050)
    with tempfile.TemporaryDirectory() as tmp:
        root = make_clips(Path(tmp) / "ds", args.clips, args.seconds)
        ds = DcaseDataset(root)
        paths = [ds.audio_path(c) for c in ds.clips]
        reference(paths[:1], fb)  # warm-up: imports, librosa/soxr first-call costs
        runs = iter(range(10**6))

        def ours(workers: int = args.workers) -> np.ndarray:
            out = Path(tmp) / f"cache{next(runs)}"
            cache = compute_features(ds, out, cfg, workers=workers, progress=False)
            return np.asarray(cache.features)

        ours()  # warm-up
        t = interleaved_medians(
            {"ref": lambda: reference(paths, fb), "ours": ours, "serial": lambda: ours(0)},
            args.repeats,
        )
        (t_ref, c_ref), (t_ours, c_ours), (t_serial, _) = t["ref"], t["ours"], t["serial"]
        ref, feats = reference(paths, fb), ours()
        # the front-end alone: the reference recipe on our (soxr) resampled waveforms
        same_input = np.stack(
            [reference_frontend(load_audio(p, 44100, args.seconds)[0], fb) for p in paths]
        )
    d_same, d_e2e = np.abs(feats - same_input).max(), np.abs(feats - ref).max()
    n = args.clips
    print(f"clips={n} seconds={args.seconds} workers={args.workers} repeats={args.repeats}")
    print(f"reference: {n / t_ref:8.2f} clips/s ({t_ref:.3f} s)")
    print(f"ours:      {n / t_ours:8.2f} clips/s ({t_ours:.3f} s)")
    print(f"ratio ours/reference: {t_ref / t_ours:.2f}x")
    # wall time depends on how busy the cores are; CPU time per clip much less so
    print(f"CPU ms/clip, all processes: ref {1e3 * c_ref / n:.1f}, ours {1e3 * c_ours / n:.1f}")
    print(f"ours, workers=0 (one process): {n / t_serial:8.2f} clips/s, {t_ref / t_serial:.2f}x")
    print(f"max |diff| on the same resampled input (front-end): {d_same:.2e}")
    print(f"max |diff| end to end (librosa vs our soxr resampling too): {d_e2e:.2e}")


if __name__ == "__main__":
    main()

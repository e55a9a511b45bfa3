"""A tiny trained-model checkpoint and generated audio for the predict/export/formats tests.

No training: an RGASC at width 1/16 over a 1-s, 16-kHz front-end (61 frames x 64 mel) with
random He-uniform weights, a hand-made relation matrix and norm statistics, saved with
:func:`rgasc.models.checkpoint.save_model` like a finished run's ``checkpoints/best.pt``.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf
import torch

from rgasc.features import FeatureConfig
from rgasc.models import RGASC, ModelConfig
from rgasc.models.checkpoint import BEST, save_model

SCENES = ["airport", "bus", "park"]
EVENTS = ["Speech", "Vehicle", "Bird", "Music", "Wind"]
#: 1 s at 16 kHz, hop 256: (16000 - 256) // 256 = 61 frames (>= the 32 the poolings need).
TINY_FEATURES = FeatureConfig(
    sample_rate=16000,
    n_fft=512,
    hop_length=256,
    n_mels=64,
    fmin=50.0,
    fmax=8000.0,
    clip_seconds=1.0,
)
#: Scene k's row favours event k: Speech for airport, Vehicle for bus, Bird for park.
RELATION = np.array(
    [[0.9, 0.3, 0.05, 0.2, 0.1], [0.4, 0.95, 0.05, 0.3, 0.1], [0.1, 0.1, 0.9, 0.05, 0.6]],
    dtype=np.float32,
)


def make_run(root: Path, seed: int = 0) -> Path:
    """A run folder with ``checkpoints/best.pt`` (plus a metrics.json); returns the folder."""
    torch.manual_seed(seed)
    cfg = ModelConfig(n_scenes=len(SCENES), n_events=len(EVENTS), shared_blocks=2, width=1 / 16)
    model = RGASC(cfg).eval()
    rng = np.random.default_rng(seed)
    save_model(
        root / BEST,
        model,
        model_config=cfg,
        feature_config=TINY_FEATURES,
        scenes=SCENES,
        events=EVENTS,
        relation=RELATION,
        norm_mean=rng.normal(-6.0, 1.0, 64).astype(np.float32),
        norm_std=rng.uniform(1.0, 3.0, 64).astype(np.float32),
        extra={"epoch": 3, "selection_split": "val", "selection_macro_accuracy": 0.5},
    )
    (root / "metrics.json").write_text('{"test": {"macro_accuracy": 0.5, "log_loss": 1.1}}')
    return root


def tone(
    seconds: float, sr: int, channels: int = 1, freq: float = 440.0, seed: int = 0
) -> np.ndarray:
    """A tone plus noise: (samples,) or (samples, channels) float32."""
    rng = np.random.default_rng(seed)
    t = np.arange(int(round(seconds * sr))) / sr
    x = 0.3 * np.sin(2 * np.pi * freq * t) * (1 + 0.5 * np.sin(2 * np.pi * 0.7 * t))
    x = x[:, None] + 0.05 * rng.standard_normal((t.size, channels))
    return (x[:, 0] if channels == 1 else x).astype(np.float32)


def write_wav(path: Path, seconds: float, sr: int, channels: int = 1, **kw: object) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    sf.write(path, tone(seconds, sr, channels, **kw), sr)  # type: ignore[arg-type]
    return path

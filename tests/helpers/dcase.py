"""A tiny dataset in the DCASE layout for tests that need one before ``rgasc synth`` runs.

Each scene gets a tone at its own frequency plus noise, so a model can tell scenes apart.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import soundfile as sf


def make_dcase(
    root: Path,
    scenes: tuple[str, ...] = ("airport", "bus", "park"),
    cities: tuple[str, ...] = ("lyon", "paris"),
    locations_per_city: int = 2,
    clips_per_location: int = 2,
    seconds: float = 1.0,
    sr: int = 48000,
    channels: int = 2,
    seed: int = 0,
) -> Path:
    """Write ROOT/audio/*.wav, meta.csv and evaluation_setup/fold1_{train,evaluate,test}.txt.

    Location 0 of every city is the test side (location-disjoint like DCASE 2018 fold 1).
    Returns ``root``.
    """
    rng = np.random.default_rng(seed)
    (root / "audio").mkdir(parents=True, exist_ok=True)
    (root / "evaluation_setup").mkdir(exist_ok=True)
    meta = ["filename\tscene_label\tidentifier\tsource_label"]
    train, test = [], []
    t = np.arange(int(seconds * sr)) / sr
    for si, scene in enumerate(scenes):
        for city in cities:
            for loc in range(locations_per_city):
                for seg in range(clips_per_location):
                    name = f"audio/{scene}-{city}-{loc}-{seg}-a.wav"
                    tone = 0.3 * np.sin(2 * np.pi * (300.0 * (si + 1)) * t)
                    x = tone[:, None] + 0.05 * rng.standard_normal((t.size, channels))
                    sf.write(root / name, x.astype(np.float32), sr, subtype="PCM_24")
                    meta.append(f"{name}\t{scene}\t{city}-{loc}\ta")
                    (test if loc == 0 else train).append(f"{name}\t{scene}")
    (root / "meta.csv").write_text("\n".join(meta) + "\n")
    setup = root / "evaluation_setup"
    (setup / "fold1_train.txt").write_text("\n".join(train) + "\n")
    (setup / "fold1_evaluate.txt").write_text("\n".join(test) + "\n")
    (setup / "fold1_test.txt").write_text("\n".join(r.split("\t")[0] for r in test) + "\n")
    return root

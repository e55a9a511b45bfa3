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


def make_dcase_layout(
    root: Path,
    *,
    fold_style: str = "csv",
    devices: tuple[str, ...] = ("a",),
    unseen_devices: tuple[str, ...] = (),
    meta_columns: tuple[str, ...] = ("filename", "scene_label"),
    scenes: tuple[str, ...] = ("airport", "bus", "park"),
    cities: tuple[str, ...] = ("lisbon", "lyon"),
    locations_per_city: int = 3,
    subsegments: int = 0,
    seconds: float = 0.1,
    sr: int = 8000,
) -> Path:
    """A fake copy of a DCASE set's layout with tiny generated mono wavs.

    Every (scene, city, location) is recorded by each device (like the parallel recordings
    of the mobile sets); location 0 of every city is the evaluate side, and the
    ``unseen_devices`` record only there. ``fold_style`` is ``"txt"`` (DCASE 2018: no
    header) or ``"csv"`` (2019 on: a ``filename<TAB>scene_label`` header; the test list
    ``filename``). meta.csv gets only ``meta_columns``, so identifier and source_label can
    be left for the reader to derive from the names ``scene-city-location-segment[-sub]-
    device.wav`` (``subsegments`` > 0 adds the 1-s sub-clip index of TAU 2022).
    """
    rng = np.random.default_rng(0)
    (root / "audio").mkdir(parents=True, exist_ok=True)
    setup = root / "evaluation_setup"
    setup.mkdir(exist_ok=True)
    meta, train, test = ["\t".join(meta_columns)], [], []
    n = int(seconds * sr)
    for scene in scenes:
        for city in cities:
            for loc in range(locations_per_city):
                for dev in devices + (unseen_devices if loc == 0 else ()):
                    for sub in range(max(1, subsegments)):
                        seg = f"{10 * loc}-{sub}" if subsegments else f"{10 * loc}"
                        name = f"audio/{scene}-{city}-{loc}-{seg}-{dev}.wav"
                        sf.write(root / name, 0.1 * rng.standard_normal(n), sr)
                        row = {
                            "filename": name,
                            "scene_label": scene,
                            "identifier": f"{city}-{loc}",
                            "source_label": dev,
                        }
                        meta.append("\t".join(row[c] for c in meta_columns))
                        (test if loc == 0 else train).append((name, scene))
    (root / "meta.csv").write_text("\n".join(meta) + "\n")
    header = fold_style == "csv"
    suffix = ".csv" if header else ".txt"
    pairs = [f"{n}\t{s}" for n, s in train], [f"{n}\t{s}" for n, s in test]
    for part, lines, head in [
        ("train", pairs[0], "filename\tscene_label"),
        ("evaluate", pairs[1], "filename\tscene_label"),
        ("test", [n for n, _ in test], "filename"),
    ]:
        text = ([head] if header else []) + lines
        (setup / f"fold1_{part}{suffix}").write_text("\n".join(text) + "\n")
    return root

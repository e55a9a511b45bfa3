"""A synthetic acoustic-scene corpus in the DCASE layout, with ground-truth events.

Each clip is a background texture plus events. Backgrounds are filtered noise whose
tilt, rumble, crowd babble, hum and swell depend on the scene but overlap strongly
between scenes and vary by location, so the background alone is ambiguous. Events come
from one shared vocabulary (:data:`EVENT_LABELS`, AudioSet display names) with a distinct
probability profile per scene (:data:`SCENE_EVENT_PROBS`), several events shared between
scenes: events carry real information about the scene, as the paper assumes of real data.
Every recording location also perturbs its scene's profile, so location-disjoint splits
test generalisation. The same seed gives the same bytes.

Output (``synthesize(out)``)::

    out/audio/<scene>-<city>-<loc>-<segment>-a.wav   48 kHz stereo PCM_24 like TUT2018
    out/meta.csv                                      filename scene_label identifier source_label
    out/evaluation_setup/fold1_{train,evaluate,test}.txt   location-disjoint (~30 % evaluate)
    out/events.csv                                    filename event_label onset offset (s)
    out/README.txt, out/synth.json                    what it contains, how it was made
"""

from __future__ import annotations

import math
import os
import shutil
from collections import Counter
from collections.abc import Sequence
from pathlib import Path

import numpy as np
import soundfile as sf

from rgasc.artefacts import EVENTS_FILE
from rgasc.data.datasets import Clip, location_split
from rgasc.data.sounds import EVENT_GENERATORS, EVENT_LABELS, Background, background
from rgasc.errors import DatasetError
from rgasc.utils import mark_stage_done, read_stamp, stage_done, temp_folder_beside

__all__ = [
    "CITIES",
    "EVENT_LABELS",
    "SCENES",
    "SCENE_BACKGROUNDS",
    "SCENE_EVENT_PROBS",
    "read_events",
    "synthesize",
]

VERSION = "synth-v1"  # bump when the sounds change, so a stale corpus is regenerated
SCENES = (
    "airport",
    "bus",
    "metro",
    "metro_station",
    "park",
    "public_square",
    "shopping_mall",
    "street_pedestrian",
    "street_traffic",
    "tram",
)
CITIES = ("amber", "cobalt", "jade")  # invented names: no one mistakes them for TUT's
EVALUATE_FRACTION = 0.3  # of each scene's locations, as in the DCASE 2018 fold 1

# Probability that an event label occurs in a clip of the scene (before the per-location
# perturbation). Unlisted labels have probability 0.
SCENE_EVENT_PROBS: dict[str, dict[str, float]] = {
    "airport": {
        "Speech": 0.8,
        "Footsteps": 0.6,
        "Chime": 0.6,
        "Beep, bleep": 0.3,
        "Music": 0.2,
        "Engine": 0.3,
        "Door": 0.2,
    },
    "bus": {
        "Engine": 0.9,
        "Speech": 0.5,
        "Beep, bleep": 0.5,
        "Door": 0.5,
        "Bell": 0.2,
        "Car horn": 0.2,
    },
    "metro": {
        "Train wheels squealing": 0.7,
        "Engine": 0.4,
        "Speech": 0.4,
        "Door": 0.5,
        "Beep, bleep": 0.4,
        "Chime": 0.3,
    },
    "metro_station": {
        "Train wheels squealing": 0.5,
        "Chime": 0.6,
        "Speech": 0.6,
        "Footsteps": 0.6,
        "Beep, bleep": 0.3,
        "Music": 0.2,
    },
    "park": {"Bird": 0.9, "Dog": 0.5, "Speech": 0.3, "Footsteps": 0.3, "Rain": 0.3, "Music": 0.1},
    "public_square": {
        "Speech": 0.6,
        "Footsteps": 0.5,
        "Bird": 0.4,
        "Bell": 0.4,
        "Music": 0.3,
        "Dog": 0.2,
        "Car horn": 0.2,
        "Rain": 0.2,
    },
    "shopping_mall": {
        "Music": 0.7,
        "Speech": 0.7,
        "Footsteps": 0.5,
        "Beep, bleep": 0.5,
        "Chime": 0.3,
        "Door": 0.3,
    },
    "street_pedestrian": {
        "Footsteps": 0.7,
        "Speech": 0.6,
        "Car horn": 0.3,
        "Bird": 0.3,
        "Music": 0.2,
        "Dog": 0.2,
        "Bell": 0.2,
        "Rain": 0.2,
    },
    "street_traffic": {
        "Engine": 0.9,
        "Car horn": 0.6,
        "Siren": 0.3,
        "Rain": 0.2,
        "Footsteps": 0.1,
        "Speech": 0.1,
    },
    "tram": {
        "Bell": 0.6,
        "Engine": 0.4,
        "Train wheels squealing": 0.5,
        "Speech": 0.4,
        "Door": 0.4,
        "Beep, bleep": 0.4,
    },
}

# Scene backgrounds: (tilt dB/oct, rumble dB, babble dB, hum dB, swell, level dBFS). The
# per-location jitter (std 0.8 dB/oct, 3 dB, 3 dB, 3 dB, 0.1, 3 dB) is as large as the
# gaps between neighbouring scenes, so no background parameter separates the scenes.
SCENE_BACKGROUNDS: dict[str, Background] = {
    "airport": Background(-4.0, 6, 10, 6, 0.10, -36),
    "bus": Background(-5.0, 14, 5, 8, 0.30, -32),
    "metro": Background(-4.5, 14, 4, 6, 0.30, -30),
    "metro_station": Background(-4.0, 10, 9, 5, 0.20, -33),
    "park": Background(-3.0, 4, 2, -60, 0.20, -42),
    "public_square": Background(-3.5, 7, 8, 2, 0.20, -37),
    "shopping_mall": Background(-4.0, 5, 11, 7, 0.10, -36),
    "street_pedestrian": Background(-3.5, 8, 8, 2, 0.25, -36),
    "street_traffic": Background(-4.5, 13, 3, 2, 0.45, -31),
    "tram": Background(-4.5, 12, 5, 6, 0.30, -32),
}


def synthesize(
    out: str | os.PathLike[str],
    clips: int = 100,
    seed: int = 0,
    duration: float = 10.0,
    sr: int = 48000,
    scenes: Sequence[str] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write a synthetic DCASE-layout dataset (see the module docstring) and return ``out``.

    Args:
        out: dataset folder to create. Written in a temporary folder beside it and renamed
            at the end, so an interrupted run leaves nothing under ``out``.
        clips: total number of clips, spread evenly over the scenes (>= number of scenes).
        seed: fixes every sample; clip ``i`` of a scene is the same whatever ``clips`` is.
        duration: seconds per clip.
        sr: sample rate in Hz (TUT2018: 48000).
        scenes: a subset of :data:`SCENES` (default: all ten).
        overwrite: replace an existing synthetic corpus at ``out`` made with other settings.

    Returns:
        ``out``. A folder already holding a corpus with the same settings is kept as is.

    Raises:
        DatasetError: an unknown scene, too few clips, or ``out`` is a non-empty folder
            that is not a synthetic corpus (never deleted, even with ``overwrite``).
    """
    names = _check_args(clips, duration, sr, scenes)
    out = Path(out).expanduser()
    settings = {
        "version": VERSION,
        "clips": clips,
        "seed": seed,
        "duration": duration,
        "sr": sr,
        "scenes": list(names),
    }
    stamp = out / "synth.json"  # the settings themselves, written last
    if out.exists() and any(out.iterdir()):
        if stage_done(stamp, settings, field=None, outputs=[out / "meta.csv"]):
            return out
        old = read_stamp(stamp)
        if old is None or not overwrite:
            raise DatasetError(
                f"{out}: folder exists and is not empty"
                + ("" if old is None else " (a synthetic corpus made with other settings)")
                + "; choose another folder"
                + ("" if old is None else ", or pass overwrite=True / --overwrite")
            )
    tmp = temp_folder_beside(out)
    try:
        _write_corpus(tmp, names, clips, seed, duration, sr)
        mark_stage_done(tmp / stamp.name, settings, field=None)
        if out.exists():
            shutil.rmtree(out)
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
    return out


def read_events(path: str | os.PathLike[str]) -> list[tuple[str, str, float, float]]:
    """Read an ``events.csv``: rows of (filename, event_label, onset s, offset s).

    Raises:
        DatasetError: missing file, wrong header, or a malformed row (naming its line).
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"{path}: no events file (a synthetic corpus holds events.csv)")
    lines = path.read_text().splitlines()
    if not lines or lines[0].split("\t")[:4] != ["filename", "event_label", "onset", "offset"]:
        raise DatasetError(
            f"{path}: header must be 'filename<TAB>event_label<TAB>onset<TAB>offset'"
        )
    rows: list[tuple[str, str, float, float]] = []
    for n, line in enumerate(lines[1:], start=2):
        if not line.strip():
            continue
        fields = line.split("\t")
        try:
            name, label, on, off = fields[0], fields[1], float(fields[2]), float(fields[3])
        except (IndexError, ValueError):
            raise DatasetError(
                f"{path}:{n}: expected filename, label, onset, offset separated by tabs"
            ) from None
        if not 0 <= on <= off:
            raise DatasetError(f"{path}:{n}: onset {on} and offset {off} out of order")
        rows.append((name, label, on, off))
    return rows


# --- internals -------------------------------------------------------------------------
def _check_args(
    clips: int, duration: float, sr: int, scenes: Sequence[str] | None
) -> tuple[str, ...]:
    if isinstance(scenes, str):  # "park,bus" as typed on a command line
        scenes = scenes.split(",")
    names = tuple(SCENES if scenes is None else dict.fromkeys(s.strip() for s in scenes if s))
    unknown = [s for s in names if s not in SCENE_EVENT_PROBS]
    if unknown or not names:
        raise DatasetError(
            f"unknown scene(s) {unknown}; choose from {', '.join(SCENES)}"
            if unknown
            else "no scenes selected"
        )
    if clips < len(names):
        raise DatasetError(f"clips={clips}: need at least one clip per scene ({len(names)})")
    if duration <= 0 or sr < 8000:
        raise DatasetError(f"duration={duration} s and sr={sr} Hz: need > 0 s and >= 8000 Hz")
    return names


def _n_locations(n_clips: int) -> int:
    """Locations of a scene: at least 3 (train / validation / evaluate), ~4 clips each."""
    return min(n_clips, max(3, round(n_clips / 4)))


def _plan(names: tuple[str, ...], clips: int) -> list[tuple[Clip, int, int, int]]:
    """(clip, scene index in SCENES, location, clip number in scene), in meta.csv order."""
    plan = []
    for i, scene in enumerate(names):
        n = clips // len(names) + (1 if i < clips % len(names) else 0)
        n_loc = _n_locations(n)
        for c in range(n):
            loc = c % n_loc  # round robin: every location gets about the same count
            city, idx = CITIES[loc % len(CITIES)], loc // len(CITIES)
            name = f"audio/{scene}-{city}-{idx}-{c // n_loc}-a.wav"
            plan.append((Clip(name, scene, f"{city}-{idx}", "a"), SCENES.index(scene), loc, c))
    return plan


def _render_clip(
    rng: np.random.Generator, n: int, sr: int, bg: Background, probs: dict[str, float]
) -> tuple[np.ndarray, list[tuple[str, int, int]]]:
    """One clip: (waveform (n, 2) float32 in [-0.9, 0.9], [(label, start, end) samples])."""
    bgp = bg.jitter(rng, 0.3)  # small per-clip variation around the location's texture
    x = background(rng, n, sr, bgp)
    events: list[tuple[str, int, int]] = []
    for label in EVENT_LABELS:
        if rng.random() >= probs.get(label, 0.0):
            continue
        for _ in range(1 + int(rng.random() < 0.25)):
            sig = EVENT_GENERATORS[label](rng, sr)[:n]
            start = int(rng.integers(0, n - sig.shape[0] + 1))
            # Level relative to the background, so loudness says nothing about the scene.
            gain = 10 ** ((bgp.level + rng.uniform(0, 22)) / 20)
            theta = (rng.uniform(-0.8, 0.8) + 1) * np.pi / 4  # constant-power panning
            seg = slice(start, start + sig.shape[0])
            x[seg] += gain * sig[:, None] * np.array([np.cos(theta), np.sin(theta)])
            events.append((label, start, start + sig.shape[0]))
    peak = float(np.max(np.abs(x)))
    if peak > 0.9:
        x *= 0.9 / peak  # headroom for 24-bit PCM
    return x.astype(np.float32), sorted(events, key=lambda e: (e[1], e[0]))


def _write_corpus(
    root: Path, names: tuple[str, ...], clips: int, seed: int, duration: float, sr: int
) -> None:
    (root / "audio").mkdir(parents=True)
    (root / "evaluation_setup").mkdir()
    n = int(round(duration * sr))
    last_ms = math.floor(n / sr * 1000) / 1000  # offsets never pass the clip's end
    plan = _plan(names, clips)
    meta = ["filename\tscene_label\tidentifier\tsource_label"]
    events = ["filename\tevent_label\tonset\toffset"]
    loc_cache: dict[tuple[int, int], tuple[Background, dict[str, float]]] = {}
    for clip, gi, loc, c in plan:
        if (gi, loc) not in loc_cache:
            # A location: its own texture and its own take on the scene's event profile.
            lrng = np.random.default_rng([seed, gi, 0, loc])
            bg = SCENE_BACKGROUNDS[clip.scene].jitter(lrng, 1.0)
            profile = {
                lab: float(np.clip(p * lrng.uniform(0.6, 1.4), 0.0, 0.95))
                for lab, p in SCENE_EVENT_PROBS[clip.scene].items()
            }
            loc_cache[(gi, loc)] = (bg, profile)
        bg, profile = loc_cache[(gi, loc)]
        x, evs = _render_clip(np.random.default_rng([seed, gi, 1, c]), n, sr, bg, profile)
        sf.write(root / clip.filename, x, sr, subtype="PCM_24")
        meta.append(f"{clip.filename}\t{clip.scene}\t{clip.location}\t{clip.device}")
        for label, s, e in evs:
            events.append(f"{clip.filename}\t{label}\t{s / sr:.3f}\t{min(e / sr, last_ms):.3f}")
    clip_list = [p[0] for p in plan]
    train, test = location_split(clip_list, EVALUATE_FRACTION, seed=seed)
    setup = root / "evaluation_setup"
    (setup / "fold1_train.txt").write_text("".join(f"{c.filename}\t{c.scene}\n" for c in train))
    (setup / "fold1_evaluate.txt").write_text("".join(f"{c.filename}\t{c.scene}\n" for c in test))
    (setup / "fold1_test.txt").write_text("".join(f"{c.filename}\n" for c in test))
    (root / "meta.csv").write_text("\n".join(meta) + "\n")
    (root / EVENTS_FILE).write_text("\n".join(events) + "\n")
    (root / "README.txt").write_text(_readme(clip_list, train, seed, duration, sr))


def _readme(clips: list[Clip], train: list[Clip], seed: int, duration: float, sr: int) -> str:
    per_scene = Counter(c.scene for c in clips)
    per_train = Counter(c.scene for c in train)
    lines = [
        f"rgasc synthetic acoustic scenes ({VERSION}), seed {seed}",
        "",
        f"{len(clips)} clips of {duration:g} s, {sr} Hz, stereo, 24-bit PCM, in the DCASE layout",
        "(audio/, meta.csv, evaluation_setup/fold1_*.txt). Generated by `rgasc synth`;",
        "the same settings always give the same bytes. No recorded audio is included.",
        "",
        "Scenes (clips: fold1 train / evaluate; locations are never on both sides):",
    ]
    for s in sorted(per_scene):
        locs = len({c.location for c in clips if c.scene == s})
        lines.append(
            f"  {s:18s} {per_scene[s]:4d}: {per_train[s]} / "
            f"{per_scene[s] - per_train[s]}  ({locs} locations)"
        )
    lines += [
        "",
        "Each clip = background texture + events. Backgrounds are filtered noise (spectral",
        "tilt, low rumble, 4 Hz-modulated crowd babble, 50 Hz hum, slow swells) whose",
        "parameters depend on the scene but overlap between scenes and vary per location,",
        "so the background alone is ambiguous. Events come from one vocabulary with a",
        "per-scene probability profile (below), perturbed per location; levels are relative",
        "to the background, positions and stereo panning are random.",
        "",
        "events.csv (tab-separated, header): filename, event_label, onset, offset (seconds,",
        "within the clip). Event labels are AudioSet display names:",
    ]
    for label, gen in EVENT_GENERATORS.items():
        lines.append(f"  {label:24s} {(gen.__doc__ or '').strip().splitlines()[0]}")
    lines += ["", "Probability that a clip contains each event, per scene:"]
    for s in sorted(per_scene):
        prof = sorted(SCENE_EVENT_PROBS[s].items(), key=lambda kv: -kv[1])
        lines.append(f"  {s}: " + ", ".join(f"{k} {p:.1f}" for k, p in prof))
    return "\n".join(lines) + "\n"

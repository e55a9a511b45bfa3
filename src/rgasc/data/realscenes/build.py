"""Build a real-sound acoustic-scene benchmark in the DCASE layout from pinned Debian packages.

Each clip is a real background recording (a *location*) plus real foreground events drawn
with scene-dependent probabilities, so events carry information about the scene while some
scenes share a background type (forest/park: birdsong, riverside/harbour: water,
street_traffic/public_square: traffic) and differ mainly by their events. Locations and
event recordings are split between train, validate and evaluate folds: train shares no
recording with the other two (see :func:`event_pools` for the one exception between validate
and evaluate). The same seed gives the same bytes.

Run ``python -m rgasc.data.realscenes --out data/realscenes`` (``make bench-data``), or
call :func:`build`; see benchmarks/realscenes/README.md. The functions below take recordings
as arrays, so tests can drive them with generated noise instead of the packages.

Output::

    OUT/audio/<scene>-<location>-<segment>-a.wav   10-s clips, mono, 16-bit PCM
    OUT/meta.csv, OUT/events.csv, OUT/evaluation_setup/fold1_*.txt   DCASE layout + events
    OUT/manifest.csv     every source recording: package, version, path, licence, fold, ...
    OUT/placements.csv   what each clip is made of (background and event recordings)
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import shutil
import sys
import time
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import soundfile as sf

from rgasc.data.realscenes import fetch
from rgasc.data.realscenes import mixing as mix
from rgasc.data.realscenes.folds import event_pools, seeded_rng, shared_labels, split_folds
from rgasc.data.realscenes.profiles import REPEATED, SCENE_EVENTS
from rgasc.data.realscenes.readme import dataset_readme
from rgasc.errors import DatasetError

HERE = Path(__file__).resolve().parent
SOURCES_FILE = HERE / "sources.tsv"
VERSION = "realscenes-1"
BG_LEVEL_DB = -28.0  # background RMS, dBFS, before the per-clip gain
BG_GAIN_DB = 4.0  # per-clip background gain: uniform in +-this
SNR_DB = (-3.0, 12.0)  # event active RMS over background RMS, uniform
EXTRA_OCCURRENCE = 0.3  # chance that a present event occurs a second time
MAX_EVENT_S = 8.0  # longer recordings are cropped to a random window this long


BAND_SR = mix.BAND_SR  # the rate every recording is mixed at (see mixing.py)


@dataclasses.dataclass(frozen=True)
class Source:
    """One row of ``sources.tsv``: a recording in a package, its role and label."""

    package: str
    path: str
    role: str  # "background" (label = scene) or "event" (label = event label)
    label: str
    licence: str
    duration: float
    sample_rate: int
    note: str = ""

    @property
    def key(self) -> str:
        return f"{self.package}:{self.path}"


@dataclasses.dataclass(frozen=True)
class ClipPlan:
    """A clip to render: its file, scene, location (= background recording) and fold."""

    filename: str
    scene: str
    location: str
    background: str  # Source.key
    fold: str  # "train", "validate" or "evaluate"
    index: int  # clip number within its scene (seeds the clip's generator)


@dataclasses.dataclass(frozen=True)
class Placement:
    """An event in a clip: label, recording, sample bounds at BAND_SR, repeats, SNR."""

    label: str
    recording: str  # Source.key
    start: int
    end: int
    hits: tuple[int, ...]  # start of each repetition, relative to ``start``
    snr_db: float
    crop: int  # offset into the recording (for recordings longer than MAX_EVENT_S)
    length: int  # samples of the recording used per repetition


def read_sources(path: Path = SOURCES_FILE) -> list[Source]:
    """``sources.tsv`` -> sources, in file order."""
    lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    header = lines[0].split("\t")
    out = []
    for ln in lines[1:]:
        r = dict(zip(header, ln.split("\t"), strict=True))
        out.append(
            Source(
                r["package"],
                r["path"],
                r["role"],
                r["label"],
                r["licence"],
                float(r["duration"]),
                int(r["sample_rate"]),
                r.get("yamnet_top3", ""),
            )
        )
    return out


def plan_clips(
    backgrounds: Mapping[str, Sequence[str]], n_clips: int, seed: int
) -> tuple[list[ClipPlan], dict[str, str], dict[str, str]]:
    """Clips of every scene spread round-robin over its locations.

    Returns (plans, {bg key: location id}, {bg key: fold}).

    ``backgrounds`` maps scene -> background recording keys. Location ids (``loc00``...) are
    unique across scenes, numbered in sorted scene order.
    """
    scenes = sorted(backgrounds)
    if n_clips < 2 * len(scenes):
        raise ValueError(f"clips={n_clips}: need at least 2 per scene ({len(scenes)} scenes)")
    fold = split_folds(backgrounds, seed, "locations")
    loc_id: dict[str, str] = {}
    plans: list[ClipPlan] = []
    for si, scene in enumerate(scenes):
        locs = sorted(backgrounds[scene])
        for bg in locs:
            loc_id[bg] = f"loc{len(loc_id):02d}"
        n = n_clips // len(scenes) + (1 if si < n_clips % len(scenes) else 0)
        for c in range(n):
            bg = locs[c % len(locs)]
            name = f"audio/{scene}-{loc_id[bg]}-{c // len(locs):03d}-a.wav"
            plans.append(ClipPlan(name, scene, loc_id[bg], bg, fold[bg], c))
    return plans, loc_id, fold


def place_events(
    rng: np.random.Generator,
    profile: Mapping[str, float],
    pools: Mapping[str, Sequence[str]],
    lengths: Mapping[str, int],
    n: int,
) -> list[Placement]:
    """Draw the events of one clip of ``n`` samples: presence, recording, position, SNR.

    ``pools`` holds the recordings of the clip's fold per label, ``lengths`` their lengths.
    Every event lies within [0, n).
    """
    out: list[Placement] = []
    for label in sorted(profile):
        if rng.random() >= profile[label]:
            continue
        count = 1 + int(rng.random() < EXTRA_OCCURRENCE)
        for _ in range(count):
            rec = pools[label][int(rng.integers(0, len(pools[label])))]
            full = lengths[rec]
            length = min(full, int(MAX_EVENT_S * BAND_SR), n)
            crop = int(rng.integers(0, full - length + 1))
            hits: tuple[int, ...] = (0,)
            if label in REPEATED:
                lo, hi, gmin, gmax = REPEATED[label]
                k = int(rng.integers(lo, hi + 1))
                gaps = rng.uniform(gmin, gmax, k - 1) * BAND_SR
                hits = tuple(int(v) for v in np.concatenate([[0.0], np.cumsum(gaps)]))
                while len(hits) > 1 and hits[-1] + length > n:
                    hits = hits[:-1]  # keep the walk inside the clip
            span = hits[-1] + length
            start = int(rng.integers(0, n - span + 1))
            snr = float(rng.uniform(*SNR_DB))
            out.append(Placement(label, rec, start, start + span, hits, snr, crop, length))
    return sorted(out, key=lambda p: (p.start, p.label))


def location_profile(seed: int, location: str, scene_events: Mapping[str, float]) -> dict:
    """The scene's event probabilities, each scaled by U(0.7, 1.3) for this location."""
    rng = seeded_rng(seed, "profile", location)
    return {
        k: float(np.clip(p * rng.uniform(0.7, 1.3), 0.0, 0.95))
        for k, p in sorted(scene_events.items())
    }


def mix_clip(
    rng: np.random.Generator,
    background: np.ndarray,
    placements: Sequence[Placement],
    audio: Mapping[str, np.ndarray],
    n: int,
) -> np.ndarray:
    """Background at a random level plus events at their SNR; float32 at BAND_SR, n samples."""
    bg = mix.background_segment(rng, background, n)
    rms = float(np.sqrt(np.mean(bg**2))) or 1e-4
    level = 10 ** ((BG_LEVEL_DB + rng.uniform(-BG_GAIN_DB, BG_GAIN_DB)) / 20)
    x = bg * np.float32(level / rms)
    bg_rms = level
    fade = BAND_SR // 200  # 5 ms: no clicks at the edges of an event or a crop
    for p in placements:
        sig = audio[p.recording][p.crop : p.crop + p.length]
        sig = sig * mix.fades(len(sig), fade if p.crop == 0 else BAND_SR // 20)
        gain = bg_rms * 10 ** (p.snr_db / 20) / max(mix.active_rms(sig), 1e-6)
        for h in p.hits:
            jitter = 10 ** (rng.uniform(-2, 2) / 20) if len(p.hits) > 1 else 1.0
            a = p.start + h
            x[a : a + len(sig)] += np.float32(gain * jitter) * sig
    return x.astype(np.float32)


def build_dataset(
    out: Path,
    sources: Sequence[Source],
    load: Callable[[Source], tuple[np.ndarray, int]],
    clips: int = 1000,
    seed: int = 0,
    sample_rate: int = 44100,
    clip_seconds: float = 10.0,
    scene_events: Mapping[str, Mapping[str, float]] | None = None,
    provenance: Mapping[str, str] | None = None,
    log: Callable[[str], None] = lambda s: None,
) -> dict[str, object]:
    """Write the dataset under ``out`` (which must not exist); returns a summary.

    Args:
        sources: the recordings; every scene of ``scene_events`` needs >= 2 backgrounds and
            every event label it uses >= 2 recordings.
        load: source -> (mono waveform, sample rate).
        provenance: {package: version} written into manifest.csv.
    """
    scene_events = SCENE_EVENTS if scene_events is None else scene_events
    used = {lab for prof in scene_events.values() for lab in prof}
    bgs: dict[str, list[str]] = defaultdict(list)
    evs: dict[str, list[str]] = defaultdict(list)
    by_key = {s.key: s for s in sources}
    for s in sources:
        if s.role == "background" and s.label in scene_events:
            bgs[s.label].append(s.key)
        elif s.role == "event" and s.label in used:
            evs[s.label].append(s.key)
    missing = sorted(set(scene_events) - set(bgs)) + sorted(used - set(evs))
    if missing:
        raise ValueError(f"no recordings for {missing}")
    plans, loc_id, loc_fold = plan_clips(bgs, clips, seed)
    ev_fold = split_folds(evs, seed, "events")
    audio = {k: mix.prepare(*load(by_key[k]), by_key[k].role) for k in [*loc_id, *ev_fold]}
    empty = [k for k, a in audio.items() if len(a) == 0]
    if empty:
        raise ValueError(f"silent or empty recordings: {empty[:3]}")
    lengths = {k: len(a) for k, a in audio.items()}
    pools = event_pools(evs, ev_fold)
    n = int(round(clip_seconds * BAND_SR))
    n_out = int(round(clip_seconds * sample_rate))
    last = np.floor(clip_seconds * 1000) / 1000
    (out / "audio").mkdir(parents=True)
    (out / "evaluation_setup").mkdir()
    meta = ["filename\tscene_label\tidentifier\tsource_label"]
    rows = ["filename\tevent_label\tonset\toffset"]
    # what each clip is made of: the recordings behind meta.csv and events.csv
    parts = ["filename\trole\tlabel\tpackage\tpath\tonset\toffset\tsnr_db"]
    uses: Counter[str] = Counter()
    profiles: dict[str, dict[str, float]] = {}
    for i, plan in enumerate(plans):
        if plan.location not in profiles:
            profiles[plan.location] = location_profile(
                seed, plan.location, scene_events[plan.scene]
            )
        rng = seeded_rng(seed, "clip", plan.scene, plan.index)
        placed = place_events(rng, profiles[plan.location], pools[plan.fold], lengths, n)
        x = mix.to_output(
            mix_clip(rng, audio[plan.background], placed, audio, n), sample_rate, n_out
        )
        sf.write(out / plan.filename, x, sample_rate, subtype="PCM_16")
        meta.append(f"{plan.filename}\t{plan.scene}\t{plan.location}\ta")
        uses[plan.background] += 1
        bg = by_key[plan.background]
        parts.append(
            f"{plan.filename}\tbackground\t{plan.scene}\t{bg.package}\t{bg.path}"
            f"\t0.000\t{last:.3f}\t"
        )
        for p in placed:
            uses[p.recording] += 1
            on, off = p.start / BAND_SR, min(p.end / BAND_SR, last)
            rows.append(f"{plan.filename}\t{p.label}\t{on:.3f}\t{off:.3f}")
            src = by_key[p.recording]
            parts.append(
                f"{plan.filename}\tevent\t{p.label}\t{src.package}\t{src.path}"
                f"\t{on:.3f}\t{off:.3f}\t{p.snr_db:.1f}"
            )
        if (i + 1) % 100 == 0:
            log(f"  {i + 1}/{len(plans)} clips")
    train = [p for p in plans if p.fold == "train"]
    val = [p for p in plans if p.fold == "validate"]
    test = [p for p in plans if p.fold == "evaluate"]
    setup = out / "evaluation_setup"
    # fold1_train holds the training clips only: a tool that knows no validate file then
    # never trains on the validation clips (which may hear evaluate recordings)
    (setup / "fold1_train.txt").write_text("".join(f"{p.filename}\t{p.scene}\n" for p in train))
    (setup / "fold1_validate.txt").write_text("".join(f"{p.filename}\t{p.scene}\n" for p in val))
    (setup / "fold1_evaluate.txt").write_text("".join(f"{p.filename}\t{p.scene}\n" for p in test))
    (setup / "fold1_test.txt").write_text("".join(f"{p.filename}\n" for p in test))
    (out / "meta.csv").write_text("\n".join(meta) + "\n")
    (out / "events.csv").write_text("\n".join(rows) + "\n")
    (out / "placements.csv").write_text("\n".join(parts) + "\n")
    fold_of = {**ev_fold, **loc_fold}
    _write_manifest(
        out / "manifest.csv",
        [by_key[k] for k in [*loc_id, *ev_fold]],
        fold_of,
        loc_id,
        uses,
        provenance or {},
    )
    return {
        "clips": len(plans),
        "train": len(train),
        "validate": len(val),
        "evaluate": len(test),
        "validate_hears_evaluate": shared_labels(evs, ev_fold),
        "events": len(rows) - 1,
        "scenes": {s: Counter(p.fold for p in plans if p.scene == s) for s in sorted(bgs)},
        "event_recordings": {lab: Counter(ev_fold[k] for k in ks) for lab, ks in evs.items()},
    }


def _write_manifest(
    path: Path,
    sources: Sequence[Source],
    fold: Mapping[str, str],
    loc_id: Mapping[str, str],
    uses: Mapping[str, int],
    provenance: Mapping[str, str],
) -> None:
    cols = [
        "package",
        "version",
        "path",
        "licence",
        "duration",
        "role",
        "label",
        "fold",
        "location",
        "uses",
    ]
    lines = ["\t".join(cols)]
    for s in sources:
        lines.append(
            "\t".join(
                [
                    s.package,
                    provenance.get(s.package, ""),
                    s.path,
                    s.licence,
                    f"{s.duration:.3f}",
                    s.role,
                    s.label,
                    fold[s.key],
                    loc_id.get(s.key, ""),
                    str(uses.get(s.key, 0)),
                ]
            )
        )
    path.write_text("\n".join(lines) + "\n")


def build(
    out: Path,
    clips: int = 1000,
    seed: int = 0,
    sample_rate: int = 44100,
    cache: Path | None = None,
    force: bool = False,
    log: Callable[[str], None] = print,
) -> dict[str, Any]:
    """Fetch the pinned packages (once, into ``cache``) and write the benchmark to ``out``.

    Returns build.json's record. A finished build with the same settings is reused as is;
    one with other settings is refused unless ``force``. The clips are written into
    ``OUT.tmp`` and renamed at the end, so an interrupted build leaves no half dataset.

    Raises:
        FetchError: a package cannot be fetched or does not match its pin.
        DatasetError: ``out`` holds a different build and ``force`` is off.
    """
    cache = cache or fetch.default_cache()
    settings = {
        "version": VERSION,
        "clips": clips,
        "seed": seed,
        "sample_rate": sample_rate,
        "clip_seconds": 10.0,
        "sources_sha256": fetch.sha256_of(SOURCES_FILE),
        "packages_sha256": fetch.sha256_of(fetch.PACKAGES_FILE),
    }
    done = out / "build.json"
    if done.is_file():
        record = json.loads(done.read_text())
        if record.get("settings") == settings:
            log(f"{out}: already built with these settings")
            return dict(record)
        if not force:
            raise DatasetError(
                f"{out}: holds a different build of the real-scenes benchmark; choose "
                "another --out, or pass --force to replace it"
            )
    t0 = time.perf_counter()
    packages = fetch.read_packages()
    sources = read_sources()
    wanted: dict[str, set[str]] = defaultdict(set)
    for s in sources:
        wanted[s.package].add(s.path)
    log(
        f"packages: {len(wanted)} pinned .debs, "
        f"{sum(packages[p].size for p in wanted) / 1e6:.0f} MB, cache {cache}"
    )
    roots = fetch.fetch_all(packages, wanted, cache)

    def load(s: Source) -> tuple[np.ndarray, int]:
        x, sr = fetch.read_audio(roots[s.package], s.path)
        if abs(len(x) / sr - s.duration) > 0.01:  # the pinned list and the file disagree
            raise ValueError(f"{s.key}: {len(x) / sr:.3f} s, sources.tsv says {s.duration}")
        return x, sr

    tmp = out.with_name(out.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    t1 = time.perf_counter()
    summary = build_dataset(
        tmp,
        sources,
        load,
        clips,
        seed,
        sample_rate,
        provenance={p: packages[p].version for p in wanted},
        log=log,
    )
    (tmp / "README.txt").write_text(dataset_readme(summary, settings, packages, SCENE_EVENTS))
    t2 = time.perf_counter()
    record = {
        "settings": settings,
        "summary": summary,
        "packages": {p: dataclasses.asdict(packages[p]) for p in sorted(wanted)},
        "seconds": {"fetch": round(t1 - t0, 1), "render": round(t2 - t1, 1)},
    }
    (tmp / "build.json").write_text(json.dumps(record, indent=1, default=dict) + "\n")
    shutil.rmtree(out, ignore_errors=True)
    tmp.rename(out)
    log(
        f"wrote {out}: {summary['clips']} clips ({summary['train']} train / "
        f"{summary['validate']} validate / {summary['evaluate']} evaluate), "
        f"{summary['events']} events; fetch {t1 - t0:.0f} s, render {t2 - t1:.0f} s"
    )
    return json.loads(json.dumps(record, default=dict))


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(
        prog="python -m rgasc.data.realscenes", description=__doc__.split("\n\n")[0]
    )
    ap.add_argument("--out", type=Path, default=Path("data") / "realscenes")
    ap.add_argument("--clips", type=int, default=1000, help="clips in all (default 1000)")
    ap.add_argument("--seed", type=int, default=0)
    ap.add_argument("--sample-rate", type=int, default=44100, help="rate of the wav files")
    ap.add_argument(
        "--cache",
        type=Path,
        default=None,
        help="folder for debs/ and files/ (default $RGASC_CACHE/realscenes, "
        "else ~/.cache/rgasc/realscenes)",
    )
    ap.add_argument("--force", action="store_true", help="replace an existing different build")
    args = ap.parse_args(argv)
    try:
        build(args.out, args.clips, args.seed, args.sample_rate, args.cache, args.force)
    except (fetch.FetchError, DatasetError) as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    return 0

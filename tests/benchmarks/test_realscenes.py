"""The real-scenes builder (benchmarks/realscenes/) on tiny generated recordings: no apt.

benchmarks/ is not a package, so build.py is loaded by path (``spec_from_file_location``);
it loads its siblings (mixing.py, fetch.py) the same way.
"""

from __future__ import annotations

import csv
import hashlib
import importlib.util
import io
import sys
import tarfile
from collections import defaultdict
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import soundfile as sf

ROOT = Path(__file__).resolve().parents[2] / "benchmarks" / "realscenes"
SR = 22050  # of the generated recordings: not BAND_SR, so the resampling path runs
CLIP_S = 3.0


def _load(name: str) -> ModuleType:
    spec = importlib.util.spec_from_file_location(f"realscenes_{name}", ROOT / f"{name}.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses resolve their module through sys.modules
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def build() -> ModuleType:
    return _load("build")


@pytest.fixture(scope="module")
def fetch() -> ModuleType:
    return _load("fetch")


WALK = "Walk, footsteps"  # a REPEATED label of build.py: several steps per event
SCENES = {
    "meadow": {"chirp": 0.8, WALK: 0.4},
    "lane": {"honk": 0.7, WALK: 0.5},
    "quay": {"honk": 0.3, "thud": 0.8},
}
EVENT_RECS = {"chirp": 3, "honk": 2, WALK: 4, "thud": 2}


def _recording(kind: str, i: int) -> np.ndarray:
    """Noise beds of a few seconds; events as tone bursts padded with silence to trim."""
    rng = np.random.default_rng(i + 100 * len(kind))
    t = np.arange(int(SR * 0.4)) / SR
    if kind == "bed":
        n = int(SR * (1.3 + 2.5 * (i % 3)))  # shorter and longer than a clip: loop and crop
        return (0.1 * rng.standard_normal(n)).astype(np.float32)
    if kind == WALK:
        body = rng.standard_normal(int(SR * 0.08)) * np.hanning(int(SR * 0.08))
    else:
        body = np.sin(2 * np.pi * (400 + 150 * i) * t) * np.hanning(len(t))
    pad = np.zeros(int(SR * 0.2))
    return np.concatenate([pad, 0.5 * body, pad]).astype(np.float32)


@pytest.fixture(scope="module")
def sources(build: ModuleType, tmp_path_factory: pytest.TempPathFactory) -> list:
    """Generated recordings as wav files, described as sources.tsv rows would be."""
    folder = tmp_path_factory.mktemp("recordings")
    out = []
    for s_i, scene in enumerate(SCENES):
        for k in range(3):
            path = folder / f"{scene}{k}.wav"
            sf.write(path, _recording("bed", 3 * s_i + k), SR)
            out.append(build.Source("pkg", str(path), "background", scene, "CC0-1.0", 0.0, SR))
    for label, n in EVENT_RECS.items():
        for k in range(n):
            path = folder / f"{label.split(',')[0]}{k}.wav"
            sf.write(path, _recording(label, k), SR)
            out.append(build.Source("pkg", str(path), "event", label, "CC0-1.0", 0.0, SR))
    return out


def _read(path: str) -> tuple[np.ndarray, int]:
    x, sr = sf.read(path, dtype="float32")
    return x, sr


def _make(build: ModuleType, sources: list, out: Path, seed: int = 3) -> dict:
    return build.build_dataset(
        out,
        sources,
        lambda s: _read(s.path),
        clips=18,
        seed=seed,
        sample_rate=16000,
        clip_seconds=CLIP_S,
        scene_events=SCENES,
    )


@pytest.fixture(scope="module")
def dataset(build: ModuleType, sources: list, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("ds") / "realscenes"
    _make(build, sources, out)
    return out


def _tsv(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f, delimiter="\t"))


def _digest(root: Path) -> dict[str, str]:
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def test_same_seed_same_bytes(build, sources, dataset, tmp_path):
    again = tmp_path / "again"
    _make(build, sources, again)
    assert _digest(again) == _digest(dataset)
    other = tmp_path / "other"
    _make(build, sources, other, seed=4)
    assert _digest(other)["events.csv"] != _digest(dataset)["events.csv"]


def test_folds_are_location_disjoint(dataset):
    meta = {r["filename"]: r for r in _tsv(dataset / "meta.csv")}
    setup = dataset / "evaluation_setup"
    train = [ln.split("\t")[0] for ln in (setup / "fold1_train.txt").read_text().splitlines()]
    test = [ln.split("\t")[0] for ln in (setup / "fold1_evaluate.txt").read_text().splitlines()]
    assert sorted(train + test) == sorted(meta) and not set(train) & set(test)
    assert (setup / "fold1_test.txt").read_text().split() == test
    loc_train = {meta[f]["identifier"] for f in train}
    loc_test = {meta[f]["identifier"] for f in test}
    assert loc_train and loc_test and not loc_train & loc_test
    # a location is one background recording of one scene
    scene_of = defaultdict(set)
    for r in meta.values():
        scene_of[r["identifier"]].add(r["scene_label"])
    assert all(len(s) == 1 for s in scene_of.values())


def test_event_recordings_are_fold_disjoint(dataset):
    meta = {r["filename"]: r for r in _tsv(dataset / "meta.csv")}
    setup = dataset / "evaluation_setup"
    test = {ln.split("\t")[0] for ln in (setup / "fold1_evaluate.txt").read_text().splitlines()}
    heard: dict[str, set[str]] = defaultdict(set)
    for r in _tsv(dataset / "placements.csv"):
        heard[r["path"]].add("evaluate" if r["filename"] in test else "train")
    assert all(len(f) == 1 for f in heard.values())
    manifest = {r["path"]: r for r in _tsv(dataset / "manifest.csv")}
    for path, folds in heard.items():
        assert folds == {manifest[path]["fold"]}
    assert meta  # every label keeps a recording in each fold
    for label in EVENT_RECS:
        folds = {r["fold"] for r in manifest.values() if r["label"] == label}
        assert folds == {"train", "evaluate"}


def test_events_within_clip_and_match_placements(dataset):
    events = _tsv(dataset / "events.csv")
    assert events and {r["event_label"] for r in events} <= set(EVENT_RECS)
    for r in events:
        assert 0.0 <= float(r["onset"]) < float(r["offset"]) <= CLIP_S
    placed = [r for r in _tsv(dataset / "placements.csv") if r["role"] == "event"]
    key = ("filename", "onset", "offset")
    assert sorted((r["filename"], r["event_label"], r["onset"], r["offset"]) for r in events) == (
        sorted((r[key[0]], r["label"], r[key[1]], r[key[2]]) for r in placed)
    )
    walks = [r for r in events if r["event_label"] == WALK]
    assert all(float(r["offset"]) - float(r["onset"]) > 0.5 for r in walks)  # several steps


def test_levels_finite_and_not_clipping(build, dataset):
    files = sorted((dataset / "audio").glob("*.wav"))
    assert len(files) == 18
    for f in files:
        x, sr = sf.read(f, dtype="float32")
        assert sr == 16000 and x.shape == (int(CLIP_S * sr),)
        assert np.isfinite(x).all()
        assert np.sqrt(np.mean(x**2)) > 1e-3 and np.abs(x).max() <= build.mix.PEAK + 1e-4


def test_annotations_teacher_reads_events(dataset):
    from rgasc.teachers import get_teacher

    teacher = get_teacher("annotations", dataset=dataset)
    assert set(teacher.labels) <= set(EVENT_RECS)
    names = [r["filename"] for r in _tsv(dataset / "meta.csv")]
    y = teacher.tag_names(names)
    assert y.shape == (len(names), len(teacher.labels)) and y.sum() > 0


def test_split_folds_rules(build):
    groups = {"a": ["x1", "x2"], "b": [f"y{i}" for i in range(7)]}
    fold = build.split_folds(groups, seed=1, salt="t")
    assert fold == build.split_folds(groups, seed=1, salt="t")
    assert sorted(fold) == sorted(groups["a"] + groups["b"])
    assert [fold[k] for k in groups["a"]].count("evaluate") == 1
    assert [fold[k] for k in groups["b"]].count("evaluate") == 7 // build.EVAL_SHARE
    with pytest.raises(ValueError, match="both folds"):
        build.split_folds({"c": ["z"]}, seed=1, salt="t")


def test_background_loops_and_crops(build):
    rng = np.random.default_rng(0)
    short = np.sin(np.arange(500) / 7).astype(np.float32)
    seg = build.mix.background_segment(rng, short, 4000)
    assert seg.shape == (4000,) and np.isfinite(seg).all()
    assert np.max(np.abs(np.diff(seg))) < 0.5  # crossfaded joins, no jumps
    long = np.arange(10_000, dtype=np.float32)
    win = build.mix.background_segment(rng, long, 1000)
    assert np.all(np.diff(win) == 1)  # one contiguous window


def test_place_events_inside_clip(build):
    n = build.BAND_SR * 2
    lengths = {"long": n * 3, "step": 800, "tone": 3000}
    pools = {"long": ["long"], "Walk, footsteps": ["step"], "tone": ["tone"]}
    profile = {"long": 1.0, "Walk, footsteps": 1.0, "tone": 1.0}
    for seed in range(20):
        for p in build.place_events(np.random.default_rng(seed), profile, pools, lengths, n):
            assert 0 <= p.start < p.end <= n
            assert p.start + p.hits[-1] + p.length == p.end
            assert 0 <= p.crop <= lengths[p.recording] - p.length


def test_trim_and_output(build):
    x = np.concatenate([np.zeros(2000), np.ones(1000), np.zeros(2000)]).astype(np.float32)
    y = build.mix.trim_silence(x)
    assert 1000 <= len(y) <= 1300 and y.max() == 1.0
    z = build.mix.to_output(np.full(build.BAND_SR, 3.0, np.float32), 44100, 44100)
    assert z.shape == (44100,) and np.abs(z).max() <= build.mix.PEAK + 1e-6


def test_pinned_lists_are_consistent(build, fetch):
    packages = fetch.read_packages()
    sources = build.read_sources()
    keys = [s.key for s in sources]
    assert len(keys) == len(set(keys))
    assert {s.package for s in sources} <= set(packages)
    assert all(s.licence and s.duration > 0 for s in sources)
    for scene, profile in build.SCENE_EVENTS.items():
        assert sum(s.role == "background" and s.label == scene for s in sources) >= 3, scene
        for label in profile:
            assert sum(s.role == "event" and s.label == label for s in sources) >= 2, label


def _deb(members: dict[str, bytes]) -> bytes:
    """A minimal .deb: ar archive with debian-binary and data.tar.xz."""
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:xz") as tar:
        for name, data in members.items():
            info = tarfile.TarInfo("./" + name)
            info.size = len(data)
            tar.addfile(info, io.BytesIO(data))
    out = b"!<arch>\n"
    for name, data in (("debian-binary", b"2.0\n"), ("data.tar.xz", buf.getvalue())):
        out += f"{name + '/':16s}{0:<12d}{0:<6d}{0:<6d}{100644:<8d}{len(data):<10d}`\n".encode()
        out += data + (b"\n" if len(data) % 2 else b"")
    return out


def test_extract_reads_deb_members(fetch, tmp_path):
    deb = tmp_path / "x_1_all.deb"
    deb.write_bytes(_deb({"usr/share/a.txt": b"hello", "usr/share/b/c.bin": b"\x00\x01"}))
    fetch.extract(deb, {"usr/share/b/c.bin"}, tmp_path / "root")
    assert (tmp_path / "root" / "usr/share/b/c.bin").read_bytes() == b"\x00\x01"
    assert not (tmp_path / "root" / "usr/share/a.txt").exists()
    with pytest.raises(fetch.FetchError, match="no such file"):
        fetch.extract(deb, {"usr/share/missing"}, tmp_path / "root")


def test_cached_deb_is_verified(fetch, tmp_path):
    data = _deb({"f": b"1"})
    pkg = fetch.Package("x", "1", hashlib.sha256(data).hexdigest(), len(data), "CC0-1.0")
    (tmp_path / "debs").mkdir()
    (tmp_path / "debs" / pkg.filename).write_bytes(data)
    assert fetch.ensure_deb(pkg, tmp_path) == tmp_path / "debs" / pkg.filename

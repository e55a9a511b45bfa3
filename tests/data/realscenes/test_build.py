"""rgasc.data.realscenes: the benchmark builder on tiny generated recordings (no apt)."""

from __future__ import annotations

import csv
import hashlib
import io
import tarfile
from collections import defaultdict
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest
import soundfile as sf

SR = 22050  # of the generated recordings: not BAND_SR, so the resampling path runs
CLIP_S = 3.0


@pytest.fixture(scope="module")
def build() -> ModuleType:
    from rgasc.data.realscenes import build

    return build


@pytest.fixture(scope="module")
def folds() -> ModuleType:
    from rgasc.data.realscenes import folds

    return folds


@pytest.fixture(scope="module")
def fetch() -> ModuleType:
    from rgasc.data.realscenes import fetch

    return fetch


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


def _fold_lists(dataset: Path) -> dict[str, list[str]]:
    setup = dataset / "evaluation_setup"
    return {
        f: [ln.split("\t")[0] for ln in (setup / f"fold1_{f}.txt").read_text().splitlines()]
        for f in ("train", "validate", "evaluate")
    }


def test_folds_are_location_disjoint(dataset):
    meta = {r["filename"]: r for r in _tsv(dataset / "meta.csv")}
    folds = _fold_lists(dataset)
    names = [n for f in folds.values() for n in f]
    assert sorted(names) == sorted(meta) and len(set(names)) == len(names)
    assert (dataset / "evaluation_setup" / "fold1_test.txt").read_text().split() == folds[
        "evaluate"
    ]
    locs = {f: {meta[n]["identifier"] for n in names} for f, names in folds.items()}
    assert all(locs.values())
    assert not locs["train"] & locs["validate"] and not locs["train"] & locs["evaluate"]
    assert not locs["validate"] & locs["evaluate"]
    # a location is one background recording of one scene
    scene_of = defaultdict(set)
    for r in meta.values():
        scene_of[r["identifier"]].add(r["scene_label"])
    assert all(len(s) == 1 for s in scene_of.values())


def test_event_recordings_are_fold_disjoint(dataset):
    """Train hears no recording of validate or evaluate; validate borrows evaluate
    recordings only for labels with a single training recording (honk, thud: 2 in all)."""
    fold_of = {n: f for f, names in _fold_lists(dataset).items() for n in names}
    heard: dict[str, set[str]] = defaultdict(set)
    for r in _tsv(dataset / "placements.csv"):
        if r["role"] == "event":
            heard[r["path"]].add(fold_of[r["filename"]])
    manifest = {r["path"]: r for r in _tsv(dataset / "manifest.csv")}
    for path, folds in heard.items():
        own = manifest[path]["fold"]
        assert own in folds
        if own == "train":
            assert folds == {"train"}
        else:
            assert "train" not in folds
            if folds == {"validate", "evaluate"}:
                assert manifest[path]["label"] in ("honk", "thud")
    for label, n in EVENT_RECS.items():
        folds = {r["fold"] for r in manifest.values() if r["label"] == label}
        assert folds == ({"train", "evaluate"} if n == 2 else {"train", "validate", "evaluate"})


def test_dataset_splits_by_the_shipped_validate_list(dataset):
    from rgasc.data import DcaseDataset

    ds = DcaseDataset(dataset)
    folds = _fold_lists(dataset)
    assert ds.has_validate()
    assert [c.filename for c in ds.split("val")] == folds["validate"]
    assert [c.filename for c in ds.split("train")] == folds["train"]
    assert [c.filename for c in ds.split("test")] == folds["evaluate"]


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


def test_split_folds_rules(folds):
    groups = {"a": ["x1", "x2"], "b": [f"y{i}" for i in range(7)], "c": ["z1", "z2", "z3"]}
    fold = folds.split_folds(groups, seed=1, salt="t")
    assert fold == folds.split_folds(groups, seed=1, salt="t")
    assert sorted(fold) == sorted(k for g in groups.values() for k in g)
    counts = {g: [fold[k] for k in ks] for g, ks in groups.items()}
    assert sorted(counts["a"]) == ["evaluate", "train"]  # too few for a validate item
    assert counts["b"].count("evaluate") == 7 // folds.EVAL_SHARE
    assert counts["b"].count("validate") == (7 - 2) // folds.EVAL_SHARE
    assert sorted(counts["c"]) == ["evaluate", "train", "validate"]
    with pytest.raises(ValueError, match="both folds"):
        folds.split_folds({"c": ["z"]}, seed=1, salt="t")


def test_adding_validate_kept_the_evaluate_fold(folds):
    """The evaluate item of every group is the one the two-fold split chose (rank 0 of the
    same permutation), so test sets built before the validate fold are unchanged."""
    groups = {g: [f"{g}{i}" for i in range(n)] for g, n in (("a", 2), ("b", 5), ("c", 9))}
    fold = folds.split_folds(groups, seed=4, salt="events")
    for g, items in groups.items():
        order = folds.seeded_rng(4, "events", g).permutation(len(items))
        n_eval = max(1, len(items) // folds.EVAL_SHARE)
        assert {items[i] for i in order[:n_eval]} == {k for k in items if fold[k] == "evaluate"}


def test_event_pools_fall_back_to_evaluate_for_validation(folds):
    events = {"one": ["o1", "o2"], "many": ["m1", "m2", "m3"]}
    fold = {"o1": "train", "o2": "evaluate", "m1": "train", "m2": "validate", "m3": "evaluate"}
    pools = folds.event_pools(events, fold)
    assert pools["validate"] == {"one": ["o2"], "many": ["m2"]}
    assert pools["train"] == {"one": ["o1"], "many": ["m1"]}
    assert folds.shared_labels(events, fold) == ["one"]


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

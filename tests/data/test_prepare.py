"""rgasc.data.prepare: own recordings (a folder tree or a CSV/TSV list) -> DCASE layout.

Then the later stages (features, relation) run on the prepared dataset unchanged.
"""

from __future__ import annotations

import os
import re
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from helpers.files import mode, umask
from rgasc.data import DcaseDataset
from rgasc.data.prepare import INFO, MIN_LOCATIONS, Source, output_names, prepare_dataset
from rgasc.errors import DatasetError, RgascError

SCENES = ("beach", "cafe", "office")
SR = 8000


def _wav(path: Path, seconds: float = 0.25, seed: int = 0, fmt: str = "WAV") -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    x = 0.1 * np.random.default_rng(seed).standard_normal(int(seconds * SR))
    sf.write(path, x.astype(np.float32), SR, format=fmt)
    return path


@pytest.fixture()
def tree(tmp_path: Path) -> Path:
    """SRC/<scene>/: 4 files a scene, one nested, one flac, plus files prepare ignores."""
    src = tmp_path / "recordings"
    for si, scene in enumerate(SCENES):
        for i in range(3):
            _wav(src / scene / f"take {i}.wav", seed=10 * si + i)
        _wav(src / scene / "day2" / "extra.flac", seed=10 * si + 9, fmt="FLAC")
        (src / scene / "notes.txt").write_text("not audio\n")
    _wav(src / "loose.wav")  # not in a scene folder
    (src / "empty-scene").mkdir()
    return src


def _csv(tmp_path: Path, sep: str = ",", name: str = "list.csv") -> Path:
    """A list with locations and devices: 3 scenes x 4 locations x 2 files, relative paths."""
    base = tmp_path / "lists"
    rows = [sep.join(["path", "scene", "location", "device"])]
    for si, scene in enumerate(SCENES):
        for loc in range(4):
            for k in range(2):
                rel = Path("audio") / scene / f"loc{loc}_{k}.wav"
                _wav(base / rel, seed=100 * si + 10 * loc + k)
                rows.append(
                    sep.join([rel.as_posix(), scene, f"site{loc}", "phone" if k else "zoom"])
                )
    path = base / name
    path.write_text("\n".join(rows) + "\n")
    return path


def _fold(root: Path, part: str) -> list[str]:
    return [
        ln.split("\t")[0]
        for ln in (root / "evaluation_setup" / f"fold1_{part}.txt").read_text().splitlines()
    ]


def test_prepare_from_a_tree_links_audio(tree: Path, tmp_path: Path) -> None:
    res = prepare_dataset(tree, tmp_path / "ds")
    ds = DcaseDataset(res.root)
    assert ds.scenes == sorted(SCENES) and len(ds) == 12 == res.clips
    assert not res.copied and any("each file is its own location" in n for n in res.notes)
    assert any("loose.wav" in n for n in res.notes) and any("empty-scene" in n for n in res.notes)
    for c in ds.clips:
        path = ds.audio_path(c)
        assert path.is_symlink() and Path(os.readlink(path)).is_absolute()
        assert re.fullmatch(r"audio/[A-Za-z0-9._-]+\.(wav|flac)", c.filename)
        assert c.device == "unknown" and c.location == c.key  # its own location
    assert ds.clip("beach-take_0").filename == "audio/beach-take_0.wav"
    assert os.readlink(ds.audio_path(ds.clip("beach-take_0"))) == str(
        (tree / "beach" / "take 0.wav").resolve()
    )
    assert ds.clip("cafe-extra").filename == "audio/cafe-extra.flac"
    train, test = ds.split("trainval"), ds.split("test")
    assert sorted(c.key for c in train + test) == sorted(c.key for c in ds.clips)
    assert {c.group for c in train}.isdisjoint({c.group for c in test})
    for scene in SCENES:  # 4 locations, 30 %: 1 evaluate, 3 train; validation carves 1
        assert sum(c.scene == scene for c in test) == 1
        assert sum(c.scene == scene for c in ds.split("val")) == 1
    assert _fold(res.root, "test") == _fold(res.root, "evaluate")
    assert res.counts["beach"] == (3, 1, 3, 1)
    assert (res.root / INFO).is_file()


def test_same_seed_same_folds(tree: Path, tmp_path: Path) -> None:
    a = prepare_dataset(tree, tmp_path / "a", seed=5)
    b = prepare_dataset(tree, tmp_path / "b", seed=5)
    for part in ("train", "evaluate"):
        assert _fold(a.root, part) == _fold(b.root, part)
    assert (a.root / "meta.csv").read_text() == (b.root / "meta.csv").read_text()


def test_copy(tree: Path, tmp_path: Path) -> None:
    res = prepare_dataset(tree, tmp_path / "ds", copy=True)
    path = res.root / "audio" / "office-take_2.wav"
    assert (
        not path.is_symlink() and path.read_bytes() == (tree / "office" / "take 2.wav").read_bytes()
    )


@pytest.mark.parametrize("mask", [0o022, 0o027])
def test_the_dataset_folder_honours_the_umask(tree: Path, tmp_path: Path, mask: int) -> None:
    with umask(mask):
        res = prepare_dataset(tree, tmp_path / "ds")
    assert mode(res.root) == 0o777 & ~mask


@pytest.mark.parametrize("sep,name", [(",", "list.csv"), ("\t", "list.tsv"), ("\t", "list.txt")])
def test_prepare_from_a_list(tmp_path: Path, sep: str, name: str) -> None:
    src = _csv(tmp_path, sep, name)
    res = prepare_dataset(src, tmp_path / "ds")
    ds = DcaseDataset(res.root)
    assert len(ds) == 24 and not res.notes
    c = ds.clip("cafe-loc2_1")
    assert (c.scene, c.location, c.device) == ("cafe", "site2", "phone")
    assert os.readlink(ds.audio_path(c)) == str(
        (src.parent / "audio" / "cafe" / "loc2_1.wav").resolve()
    )
    assert sorted(ds.devices) == ["phone", "zoom"]


@pytest.mark.parametrize("seed", range(4))
@pytest.mark.parametrize("fraction", [0.2, 0.5, 0.7])
def test_list_split_is_location_disjoint(tmp_path: Path, seed: int, fraction: float) -> None:
    res = prepare_dataset(_csv(tmp_path), tmp_path / "ds", seed=seed, evaluate_fraction=fraction)
    ds = DcaseDataset(res.root)
    train, test = ds.split("trainval"), ds.split("test")
    for scene in SCENES:
        tr = {c.location for c in train if c.scene == scene}
        ev = {c.location for c in test if c.scene == scene}
        assert tr and ev and tr.isdisjoint(ev) and tr | ev == {f"site{i}" for i in range(4)}
        assert len(ev) == min(3, max(1, round(fraction * 4)))
    assert sorted(c.key for c in train + test) == sorted(c.key for c in ds.clips)


# --- errors ------------------------------------------------------------------------------
def test_unreadable_files_are_listed_or_skipped(tree: Path, tmp_path: Path) -> None:
    (tree / "cafe" / "broken.wav").write_bytes(b"RIFF not really a wav")
    (tree / "cafe" / "empty.wav").write_bytes(b"")
    with pytest.raises(DatasetError, match="2 unreadable audio file") as err:
        prepare_dataset(tree, tmp_path / "ds")
    assert "broken.wav" in str(err.value) and "empty.wav" in str(err.value)
    assert "--skip-bad" in str(err.value) and not (tmp_path / "ds").exists()
    res = prepare_dataset(tree, tmp_path / "ds", skip_bad=True)
    assert sorted(Path(p).name for p, _ in res.skipped) == ["broken.wav", "empty.wav"]
    assert len(DcaseDataset(res.root)) == 12


def test_scene_with_too_few_files(tree: Path, tmp_path: Path) -> None:
    _wav(tree / "tiny" / "one.wav")
    _wav(tree / "tiny" / "two.wav")
    with pytest.raises(DatasetError) as err:
        prepare_dataset(tree, tmp_path / "ds")
    msg = str(err.value)
    assert "'tiny' has 2 location(s) (2 file(s))" in msg and f"at least {MIN_LOCATIONS}" in msg
    assert "files (each file is its own location)" in msg
    assert not list(tmp_path.glob("*ds*"))  # no temporary folder left


def test_scene_with_too_few_locations_in_a_list(tmp_path: Path) -> None:
    src = _csv(tmp_path)
    lines = src.read_text().splitlines()
    # Every beach file recorded at site0 or site1 only.
    lines = [re.sub(r"beach,site[23]", "beach,site1", ln) for ln in lines]
    src.write_text("\n".join(lines) + "\n")
    with pytest.raises(
        DatasetError, match=r"'beach' has 2 location\(s\) \(8 file\(s\)\).*3 locations"
    ):
        prepare_dataset(src, tmp_path / "ds")


def test_duplicate_paths(tmp_path: Path) -> None:
    src = _csv(tmp_path)
    lines = src.read_text().splitlines()
    src.write_text("\n".join([*lines, lines[1].replace("zoom", "phone")]) + "\n")
    with pytest.raises(DatasetError, match=r"listed more than once: .*loc0_0\.wav \(lines 2, 26\)"):
        prepare_dataset(src, tmp_path / "ds")


def test_unknown_and_missing_columns(tmp_path: Path) -> None:
    _wav(tmp_path / "a.wav")
    bad = tmp_path / "bad.csv"
    bad.write_text("path,scene,weather\na.wav,beach,sunny\n")
    with pytest.raises(DatasetError, match=r"bad\.csv:1: unknown column\(s\) \['weather'\]"):
        prepare_dataset(bad, tmp_path / "ds")
    bad.write_text("file,label\na.wav,beach\n")
    with pytest.raises(DatasetError, match="unknown column"):
        prepare_dataset(bad, tmp_path / "ds")
    bad.write_text("path,location\na.wav,here\n")
    with pytest.raises(DatasetError, match=r"missing column\(s\) \['scene'\]"):
        prepare_dataset(bad, tmp_path / "ds")
    bad.write_text("path,scene\na.wav\n")
    with pytest.raises(DatasetError, match=r"bad\.csv:2: 1 field\(s\), the header has 2"):
        prepare_dataset(bad, tmp_path / "ds")


def test_other_errors(tree: Path, tmp_path: Path) -> None:
    (tmp_path / "full").mkdir()
    (tmp_path / "full" / "x").write_text("")
    with pytest.raises(DatasetError, match="not empty"):
        prepare_dataset(tree, tmp_path / "full")
    with pytest.raises(DatasetError, match="between 0 and 1"):
        prepare_dataset(tree, tmp_path / "ds", evaluate_fraction=1.0)
    with pytest.raises(DatasetError, match="no such folder or file"):
        prepare_dataset(tmp_path / "nothing", tmp_path / "ds")
    (tmp_path / "bare").mkdir()
    with pytest.raises(DatasetError, match="no audio in scene folders"):
        prepare_dataset(tmp_path / "bare", tmp_path / "ds")
    (tmp_path / "empty-out").mkdir()  # an empty folder is fine
    assert len(DcaseDataset(prepare_dataset(tree, tmp_path / "empty-out").root)) == 12


# --- names -------------------------------------------------------------------------------
def test_output_names_are_safe_unique_and_deterministic(tmp_path: Path) -> None:
    paths = ["a/x.wav", "b/x.wav", "c/X.wav", "c/x.flac", "c/café bar.wav", "c/x-3f.wav"]
    sources = [Source(tmp_path / p, "park") for p in paths]
    names = output_names(sources)
    assert len({n.lower() for n in names.values()}) == len(paths)
    assert len({Path(n).stem.lower() for n in names.values()}) == len(paths)  # clip keys too
    assert all(re.fullmatch(r"park-[A-Za-z0-9._-]+\.(wav|flac)", n) for n in names.values())
    assert names[tmp_path / "c/café bar.wav"] == "park-cafe_bar.wav"
    assert names[tmp_path / "c/x-3f.wav"] == "park-x-3f.wav"  # no clash: kept as is
    clashing = [names[tmp_path / p] for p in paths[:4]]
    assert all(re.fullmatch(r"park-[xX]-[0-9a-f]{8}\.(wav|flac)", n) for n in clashing)
    assert output_names(list(reversed(sources))) == names  # order does not matter


# --- the command and the later stages ----------------------------------------------------
def test_cli_prepare(tree: Path, tmp_path: Path) -> None:
    from rgasc.cli import app

    res = CliRunner().invoke(
        app, ["prepare", str(tree), "--out", str(tmp_path / "ds"), "--seed", "1"]
    )
    assert res.exit_code == 0, res.output
    assert f"12 clips of 3 scenes in {tmp_path / 'ds'}, audio linked" in res.output
    assert "  beach: 3 train / 1 evaluate clips (3 / 1 locations)" in res.output
    assert "note: no recording locations given" in res.output
    res = CliRunner().invoke(app, ["prepare", str(tree), "--out", str(tmp_path / "ds")])
    assert isinstance(res.exception, RgascError) and "not empty" in str(res.exception)


def test_features_and_relation_run_on_a_prepared_dataset(tmp_path: Path) -> None:
    from rgasc.features import FeatureConfig, compute_features
    from rgasc.labels.files import PseudoLabels, read_labels, write_labels
    from rgasc.relation import compute_relation

    ds = DcaseDataset(prepare_dataset(_csv(tmp_path), tmp_path / "ds").root)
    cfg = FeatureConfig(
        sample_rate=SR,
        n_fft=256,
        hop_length=128,
        n_mels=16,
        fmin=50.0,
        fmax=4000.0,
        clip_seconds=0.25,
    )
    cache = compute_features(ds, tmp_path / "features", cfg, progress=False)
    assert len(cache) == len(ds) and cache.features.shape[0] == len(ds)
    assert np.isfinite(np.asarray(cache.features)).all() and not cache.bad_clips
    # Hand-made pseudo-labels: event 0 in beach clips, event 1 everywhere at 0.5.
    events = ["Waves", "Speech"]
    probs = np.array([[1.0 if c.scene == "beach" else 0.0, 0.5] for c in ds.clips])
    write_labels(
        tmp_path / "labels.csv", PseudoLabels([c.filename for c in ds.clips], probs, events)
    )
    rel = compute_relation(ds, read_labels(tmp_path / "labels.csv"), split="train")
    assert rel.scenes == sorted(SCENES) and rel.events == events
    assert rel.matrix.shape == (3, 2)
    assert (
        rel.matrix[rel.scenes.index("beach"), 0] > 0
        and rel.matrix[rel.scenes.index("cafe"), 0] == 0
    )

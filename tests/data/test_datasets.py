"""rgasc.data.datasets: DCASE layout, its errors, folds and the location-disjoint carve."""

from __future__ import annotations

import random
import shutil
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from helpers.dcase import make_dcase
from rgasc.data import Clip, DcaseDataset, clip_key, location_split
from rgasc.errors import DatasetError

SCENES = ("park", "airport", "bus")  # deliberately not alphabetical


@pytest.fixture(scope="module")
def tiny(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """3 scenes x 2 cities x 3 locations x 2 clips, 0.1 s mono clips (writing is the cost)."""
    root = tmp_path_factory.mktemp("tiny")
    return make_dcase(root, SCENES, locations_per_city=3, seconds=0.1, sr=8000, channels=1)


def _copy(src: Path, dst: Path) -> Path:
    shutil.copytree(src, dst)
    return dst


def test_reads_layout(tiny: Path) -> None:
    ds = DcaseDataset(tiny)
    assert len(ds) == 3 * 2 * 3 * 2
    assert ds.scenes == ["airport", "bus", "park"]  # alphabetical = class index
    c = ds.clips[0]
    assert c.filename == "audio/park-lyon-0-0-a.wav"
    assert (c.scene, c.location, c.device, c.key) == ("park", "lyon-0", "a", "park-lyon-0-0-a")
    assert ds.audio_path(c).is_file()
    assert ds.clip("park-lyon-0-0-a") is c and ds.clip("x/park-lyon-0-0-a.wav") is c
    np.testing.assert_array_equal(ds.labels(ds.clips[:1]), [2])
    assert ds.labels(ds.clips).dtype == np.int64
    assert ds.folds() == [1]


def test_fold_files(tiny: Path) -> None:
    ds = DcaseDataset(tiny)
    train, test = ds.fold(1, "train"), ds.fold(1, "evaluate")
    assert {c.group for c in train}.isdisjoint({c.group for c in test})
    assert sorted(c.filename for c in train + test) == sorted(c.filename for c in ds.clips)
    assert ds.split("test") == test and ds.split("trainval") == train
    assert ds.split("all") == ds.clips


def test_validation_carved_from_training_fold_by_location(tiny: Path) -> None:
    ds = DcaseDataset(tiny)
    train, val = ds.split("train", seed=3), ds.split("val", seed=3)
    assert {c.group for c in train}.isdisjoint({c.group for c in val})
    assert sorted(c.key for c in train + val) == sorted(c.key for c in ds.split("trainval"))
    assert {c.group for c in val}.isdisjoint({c.group for c in ds.split("test")})
    # Every scene keeps training clips and gives some to validation.
    assert Counter(c.scene for c in val).keys() == set(SCENES)
    assert Counter(c.scene for c in train).keys() == set(SCENES)
    assert ds.split("val", seed=3) == val  # deterministic


def test_shipped_validate_list_replaces_the_carve(tiny: Path, tmp_path: Path) -> None:
    root = _copy(tiny, tmp_path / "withval")
    carved = DcaseDataset(root)
    train_file = carved.fold_path(1, "train")
    lines = train_file.read_text().splitlines()
    held = {c.filename for c in carved.split("val", seed=5)}
    keep = [ln for ln in lines if ln.split("\t")[0] not in held]
    train_file.write_text("\n".join(keep) + "\n")
    carved.fold_path(1, "validate").write_text(
        "\n".join(ln for ln in lines if ln.split("\t")[0] in held) + "\n"
    )
    ds = DcaseDataset(root)
    assert ds.has_validate() and not carved.has_validate(2)
    # the given list wins, whatever the carve's fraction and seed would say
    for seed, fraction in ((0, 0.3), (9, 0.5)):
        assert {c.filename for c in ds.split("val", seed=seed, val_fraction=fraction)} == held
        train = ds.split("train", seed=seed, val_fraction=fraction)
        assert {c.filename for c in train} == {ln.split("\t")[0] for ln in keep}
    assert len(ds.split("trainval")) == len(lines)
    # a validate list that overlaps the train list is refused, naming the file
    train_file.write_text("\n".join(lines) + "\n")
    with pytest.raises(DatasetError, match="validate.*disjoint"):
        DcaseDataset(root).split("val")


def test_dataset_without_fold_files_is_split_by_location(tiny: Path, tmp_path: Path) -> None:
    root = _copy(tiny, tmp_path / "nofolds")
    shutil.rmtree(root / "evaluation_setup")
    ds = DcaseDataset(root)
    assert ds.folds() == []
    trainval, test = ds.split("trainval"), ds.split("test")
    assert test and trainval
    assert {c.group for c in trainval}.isdisjoint({c.group for c in test})
    assert sorted(c.key for c in trainval + test) == sorted(c.key for c in ds.clips)
    train, val = ds.split("train"), ds.split("val")
    assert sorted(c.key for c in train + val) == sorted(c.key for c in trainval)


def test_meta_without_identifier_takes_location_from_name(tmp_path: Path) -> None:
    (tmp_path / "audio").mkdir()
    (tmp_path / "meta.csv").write_text(
        "filename\tscene_label\naudio/bus-paris-4-0-b.wav\tbus\nodd_name.wav\tbus\n"
    )
    ds = DcaseDataset(tmp_path)
    assert (ds.clips[0].location, ds.clips[0].device) == ("paris-4", "b")
    assert ds.clips[1].location == "odd_name"


# --- errors ------------------------------------------------------------------------------
def test_missing_folder_meta_and_audio(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no such dataset folder"):
        DcaseDataset(tmp_path / "nowhere")
    (tmp_path / "audio").mkdir()
    with pytest.raises(DatasetError, match="meta.csv") as err:
        DcaseDataset(tmp_path)
    assert "rgasc prepare" in str(err.value)  # own recordings: the usual first case
    (tmp_path / "audio").rmdir()
    (tmp_path / "meta.csv").write_text("filename\tscene_label\na.wav\tbus\n")
    with pytest.raises(DatasetError, match="audio"):
        DcaseDataset(tmp_path)


@pytest.mark.parametrize(
    "text",
    [
        "",  # empty
        "filename,scene_label\naudio/a.wav,bus\n",  # comma-separated
        "file\tscene\naudio/a.wav\tbus\n",  # wrong column names
        "filename\tscene_label\n",  # header only
        "filename\tscene_label\tidentifier\naudio/a.wav\tbus\n",  # short row
    ],
)
def test_bad_meta_csv(tmp_path: Path, text: str) -> None:
    (tmp_path / "audio").mkdir()
    (tmp_path / "meta.csv").write_text(text)
    with pytest.raises(DatasetError) as err:
        DcaseDataset(tmp_path)
    assert "meta.csv" in str(err.value)


def test_fold_file_naming_missing_clip(tiny: Path, tmp_path: Path) -> None:
    root = _copy(tiny, tmp_path / "d")
    fold = root / "evaluation_setup" / "fold1_train.txt"
    fold.write_text(fold.read_text() + "audio/ghost-lyon-9-0-a.wav\tpark\n")
    with pytest.raises(DatasetError, match="ghost-lyon-9-0-a") as err:
        DcaseDataset(root).split("train")
    assert "fold1_train.txt" in str(err.value)


def test_fold_scene_label_disagrees_with_meta(tiny: Path, tmp_path: Path) -> None:
    root = _copy(tiny, tmp_path / "d")
    fold = root / "evaluation_setup" / "fold1_evaluate.txt"
    lines = fold.read_text().splitlines()
    name = lines[0].split("\t")[0]
    lines[0] = f"{name}\tmetro"
    fold.write_text("\n".join(lines) + "\n")
    with pytest.raises(DatasetError, match="disagrees with meta.csv"):
        DcaseDataset(root).fold(1, "evaluate")


def test_unknown_scene_missing_fold_and_missing_audio(tiny: Path, tmp_path: Path) -> None:
    ds = DcaseDataset(tiny)
    with pytest.raises(DatasetError, match="unknown scene label 'metro'"):
        ds.scene_index("metro")
    with pytest.raises(DatasetError, match="no clip named"):
        ds.clip("nothing-here")
    with pytest.raises(DatasetError, match="fold2_train.txt"):
        ds.split("train", fold=2)
    with pytest.raises(ValueError):
        ds.split("validation")
    root = _copy(tiny, tmp_path / "d")
    (root / "audio" / "bus-paris-1-1-a.wav").unlink()
    with pytest.raises(DatasetError, match="bus-paris-1-1-a"):
        DcaseDataset(root).split("all")


def test_clip_key_forms() -> None:
    assert clip_key("audio/a-b-0-0-a.wav") == clip_key("a-b-0-0-a.FLAC") == "a-b-0-0-a"
    assert clip_key("dir\\sub\\x.mp3") == "x"


# --- the location-disjoint split as a property -------------------------------------------
@st.composite
def clip_sets(draw: st.DrawFn) -> list[Clip]:
    """Random clip sets: 1-4 scenes, 1-6 locations each, 1-4 clips per location."""
    clips = []
    for s in range(draw(st.integers(1, 4))):
        for loc in range(draw(st.integers(1, 6))):
            for seg in range(draw(st.integers(1, 4))):
                city = draw(st.sampled_from(["x", "y"]))
                clips.append(
                    Clip(f"audio/s{s}-{city}-{loc}-{seg}-a.wav", f"s{s}", f"{city}-{loc}", "a")
                )
    return clips


@settings(max_examples=60, deadline=None)
@given(clips=clip_sets(), fraction=st.floats(0.0, 0.9), seed=st.integers(0, 2**16))
def test_location_split_properties(clips: list[Clip], fraction: float, seed: int) -> None:
    kept, held = location_split(clips, fraction, seed)
    # No (scene, location) on both sides.
    assert {c.group for c in kept}.isdisjoint({c.group for c in held})
    # Every clip accounted for exactly once, each side in input order.
    assert sorted(kept + held, key=clips.index) == clips
    assert kept == [c for c in clips if c in kept]
    # Deterministic for a seed and independent of the input order.
    assert location_split(clips, fraction, seed) == (kept, held)
    shuffled = clips[:]
    random.Random(seed).shuffle(shuffled)
    k2, h2 = location_split(shuffled, fraction, seed)
    assert {c.group for c in h2} == {c.group for c in held}
    # Per scene: never all locations held out; at least one when there are 2+ and fraction > 0.
    for scene in {c.scene for c in clips}:
        groups = {c.group for c in clips if c.scene == scene}
        out = {c.group for c in held if c.scene == scene}
        assert len(out) < len(groups) or not groups
        if len(groups) >= 2 and fraction > 0:
            assert len(out) >= 1


def test_location_split_fraction_and_seed_change_the_split() -> None:
    clips = [Clip(f"audio/s-c-{i}-0-a.wav", "s", f"c-{i}", "a") for i in range(20)]
    _, held = location_split(clips, 0.3)
    assert len(held) == 6
    helds = {tuple(c.key for c in location_split(clips, 0.3, seed)[1]) for seed in range(5)}
    assert len(helds) > 1
    with pytest.raises(ValueError):
        location_split(clips, 1.0)

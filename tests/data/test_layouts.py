"""DcaseDataset on fake copies of every registered set's layout (tiny generated wavs).

The fakes follow docs/DATASETS.md: TUT 2018 (Mobile) has ``.txt`` fold files without a
header; TAU 2019, 2020 Mobile and 2022 Mobile have tab-separated ``.csv`` fold files with
a header; the mobile sets add devices, and s4-s6 of TAU 2020/2022 Mobile appear only in
the evaluate fold.
"""

from __future__ import annotations

from collections import Counter
from pathlib import Path

import pytest

from helpers.dcase import make_dcase_layout
from rgasc.data import DcaseDataset
from rgasc.data.datasets import device_sort_key
from rgasc.data.registry import MARKER, get_dataset
from rgasc.errors import DatasetError
from rgasc.utils import write_json

MOBILE_SEEN = ("a", "b", "c", "s1", "s2", "s3")
UNSEEN = ("s4", "s5", "s6")


def _registered(tmp_path: Path, name: str, **kw: object) -> DcaseDataset:
    """A fake of registered set ``name`` in a folder named like the real one."""
    root = tmp_path / get_dataset(name).folder
    return DcaseDataset(make_dcase_layout(root, **kw))  # type: ignore[arg-type]


def _check_folds(ds: DcaseDataset) -> None:
    train, test = ds.fold(1, "train"), ds.fold(1, "evaluate")
    assert {c.group for c in train}.isdisjoint({c.group for c in test})
    assert sorted(c.filename for c in train + test) == sorted(c.filename for c in ds.clips)
    assert ds.fold(1, "test") == test  # the test list: names only (plus a header in .csv)
    tr, val = ds.split("train"), ds.split("val")
    assert {c.group for c in tr}.isdisjoint({c.group for c in val})
    assert sorted(c.key for c in tr + val) == sorted(c.key for c in train)
    assert set(Counter(c.scene for c in val)) == set(ds.scenes)  # each scene validates


@pytest.fixture(scope="module")
def tau2020(tmp_path_factory: pytest.TempPathFactory) -> DcaseDataset:
    # meta.csv without identifier/source_label: both come from the file names.
    return _registered(
        tmp_path_factory.mktemp("m20"),
        "tau2020-mobile",
        devices=MOBILE_SEEN,
        unseen_devices=UNSEEN,
    )


def test_tau2020_mobile_layout(tau2020: DcaseDataset) -> None:
    ds = tau2020
    assert ds.spec is not None and ds.spec.name == "tau2020-mobile"
    assert ds.folds() == [1]
    assert ds.fold_path(1, "train").name == "fold1_train.csv"
    assert (
        (ds.root / "evaluation_setup" / "fold1_train.csv")
        .read_text()
        .startswith("filename\tscene_label\n")
    )
    assert ds.scenes == ["airport", "bus", "park"]
    c = ds.clip("airport-lisbon-1-10-s2")
    assert (c.scene, c.location, c.device) == ("airport", "lisbon-1", "s2")
    assert len(ds) == 3 * 2 * (2 * 6 + 9)
    _check_folds(ds)


def test_tau2020_mobile_devices(tau2020: DcaseDataset) -> None:
    ds = tau2020
    assert ds.devices == ["a", "b", "c", "s1", "s2", "s3", "s4", "s5", "s6"]
    assert ds.unseen_devices() == list(UNSEEN)
    train_devs = {c.device for c in ds.split("trainval")}
    test_devs = {c.device for c in ds.split("test")}
    assert train_devs == set(MOBILE_SEEN) and test_devs == set(MOBILE_SEEN + UNSEEN)
    # Devices per clip, e.g. for per-device accuracy.
    assert Counter(c.device for c in ds.split("test"))["s5"] == 3 * 2


def test_unregistered_csv_set_infers_devices_from_the_folds(tmp_path: Path) -> None:
    ds = DcaseDataset(
        make_dcase_layout(
            tmp_path / "my-mobile-set", devices=("a", "s2", "s10", "s1"), unseen_devices=("s4",)
        )
    )
    assert ds.spec is None
    assert ds.devices == ["a", "s1", "s2", "s4", "s10"]  # natural order, not s1, s10, s2
    assert ds.unseen_devices() == ["s4"]
    _check_folds(ds)


def test_tau2019_layout(tmp_path: Path) -> None:
    ds = _registered(
        tmp_path,
        "tau2019",
        meta_columns=("filename", "scene_label", "identifier", "source_label"),
    )
    assert ds.spec is not None and ds.spec.name == "tau2019"
    assert ds.devices == ["a"] and ds.unseen_devices() == []
    locations = {f"{city}-{i}" for city in ("lisbon", "lyon") for i in range(3)}
    assert {c.location for c in ds.clips} == locations
    _check_folds(ds)


def test_tau2022_mobile_layout_with_subsegments(tmp_path: Path) -> None:
    ds = _registered(
        tmp_path,
        "tau2022-mobile",
        devices=MOBILE_SEEN,
        unseen_devices=UNSEEN,
        subsegments=2,
    )
    c = ds.clip("bus-lyon-2-20-1-s3")  # scene-city-location-segment-subsegment-device
    assert (c.location, c.device) == ("lyon-2", "s3")
    assert ds.spec is not None and ds.spec.layout.clip_seconds == 1.0
    assert ds.unseen_devices() == list(UNSEEN)
    _check_folds(ds)


def test_tut2018_mobile_layout(tmp_path: Path) -> None:
    ds = _registered(tmp_path, "tut2018-mobile", fold_style="txt", devices=("a", "b", "c"))
    assert ds.fold_path(1, "evaluate").name == "fold1_evaluate.txt"
    assert ds.devices == ["a", "b", "c"] and ds.unseen_devices() == []
    assert not (ds.root / "evaluation_setup" / "fold1_train.txt").read_text().startswith("file")
    _check_folds(ds)


def test_download_marker_names_the_set(tmp_path: Path) -> None:
    root = make_dcase_layout(tmp_path / "renamed", devices=("a", "b"))
    assert DcaseDataset(root).spec is None
    write_json(root / MARKER, {"dataset": "tau2020-mobile", "archives": {}, "files": []})
    ds = DcaseDataset(root)
    assert ds.spec is not None and ds.spec.name == "tau2020-mobile"
    assert ds.unseen_devices() == list(UNSEEN)
    (root / MARKER).write_text("{not json")
    assert DcaseDataset(root).spec is None  # an unreadable marker is ignored


def test_empty_meta_values_are_derived_from_names(tmp_path: Path) -> None:
    root = make_dcase_layout(
        tmp_path / "x", meta_columns=("filename", "scene_label", "identifier", "source_label")
    )
    lines = (root / "meta.csv").read_text().splitlines()
    fixed = [lines[0]] + ["\t".join(ln.split("\t")[:2] + ["", ""]) for ln in lines[1:]]
    (root / "meta.csv").write_text("\n".join(fixed) + "\n")
    c = DcaseDataset(root).clip("park-lyon-2-20-a")
    assert (c.location, c.device) == ("lyon-2", "a")


def test_csv_fold_scene_disagreeing_with_meta(tmp_path: Path) -> None:
    root = make_dcase_layout(tmp_path / "x")
    path = root / "evaluation_setup" / "fold1_evaluate.csv"
    lines = path.read_text().splitlines()
    name = lines[1].split("\t")[0]
    lines[1] = f"{name}\tbus" if not name.startswith("audio/bus") else f"{name}\tpark"
    path.write_text("\n".join(lines) + "\n")
    with pytest.raises(DatasetError, match=r"fold1_evaluate\.csv:2: scene label"):
        DcaseDataset(root).split("test")


def test_missing_fold_file_names_both_conventions(tmp_path: Path) -> None:
    root = make_dcase_layout(tmp_path / "x")
    (root / "evaluation_setup" / "fold1_evaluate.csv").unlink()
    with pytest.raises(DatasetError, match=r"fold1_evaluate\.txt: missing fold file.*\.csv"):
        DcaseDataset(root).split("test")
    with pytest.raises(DatasetError, match=r"fold2_train\.txt or \.csv"):
        DcaseDataset(root).split("train", fold=2)


def test_device_sort_key() -> None:
    assert sorted(["s10", "b", "s2", "a", "s1"], key=device_sort_key) == [
        "a",
        "b",
        "s1",
        "s2",
        "s10",
    ]

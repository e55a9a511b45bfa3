"""Relation matrix R_SE (eq. 1-3), the event-only lookup and the artefact."""

from __future__ import annotations

import csv
import json
from pathlib import Path

import numpy as np
import pytest

from helpers.dcase import make_dcase
from helpers.relation import EVENTS
from helpers.relation import expected_relation as _expected
from helpers.relation import hand_labels as _labels
from rgasc.data.datasets import DcaseDataset, clip_key
from rgasc.errors import ArtefactError, LabelSpaceError, RgascError
from rgasc.labels.files import PseudoLabels
from rgasc.relation import (
    Relation,
    compute_relation,
    evaluate_lookup,
    event_evidence,
    event_to_scene,
    informative_events,
    load_relation,
    relation_matrix,
    save_relation,
    top_events,
)


@pytest.fixture(scope="module")
def ds(tmp_path_factory: pytest.TempPathFactory) -> DcaseDataset:
    # 3 scenes x 2 cities x 2 locations x 2 clips; location 0 of each city is the test side.
    root = make_dcase(tmp_path_factory.mktemp("dcase"), seconds=0.05, sr=8000, channels=1)
    return DcaseDataset(root)


# --- the maths --------------------------------------------------------------------------------
def test_relation_matrix_hand_case() -> None:
    probs = np.array([[0.2, 0.8], [0.4, 0.6], [1.0, 0.0]])
    r = relation_matrix(probs, np.array([0, 0, 1]), 2)
    assert r.dtype == np.float32
    np.testing.assert_allclose(r, [[0.3, 0.7], [1.0, 0.0]], atol=1e-7)
    rb = relation_matrix(probs, np.array([0, 0, 1]), 2, binarize=0.5)
    np.testing.assert_array_equal(rb, [[0.0, 1.0], [1.0, 0.0]])
    # threshold is inclusive: p >= T counts as present
    rb2 = relation_matrix(probs, np.array([0, 0, 1]), 2, binarize=0.4)
    np.testing.assert_array_equal(rb2, [[0.5, 1.0], [1.0, 0.0]])


def test_relation_matrix_empty_scene_named() -> None:
    with pytest.raises(RgascError, match="park"):
        relation_matrix(np.ones((2, 3)), np.array([0, 0]), 2, scene_names=["bus", "park"])


def test_event_to_scene_lookup() -> None:
    r = np.array([[1.0, 0.0], [0.0, 1.0], [0.5, 0.5]])
    y = np.array([[0.9, 0.1], [0.2, 0.6]])
    s = event_to_scene(y, r)
    np.testing.assert_allclose(s, [[0.9, 0.1, 0.5], [0.2, 0.6, 0.4]], atol=1e-6)
    assert s.argmax(axis=1).tolist() == [0, 1]
    np.testing.assert_allclose(event_to_scene(y[0], r), s[0], atol=1e-6)
    with pytest.raises(LabelSpaceError):
        event_to_scene(np.ones((1, 3)), r)


def test_top_informative_and_evidence() -> None:
    r = np.array([[0.9, 0.5, 0.1], [0.8, 0.5, 0.7]])
    assert top_events(r, ["a", "b", "c"], 2) == [
        [("a", pytest.approx(0.9)), ("b", pytest.approx(0.5))],
        [("a", pytest.approx(0.8)), ("c", pytest.approx(0.7))],
    ]
    # c varies most across scenes, b not at all
    assert informative_events(r, 3).tolist() == [2, 0, 1]
    ev = event_evidence(np.array([1.0, 0.2, 0.5]), r, 1, ["a", "b", "c"], 2)
    assert [e for e, _ in ev] == ["a", "c"]
    assert ev[1][1] == pytest.approx(0.35)


# --- from a dataset -----------------------------------------------------------------------------
@pytest.mark.parametrize("split", ["train", "trainval", "all"])
def test_compute_relation_rows_are_scene_means(ds: DcaseDataset, split: str) -> None:
    pl = _labels(ds)
    rel = compute_relation(ds, pl, split=split)
    assert rel.scenes == ds.scenes and rel.events == EVENTS
    np.testing.assert_allclose(rel.matrix, _expected(ds, pl, split), atol=1e-6)
    assert rel.meta["split"] == split
    assert sum(rel.meta["clips_per_scene"].values()) == len(ds.split(split))


def test_train_split_excludes_test_clips(ds: DcaseDataset) -> None:
    pl = _labels(ds)
    marker = EVENTS.index("test_marker")
    for split in ("train", "trainval"):
        assert np.all(compute_relation(ds, pl, split=split).matrix[:, marker] == 0.0)
    # 'all' (the authors' code) lets the test clips in: half the clips carry the marker
    np.testing.assert_allclose(compute_relation(ds, pl, split="all").matrix[:, marker], 0.5)
    # train is the training fold minus the carved validation locations
    assert len(ds.split("train")) < len(ds.split("trainval"))
    n_train = compute_relation(ds, pl, split="train").meta["n_clips"]
    assert n_train == len(ds.split("train"))


def test_compute_relation_binarize(ds: DcaseDataset) -> None:
    pl = _labels(ds)
    rel = compute_relation(ds, pl, split="trainval", binarize=0.55)
    np.testing.assert_allclose(rel.matrix, _expected(ds, pl, "trainval", 0.55), atol=1e-6)
    assert set(np.unique(rel.matrix * 4).tolist()) <= {0.0, 1.0, 2.0, 3.0, 4.0}
    assert rel.meta["binarize"] == 0.55


def test_compute_relation_missing_clips_named(ds: DcaseDataset) -> None:
    pl = _labels(ds)
    train_keys = {c.key for c in ds.split("train")}
    keep = [i for i, n in enumerate(pl.filenames) if clip_key(n) not in train_keys]
    dropped = sorted(train_keys)
    partial = PseudoLabels([pl.filenames[i] for i in keep], pl.probs[keep], pl.labels)
    with pytest.raises(LabelSpaceError) as e:
        compute_relation(ds, partial, split="train")
    assert any(k in str(e.value) for k in dropped)


def test_compute_relation_scene_without_clips(tmp_path: Path) -> None:
    root = make_dcase(tmp_path / "d", seconds=0.05, sr=8000, channels=1)
    train = root / "evaluation_setup" / "fold1_train.txt"
    lines = [ln for ln in train.read_text().splitlines() if not ln.startswith("audio/park")]
    train.write_text("\n".join(lines) + "\n")
    ds = DcaseDataset(root)
    with pytest.raises(RgascError, match="park"):
        compute_relation(ds, _labels(ds), split="train")


def test_compute_relation_rejects_test_split(ds: DcaseDataset) -> None:
    with pytest.raises(RgascError, match="split"):
        compute_relation(ds, _labels(ds), split="test")


def test_evaluate_lookup(ds: DcaseDataset) -> None:
    pl = _labels(ds)
    rel = compute_relation(ds, pl)
    res = evaluate_lookup(ds, pl, rel)
    assert res["n_clips"] == len(ds.split("test"))
    assert res["macro_accuracy"] == 1.0  # event k marks scene k
    # scrambled events carry no scene information: the lookup degrades
    rng = np.random.default_rng(0)
    noisy = PseudoLabels(pl.filenames, rng.random(pl.probs.shape), pl.labels)
    assert evaluate_lookup(ds, noisy, rel)["macro_accuracy"] < 1.0
    other = PseudoLabels(pl.filenames, pl.probs[:, :3], pl.labels[:3])
    with pytest.raises(LabelSpaceError):
        evaluate_lookup(ds, other, rel)


# --- the artefact ---------------------------------------------------------------------------------
def test_save_load_round_trip(ds: DcaseDataset, tmp_path: Path) -> None:
    rel = compute_relation(ds, _labels(ds), binarize=0.5)
    paths = save_relation(tmp_path / "rel", rel, top_k=2)
    for p in paths:
        assert p.is_file() and p.stat().st_size > 0, p
    assert (tmp_path / "rel" / "relation.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    back = load_relation(tmp_path / "rel")
    np.testing.assert_array_equal(back.matrix, rel.matrix)
    assert (back.scenes, back.events) == (rel.scenes, rel.events)
    assert back.meta["binarize"] == 0.5 and back.meta["split"] == "train"
    with open(tmp_path / "rel" / "relation.csv", newline="") as f:
        rows = list(csv.reader(f))
    assert rows[0] == ["scene", *EVENTS] and [r[0] for r in rows[1:]] == ds.scenes
    np.testing.assert_allclose(np.array(rows[1:])[:, 1:].astype(float), rel.matrix, atol=1e-6)
    with open(tmp_path / "rel" / "top_events.csv", newline="") as f:
        tops = list(csv.DictReader(f))
    assert len(tops) == 2 * len(ds.scenes)
    assert tops[0]["scene"] == ds.scenes[0] and tops[0]["event"] == EVENTS[0]


def test_load_relation_errors(tmp_path: Path) -> None:
    with pytest.raises(ArtefactError, match="relation.npy"):
        load_relation(tmp_path)
    rel = Relation(np.eye(2, 3), ["a", "b"], ["x", "y", "z"])
    save_relation(tmp_path, rel)
    info = json.loads((tmp_path / "relation.json").read_text())
    info["events"] = ["x", "y"]
    (tmp_path / "relation.json").write_text(json.dumps(info))
    with pytest.raises(ArtefactError, match="disagrees"):
        load_relation(tmp_path)


def test_teacher_meta_is_plain_json(ds: DcaseDataset, tmp_path: Path) -> None:
    """relation.json's meta.teacher: the label file's attributes as JSON values, the ones
    held as JSON text decoded, never a Python repr."""
    from rgasc.labels.files import write_labels
    from rgasc.relation import run_relation

    pl = _labels(ds)
    pl.attrs.update(
        {
            "teacher": "toy",
            "teacher_options": json.dumps({"pooling": "mean"}),  # as rgasc tag writes it
            "window": {"seconds": 1.0, "hop": None},  # a dict attribute, written to HDF5
            "n_bad_clips": np.int64(0),
        }
    )
    write_labels(tmp_path / "labels.h5", pl)
    run_relation(tmp_path / "labels.h5", ds.root, tmp_path / "rel")
    teacher = json.loads((tmp_path / "rel" / "relation.json").read_text())["meta"]["teacher"]
    assert teacher["teacher"] == "toy" and teacher["n_bad_clips"] == 0
    assert teacher["teacher_options"] == {"pooling": "mean"}
    assert teacher["window"] == {"seconds": 1.0, "hop": None}


def test_relation_records_the_clips_it_saw_with_their_audio_hashes(
    ds: DcaseDataset, tmp_path: Path
) -> None:
    """So a run can refuse an R_SE that saw its held-out clips (rgasc.inputs.check_leak)."""
    pl = _labels(ds)
    rel = compute_relation(ds, pl, split="train", val_fraction=0.5, seed=1)
    train = ds.split("train", val_fraction=0.5, seed=1)
    assert rel.clips == [c.filename for c in train] and rel.clip_sha256 is None
    pl.hashes = [f"h{i}" for i in range(len(pl.filenames))]
    hashed = compute_relation(ds, pl, split="train")
    by_key = dict(zip(pl.keys(), pl.hashes, strict=True))
    assert hashed.clip_sha256 == [by_key[clip_key(n)] for n in hashed.clips or []]
    save_relation(tmp_path / "rel", hashed)
    back = load_relation(tmp_path / "rel")
    assert (back.clips, back.clip_sha256) == (hashed.clips, hashed.clip_sha256)
    assert "clips" not in back.meta  # beside meta, which run configs copy
    # an R_SE written before the clips were recorded loads without them
    info = json.loads((tmp_path / "rel" / "relation.json").read_text())
    del info["clips"], info["clip_sha256"]
    (tmp_path / "rel" / "relation.json").write_text(json.dumps(info))
    assert load_relation(tmp_path / "rel").clips is None


def test_relation_command_carries_the_runs_validation_carve() -> None:
    from rgasc.relation.build import relation_command

    cmd = relation_command("l.h5", "ds", "out", val_fraction=0.2, seed=3)
    assert cmd.endswith("--val-fraction 0.2 --split-seed 3")
    assert "--val-fraction" not in relation_command("l.h5", "ds", "out", split="all", seed=3)
    assert "--split-seed" not in relation_command("l.h5", "ds", "out")

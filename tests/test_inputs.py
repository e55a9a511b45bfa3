"""Provenance checks: stale features, foreign pseudo-labels and a foreign R_SE are refused
with one line naming the artefact and a command that, run next, fixes it."""

from __future__ import annotations

import shlex
from pathlib import Path

import pytest
import soundfile as sf

from helpers.dcase import make_dcase
from helpers.teachers import ToyTeacher, write_events
from helpers.training import TINY_FEATURES, TinyInputs, tiny_config
from rgasc.data import DcaseDataset
from rgasc.errors import ArtefactError
from rgasc.features import compute_features, open_cache
from rgasc.labels.tagging import tag_dataset
from rgasc.train.loop.data import RGASCDataModule

EVENTS = {"airport": ["Speech"], "bus": ["Vehicle", "Speech"], "park": ["Bird"]}


def _corpus(root: Path, seed: int, events: dict[str, list[str]] = EVENTS) -> Path:
    ds = make_dcase(root, locations_per_city=3, sr=16000, channels=1, seed=seed)
    d = DcaseDataset(ds)
    write_events(ds, [c.filename for c in d.clips], {c.key: events[c.scene] for c in d.clips})
    return ds


def run_suggestion(message: str) -> None:
    """Execute the command quoted in an error message, as a user would paste it."""
    from rgasc.cli import main

    command = message.split("`")[-2]
    assert command.startswith("rgasc ")
    with pytest.raises(SystemExit) as done:
        main([*shlex.split(command)[1:], *(["--no-progress"] if " features " in command else [])])
    assert done.value.code in (0, None), command


@pytest.fixture
def inputs(tmp_path: Path) -> TinyInputs:
    """Features, annotation labels and R_SE of corpus A, made as a user would (CLI)."""
    from rgasc.cli import main

    ds = _corpus(tmp_path / "A", seed=0)
    compute_features(DcaseDataset(ds), tmp_path / "feat", TINY_FEATURES, progress=False)
    for args in (
        [
            "tag",
            "--dataset",
            str(ds),
            "--teacher",
            "annotations",
            "--out",
            str(tmp_path / "labels.h5"),
        ],
        [
            "relation",
            "--labels",
            str(tmp_path / "labels.h5"),
            "--dataset",
            str(ds),
            "--out",
            str(tmp_path / "rel"),
        ],
    ):
        with pytest.raises(SystemExit) as e:
            main(args)
        assert e.value.code in (0, None)
    return TinyInputs(ds, tmp_path / "feat", tmp_path / "labels.h5", tmp_path / "rel")


def test_matching_inputs_are_accepted(inputs: TinyInputs, tmp_path: Path) -> None:
    RGASCDataModule(tiny_config(inputs, tmp_path / "run"))


def test_stale_features_are_refused_and_the_suggestion_updates_them(
    inputs: TinyInputs, tmp_path: Path
) -> None:
    ds = DcaseDataset(inputs.dataset)
    clip = ds.audio_path(ds.clips[4])
    x, sr = sf.read(clip)
    sf.write(clip, 0.5 * x, sr)
    with pytest.raises(ArtefactError, match="computed before their audio") as info:
        RGASCDataModule(tiny_config(inputs, tmp_path / "run"))
    msg = str(info.value)
    assert str(inputs.features) in msg and "\n" not in msg
    run_suggestion(msg)  # rgasc features A --out FEAT --sample-rate 16000 ...
    RGASCDataModule(tiny_config(inputs, tmp_path / "run"))


def test_labels_of_another_corpus_with_the_same_names_are_refused(
    inputs: TinyInputs, tmp_path: Path
) -> None:
    from rgasc.cli import main

    other = _corpus(tmp_path / "B", seed=1)
    foreign = tmp_path / "foreign.h5"
    with pytest.raises(SystemExit):
        main(["tag", "--dataset", str(other), "--teacher", "annotations", "--out", str(foreign)])
    with pytest.raises(ArtefactError, match="made from the dataset at") as info:
        RGASCDataModule(tiny_config(inputs, tmp_path / "run", {"data.labels": foreign}))
    run_suggestion(str(info.value))  # rgasc tag A --teacher annotations --out foreign.h5
    RGASCDataModule(tiny_config(inputs, tmp_path / "run", {"data.labels": foreign}))


def test_labels_tagged_from_other_audio_are_refused_by_content_hash(
    inputs: TinyInputs, tmp_path: Path
) -> None:
    teacher = ToyTeacher()
    a = tag_dataset(DcaseDataset(inputs.dataset), teacher, tmp_path / "a.h5", progress=False)
    assert a.hashes and all(a.hashes)
    b_root = _corpus(tmp_path / "B", seed=1)
    tag_dataset(DcaseDataset(b_root), teacher, tmp_path / "b.h5", progress=False)
    from rgasc.inputs import check_labels

    ds = DcaseDataset(inputs.dataset)
    cache = open_cache(inputs.features)
    check_labels(ds, cache, a, tmp_path / "a.h5", ds.clips)
    from rgasc.labels.files import read_labels

    b = read_labels(tmp_path / "b.h5")
    b.attrs["dataset_root"] = str(ds.root)  # even when the recorded root says otherwise
    with pytest.raises(ArtefactError, match="made from other audio.*re-tag with `rgasc tag"):
        check_labels(ds, cache, b, tmp_path / "b.h5", ds.clips)


def test_relation_of_other_labels_is_refused_and_the_suggestion_rebuilds_it(
    inputs: TinyInputs, tmp_path: Path
) -> None:
    from rgasc.cli import main

    # R_SE built on corpus B (same names, other events) is not this label file's
    other = _corpus(
        tmp_path / "B",
        seed=1,
        events={"airport": ["Bird"], "bus": ["Speech"], "park": ["Vehicle", "Bird"]},
    )
    with pytest.raises(SystemExit):
        main(
            [
                "tag",
                "--dataset",
                str(other),
                "--teacher",
                "annotations",
                "--out",
                str(tmp_path / "b.h5"),
            ]
        )
    with pytest.raises(SystemExit):
        main(
            [
                "relation",
                "--labels",
                str(tmp_path / "b.h5"),
                "--dataset",
                str(other),
                "--out",
                str(tmp_path / "rel_b"),
            ]
        )
    changes = {"data.relation": tmp_path / "rel_b"}
    with pytest.raises(ArtefactError, match="other pseudo-labels than") as info:
        RGASCDataModule(tiny_config(inputs, tmp_path / "run", changes))
    run_suggestion(str(info.value))  # rgasc relation LABELS --dataset A --out rel_b
    RGASCDataModule(tiny_config(inputs, tmp_path / "run", changes))


def test_label_space_mismatch_suggestion_works(inputs: TinyInputs, tmp_path: Path) -> None:
    from rgasc.errors import LabelSpaceError
    from rgasc.relation import Relation, load_relation, save_relation

    rel = load_relation(inputs.relation)
    save_relation(
        tmp_path / "rel_x", Relation(rel.matrix[:, ::-1], rel.scenes, rel.events[::-1], rel.meta)
    )
    changes = {"data.relation": tmp_path / "rel_x"}
    with pytest.raises(LabelSpaceError, match="same names, different order") as info:
        RGASCDataModule(tiny_config(inputs, tmp_path / "run", changes))
    run_suggestion(str(info.value))
    RGASCDataModule(tiny_config(inputs, tmp_path / "run", changes))


def test_relation_builds_from_labels_that_left_bad_clips_out(tmp_path: Path) -> None:
    """`rgasc tag --skip-bad` leaves clips out; `rgasc relation` (the command every R_SE
    message suggests) used to fail on them with "no pseudo-labels for 1 clip(s)"."""
    from rgasc.cli import main
    from rgasc.relation import load_relation

    ds = DcaseDataset(_corpus(tmp_path / "A", seed=0))
    bad = ds.split("train")[0]
    ds.audio_path(bad).write_bytes(b"RIFF broken")
    labels = tmp_path / "labels.h5"
    tag_dataset(ds, ToyTeacher(), labels, skip_bad=True, progress=False)
    with pytest.raises(SystemExit) as e:
        main(
            [
                "relation",
                "--labels",
                str(labels),
                "--dataset",
                str(ds.root),
                "--out",
                str(tmp_path / "rel"),
            ]
        )
    assert e.value.code in (0, None)
    assert load_relation(tmp_path / "rel").meta["left_out_bad_clips"] == [bad.filename]

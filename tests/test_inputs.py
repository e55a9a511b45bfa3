"""Provenance checks: stale features, foreign pseudo-labels and a foreign R_SE are refused
with one line naming the artefact and a command that, run next, fixes it."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from helpers.dcase import make_dcase
from helpers.teachers import ToyTeacher, write_events
from helpers.training import TINY_FEATURES, TinyInputs, tiny_config
from rgasc.data import DcaseDataset
from rgasc.errors import ArtefactError, RgascWarning
from rgasc.features import compute_features, open_cache
from rgasc.labels.tagging import tag_dataset
from rgasc.train.loop.data import RGASCDataModule

EVENTS = {"airport": ["Speech"], "bus": ["Vehicle", "Speech"], "park": ["Bird"]}


def _corpus(root: Path, seed: int, events: dict[str, list[str]] = EVENTS) -> Path:
    ds = make_dcase(root, locations_per_city=3, sr=16000, channels=1, seed=seed)
    d = DcaseDataset(ds)
    write_events(ds, [c.filename for c in d.clips], {c.key: events[c.scene] for c in d.clips})
    return ds


def run_suggestion(message: str) -> Path:
    """Execute the command quoted in an error message, as a user would paste it; returns
    the ``--out`` it wrote."""
    from rgasc.cli import main

    command = message.split("`")[-2]
    assert command.startswith("rgasc ")
    words = shlex.split(command)
    with pytest.raises(SystemExit) as done:
        main([*words[1:], "--no-progress"] if words[1] in ("features", "tag") else words[1:])
    assert done.value.code in (0, None), command
    return Path(words[words.index("--out") + 1])


def same_or_inside(path: Path, artefact: Path) -> bool:
    """True when writing ``path`` writes into ``artefact`` (the file or folder itself)."""
    path, artefact = path.resolve(), artefact.resolve()
    return path == artefact or artefact in path.parents


def _snapshot(folder: Path) -> dict[str, bytes]:
    """Every file under ``folder`` (or the file itself) and its bytes."""
    if folder.is_file():
        return {folder.name: folder.read_bytes()}
    return {str(p.relative_to(folder)): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def _tag_and_relate(dataset: Path, labels: Path, rel: Path, *extra: str) -> Path:
    """`rgasc tag` (annotations) and `rgasc relation` on ``dataset``; returns ``rel``."""
    from rgasc.cli import main

    for args in (
        ["tag", "--dataset", str(dataset), "--teacher", "annotations", "--out", str(labels)],
        ["relation", "--labels", str(labels), "--dataset", str(dataset), "--out", str(rel)],
    ):
        with pytest.raises(SystemExit) as e:
            main([*args, *(extra if args[0] == "relation" else ())])
        assert e.value.code in (0, None)
    return rel


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
    kept = foreign.read_bytes()
    with pytest.raises(ArtefactError, match="made from the dataset at") as info:
        RGASCDataModule(tiny_config(inputs, tmp_path / "run", {"data.labels": foreign}))
    new = run_suggestion(str(info.value))  # rgasc tag A --teacher annotations --out A-...h5
    assert foreign.read_bytes() == kept  # B's labels are B's still
    RGASCDataModule(tiny_config(inputs, tmp_path / "run", {"data.labels": new}))


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


def test_relation_of_other_labels_is_refused_and_the_suggestion_builds_a_new_one(
    inputs: TinyInputs, tmp_path: Path
) -> None:
    """Wrong --relation: R_SE of corpus B (same names, other events) given to a run on A. The
    message names R_SE; its fix builds A's own in a new folder, B's R_SE left as it is."""
    other = _corpus(
        tmp_path / "B",
        seed=1,
        events={"airport": ["Bird"], "bus": ["Speech"], "park": ["Vehicle", "Bird"]},
    )
    rel_b = _tag_and_relate(other, tmp_path / "b.h5", tmp_path / "rel_b")
    before = _snapshot(rel_b)
    changes = {"data.relation": rel_b}
    with pytest.raises(ArtefactError, match="other pseudo-labels") as info:
        RGASCDataModule(tiny_config(inputs, tmp_path / "run", changes))
    msg = str(info.value)
    assert msg.startswith(f"{rel_b}: R_SE was built on the dataset at {other}")
    new = run_suggestion(msg)  # rgasc relation --labels A's --dataset A --out A-relation
    assert not same_or_inside(new, rel_b) and _snapshot(rel_b) == before
    RGASCDataModule(tiny_config(inputs, tmp_path / "run", {"data.relation": new}))


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


# --- hints name the artefact that is wrong, and never write into another dataset's ---------
def test_wrong_labels_are_named_as_such_not_blamed_on_relation(
    inputs: TinyInputs, tmp_path: Path
) -> None:
    """Labels of B (another event vocabulary) given to a run on A: the message used to say
    R_SE must be rebuilt from them (a command that fails); it names the label file now."""
    other = _corpus(
        tmp_path / "B", seed=1, events={"airport": ["Dog"], "bus": ["Car"], "park": ["Dog"]}
    )
    foreign = tmp_path / "b.h5"
    _tag_and_relate(other, foreign, tmp_path / "rel_b")
    kept = foreign.read_bytes()
    with pytest.raises(ArtefactError) as info:
        RGASCDataModule(tiny_config(inputs, tmp_path / "run", {"data.labels": foreign}))
    msg = str(info.value)
    assert msg.startswith(f"{foreign}: made from the dataset at {other}") and "R_SE" not in msg
    new = run_suggestion(msg)
    assert not same_or_inside(new, foreign) and foreign.read_bytes() == kept
    RGASCDataModule(tiny_config(inputs, tmp_path / "run", {"data.labels": new}))


def test_wrong_features_are_named_and_the_fix_writes_a_new_cache(
    inputs: TinyInputs, tmp_path: Path
) -> None:
    """Features of B (other clips) given to a run on A: the hint used to update the cache
    "for this dataset" with B's own command; now it computes A's into a new folder."""
    other = _corpus_with_cities(tmp_path / "B", ("rome", "oslo"))
    feat_b = tmp_path / "feat_b"
    compute_features(DcaseDataset(other), feat_b, TINY_FEATURES, progress=False)
    before = _snapshot(feat_b)
    with pytest.raises(ArtefactError) as info:
        RGASCDataModule(tiny_config(inputs, tmp_path / "run", {"data.features": feat_b}))
    msg = str(info.value)
    assert f": features of the dataset at {other}, not {inputs.dataset}" in msg
    assert "\n" not in msg and str(other) not in msg.split("`")[-2]
    new = run_suggestion(msg)
    assert not same_or_inside(new, feat_b) and _snapshot(feat_b) == before
    RGASCDataModule(tiny_config(inputs, tmp_path / "run", {"data.features": new}))


def test_features_of_a_copy_with_the_same_names_are_not_updated_in_place(
    inputs: TinyInputs, tmp_path: Path
) -> None:
    """Same clip names, other audio: the stale-features hint must not point into B's cache."""
    other = _corpus(tmp_path / "B", seed=1)
    feat_b = tmp_path / "feat_b"
    compute_features(DcaseDataset(other), feat_b, TINY_FEATURES, progress=False)
    before = _snapshot(feat_b)
    with pytest.raises(ArtefactError, match="features of the dataset at") as info:
        RGASCDataModule(tiny_config(inputs, tmp_path / "run", {"data.features": feat_b}))
    new = run_suggestion(str(info.value))
    assert not same_or_inside(new, feat_b) and _snapshot(feat_b) == before


def test_a_label_file_changed_since_is_said_so(inputs: TinyInputs, tmp_path: Path) -> None:
    """R_SE built from labels.h5, then labels.h5 re-tagged: not "other pseudo-labels than X
    (recorded: X)" but "before that file changed"; R_SE is this run's own: rebuilt in place."""
    from rgasc.cli import main

    with pytest.raises(SystemExit):
        main(
            ["tag", "--dataset", str(inputs.dataset), "--teacher", "annotations"]
            + ["--noise", "0.2", "--out", str(inputs.labels)]
        )
    with pytest.raises(ArtefactError) as info:
        RGASCDataModule(tiny_config(inputs, tmp_path / "run"))
    msg = str(info.value)
    assert msg.startswith(
        f"{inputs.relation}: R_SE was built from {inputs.labels} before that file changed"
    )
    assert "other pseudo-labels" not in msg
    assert run_suggestion(msg) == inputs.relation
    RGASCDataModule(tiny_config(inputs, tmp_path / "run"))


# --- test clips leaking into R_SE -----------------------------------------------------------------
def _corpus_with_cities(root: Path, cities: tuple[str, ...]) -> Path:
    ds = make_dcase(root, cities=cities, locations_per_city=3, sr=16000, channels=1, seed=2)
    d = DcaseDataset(ds)
    write_events(ds, [c.filename for c in d.clips], {c.key: EVENTS[c.scene] for c in d.clips})
    return ds


def _resplit(src: Path, dst: Path, test_location: int) -> Path:
    """The same recordings (a copy) prepared again with another location on the test side."""
    import shutil

    shutil.copytree(src, dst)
    ds = DcaseDataset(dst)
    setup = dst / "evaluation_setup"
    test = [c for c in ds.clips if c.location.endswith(f"-{test_location}")]
    train = [c for c in ds.clips if c not in test]
    (setup / "fold1_train.txt").write_text("".join(f"{c.filename}\t{c.scene}\n" for c in train))
    (setup / "fold1_evaluate.txt").write_text("".join(f"{c.filename}\t{c.scene}\n" for c in test))
    (setup / "fold1_test.txt").write_text("".join(f"{c.filename}\n" for c in test))
    return dst


def test_relation_that_saw_the_runs_test_clips_is_refused(
    inputs: TinyInputs, tmp_path: Path
) -> None:
    """The same recordings prepared twice: B tests on a location A trains on. B's labels are
    A's to the byte (same names, same annotations), so only the clip list can tell."""
    b = _resplit(inputs.dataset, tmp_path / "B", test_location=1)
    labels_b = tmp_path / "labels_b.h5"
    _tag_and_relate(b, labels_b, tmp_path / "rel_b")
    feat_b = tmp_path / "feat_b"
    compute_features(DcaseDataset(b), feat_b, TINY_FEATURES, progress=False)
    run_b = TinyInputs(b, feat_b, labels_b, inputs.relation)  # R_SE of A's training split
    RGASCDataModule(tiny_config(run_b, tmp_path / "ok", {"data.relation": tmp_path / "rel_b"}))
    before = _snapshot(inputs.relation)
    with pytest.raises(
        ArtefactError, match="R_SE was computed from clips this run holds out"
    ) as info:
        RGASCDataModule(tiny_config(run_b, tmp_path / "run"))
    msg = str(info.value)
    assert msg.startswith(f"{inputs.relation / 'relation.json'}: ") and "\n" not in msg
    assert str(b / "evaluation_setup" / "fold1_evaluate.txt") in msg
    assert re.search(r"\d+ clip\(s\), e\.g\. \['audio/\w+-\w+-1-", msg)  # count, examples
    new = run_suggestion(msg)
    assert not same_or_inside(new, inputs.relation) and _snapshot(inputs.relation) == before
    RGASCDataModule(tiny_config(run_b, tmp_path / "run", {"data.relation": new}))


def test_relation_on_all_clips_warns_and_trains(inputs: TinyInputs, tmp_path: Path) -> None:
    """`rgasc relation --split all` reproduces the authors: training warns, once, one line."""
    rel_all = _tag_and_relate(
        inputs.dataset, tmp_path / "l.h5", tmp_path / "rel_all", "--split", "all"
    )
    with pytest.warns(RgascWarning) as seen:
        RGASCDataModule(tiny_config(inputs, tmp_path / "run", {"data.relation": rel_all}))
    said = [str(w.message) for w in seen if "R_SE was built on all clips" in str(w.message)]
    assert len(said) == 1 and "\n" not in said[0]
    assert re.search(r"saw \d+ clip\(s\), e\.g\. .* of its val split.*of its test split", said[0])


def test_leak_matches_by_content_hash_and_ignores_same_names_of_other_audio(
    tmp_path: Path,
) -> None:
    from rgasc.inputs import leaked
    from rgasc.relation import Relation

    ds = DcaseDataset(_corpus(tmp_path / "A", seed=0))
    test = ds.split("test")
    rel = Relation(
        np.zeros((3, 1)),
        list(ds.scenes),
        ["x"],
        {"split": "train"},
        clips=["renamed-0.wav", test[1].filename, test[2].filename],
        clip_sha256=["h0", "h1", ""],
    )
    hashes = {test[0].key: "h0", test[1].key: "other", test[2].key: "h2"}
    # test[0]: another name, the same audio; test[1]: the same name, other audio (another
    # corpus); test[2]: the same name, R_SE records no hash for it
    assert leaked(rel, test[:3], hashes) == [test[0].filename, test[2].filename]
    assert leaked(rel, test[:3], {}) == [test[1].filename, test[2].filename]
    old = Relation(np.zeros((3, 1)), list(ds.scenes), ["x"], {"split": "train"})
    assert leaked(old, test, {}) == []  # written before R_SE recorded its clips: silent


def test_trainval_relation_warns_on_its_own_validation_and_refuses_elsewhere(
    inputs: TinyInputs, tmp_path: Path
) -> None:
    from rgasc.inputs import check_leak
    from rgasc.relation import compute_relation

    ds = DcaseDataset(inputs.dataset)
    rel = compute_relation(ds, inputs.labels, split="trainval")
    with pytest.warns(RgascWarning, match="whole training fold"):
        check_leak(ds, rel, inputs.relation, inputs.labels, {})
    b = DcaseDataset(_resplit(inputs.dataset, tmp_path / "B", test_location=2))
    with pytest.raises(ArtefactError, match="of its test split"):
        check_leak(b, rel, inputs.relation, inputs.labels, {})
    # evaluate: the model is trained already; the same finding is a warning
    with pytest.warns(RgascWarning, match="of its test split"):
        check_leak(b, rel, inputs.relation, inputs.labels, {}, refuse=False)


def test_a_shipped_validate_list_is_the_file_a_leak_names(tmp_path: Path) -> None:
    from rgasc.inputs import _fold_file

    root = make_dcase(tmp_path / "ds", seconds=0.1, sr=8000, channels=1)
    ds = DcaseDataset(root)
    assert _fold_file(ds, 1, "val") == ds.fold_path(1, "train")  # carved from the train list
    ds.fold_path(1, "validate").write_text("")
    assert _fold_file(ds, 1, "val") == ds.fold_path(1, "validate")
    assert _fold_file(ds, 1, "test") == ds.fold_path(1, "evaluate")

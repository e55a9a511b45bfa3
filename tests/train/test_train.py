"""Training stage: data checks, a 2-epoch run with every artefact, resume (CLI: tests/cli)."""

from __future__ import annotations

import csv
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from helpers.training import EVENTS, TinyInputs, tiny_config
from rgasc.config import load_yaml, override
from rgasc.errors import ArtefactError, LabelSpaceError
from rgasc.labels.files import read_labels, write_labels
from rgasc.relation import Relation, load_relation, save_relation
from rgasc.train.config.tree import make_config
from rgasc.train.loop.data import RGASCDataModule
from rgasc.train.runner import lightning_devices, resolve_precision, resume, train
from rgasc.utils import read_json

PATHS = {
    "data.dataset": "d",
    "data.features": "f",
    "data.labels": "l",
    "data.relation": "r",
    "out": "o",
}


@pytest.fixture
def inputs(tiny_inputs: TinyInputs) -> TinyInputs:
    return tiny_inputs


def _csv_rows(path: Path) -> list[dict[str, str]]:
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


# --- runtime helpers -----------------------------------------------------------------------
def test_runtime_helpers() -> None:
    assert lightning_devices("auto") == "auto"
    assert lightning_devices("2") == 2
    assert lightning_devices("0,1") == [0, 1]
    cfg = make_config({**PATHS, "runtime.precision": "bf16-mixed", "runtime.accelerator": "cpu"})
    with pytest.warns(UserWarning, match="needs a GPU"):
        assert resolve_precision(cfg) == "32-true"
    assert resolve_precision(override(cfg, {"runtime.precision": "64-true"})) == "64-true"


# --- data -----------------------------------------------------------------------------------
def test_datamodule_splits_and_normalisation(inputs: TinyInputs, tmp_path: Path) -> None:
    dm = RGASCDataModule(tiny_config(inputs, tmp_path / "run"))
    sizes = {s: len(d.clips) for s, d in dm.splits.items()}
    assert sizes == {"train": 18, "val": 6, "test": 12}
    train_locs = {c.group for c in dm.splits["train"].clips}
    assert train_locs.isdisjoint({c.group for c in dm.splits["val"].clips})
    assert dm.events == EVENTS and dm.scenes == ["airport", "bus", "park"]
    # statistics from the train rows only
    x = np.asarray(dm.cache.features[np.sort(dm.splits["train"].rows)], np.float64)
    np.testing.assert_allclose(dm.mean, x.reshape(-1, x.shape[-1]).mean(0), rtol=1e-4, atol=1e-4)
    item_x, scene, target = dm.clip_dataset("train")[0]
    s = dm.splits["train"]
    raw = np.asarray(dm.cache.features[s.rows[0]])
    np.testing.assert_allclose(item_x.numpy(), (raw - dm.mean) / dm.std, rtol=1e-4, atol=1e-4)
    assert int(scene) == s.scene_ids[0] and item_x.dtype == torch.float32
    np.testing.assert_array_equal(target.numpy(), s.event_targets[0])


def test_clip_dataset_pickles_memmap_by_name(inputs: TinyInputs, tmp_path: Path) -> None:
    dm = RGASCDataModule(tiny_config(inputs, tmp_path / "run"))
    ds = dm.clip_dataset("test")
    assert isinstance(ds.features, np.memmap)
    blob = pickle.dumps(ds)
    assert len(blob) < dm.cache.features.nbytes  # the features are not in the pickle
    again = pickle.loads(blob)
    assert isinstance(again.features, np.memmap)
    np.testing.assert_array_equal(again[3][0].numpy(), ds[3][0].numpy())


def test_label_space_mismatches_are_clear(inputs: TinyInputs, tmp_path: Path) -> None:
    rel = load_relation(inputs.relation)
    other = Relation(rel.matrix[:, ::-1], rel.scenes, rel.events[::-1], rel.meta)
    save_relation(tmp_path / "rel_events", other)
    with pytest.raises(LabelSpaceError, match="same names, different order"):
        RGASCDataModule(
            tiny_config(inputs, tmp_path / "a", {"data.relation": tmp_path / "rel_events"})
        )

    renamed = Relation(rel.matrix, ["x", "y", "z"], rel.events, rel.meta)
    save_relation(tmp_path / "rel_scenes", renamed)
    with pytest.raises(LabelSpaceError, match="rgasc relation"):
        RGASCDataModule(
            tiny_config(inputs, tmp_path / "b", {"data.relation": tmp_path / "rel_scenes"})
        )

    pl = read_labels(inputs.labels)
    keep = [i for i, n in enumerate(pl.filenames) if "park-lyon-0" not in n]  # drop test clips
    pl.filenames, pl.probs = [pl.filenames[i] for i in keep], pl.probs[keep]
    write_labels(tmp_path / "partial.h5", pl)
    from rgasc.data.datasets import DcaseDataset
    from rgasc.relation import compute_relation

    save_relation(tmp_path / "rel_c", compute_relation(DcaseDataset(inputs.dataset), pl))
    changes = {"data.labels": tmp_path / "partial.h5", "data.relation": tmp_path / "rel_c"}
    with pytest.raises(LabelSpaceError, match="partial.h5"):
        RGASCDataModule(tiny_config(inputs, tmp_path / "c", changes))


# --- runs -----------------------------------------------------------------------------------
def test_two_epoch_run_writes_every_artefact_and_resumes(
    inputs: TinyInputs, tmp_path: Path
) -> None:
    run = train(tiny_config(inputs, tmp_path / "run"))
    for name in (
        "config.yaml",
        "metrics.json",
        "checkpoints/last.ckpt",
        "checkpoints/best.ckpt",
        "checkpoints/best.pt",
        "logs/metrics.csv",
        "logs/csv/session_0/metrics.csv",
    ):
        assert (run / name).is_file(), name
    assert list((run / "logs" / "tensorboard").glob("events.out.tfevents.*"))
    conf = load_yaml(run / "config.yaml")
    assert conf["selection"]["split"] == "val"
    assert conf["model"]["n_events"] == len(EVENTS) and conf["features"]["sample_rate"] == 16000
    assert conf["data"]["clips"] == {"train": 18, "val": 6, "test": 12}
    m = read_json(run / "metrics.json")
    assert m["selection_split"] == "val" and m["epochs_trained"] == 2
    assert m["best_epoch"] in (0, 1)
    for split, n in (("val", 6), ("test", 12)):
        assert m[split]["n"] == n and 0.0 <= m[split]["macro_accuracy"] <= 1.0
    rows = _csv_rows(run / "logs" / "metrics.csv")
    assert {r["epoch"] for r in rows} == {"0", "1"}
    logged = set(rows[0])
    for key in (
        "train/loss",
        "train/loss_scene",
        "train/loss_event",
        "train/loss_e_by_scene",
        "train/loss_s_by_event",
        "train/acc",
        "val/macro_acc",
        "val/log_loss",
    ):
        assert key in logged, key
    assert "test/macro_acc" not in logged  # the test split is not looked at while training

    # a second `train` into the same folder is refused; --resume continues to epoch 3
    with pytest.raises(ArtefactError, match="--resume"):
        train(tiny_config(inputs, run))
    with pytest.raises(ArtefactError, match="model.width"):  # the message names the key
        train(tiny_config(inputs, run, {"optim.epochs": 3, "model.width": 1 / 8}), resume=True)
    train(tiny_config(inputs, run, {"optim.epochs": 3}), resume=True)
    assert read_json(run / "metrics.json")["epochs_trained"] == 3
    assert (run / "logs" / "csv" / "session_1" / "metrics.csv").is_file()
    epochs = [r["epoch"] for r in _csv_rows(run / "logs" / "metrics.csv")]
    assert sorted(set(epochs)) == ["0", "1", "2"] and epochs.count("0") == 2  # train + val rows
    # rgasc.train.resume: the run's own config, epochs (and runtime fields) changed
    resume(run, {"optim.epochs": 4, "runtime.log_every_n_steps": 2})
    assert read_json(run / "metrics.json")["epochs_trained"] == 4


def test_resume_without_checkpoint_is_an_error(inputs: TinyInputs, tmp_path: Path) -> None:
    with pytest.raises(ArtefactError, match="nothing to resume"):
        train(tiny_config(inputs, tmp_path / "none"), resume=True)


def test_select_on_test_is_labelled_and_learned_relation_is_exported(
    inputs: TinyInputs, tmp_path: Path
) -> None:
    cfg = tiny_config(
        inputs,
        tmp_path / "run",
        {
            "optim.epochs": 1,
            "optim.select_on": "test",
            "model.learn_relation": True,
            "loss.lambdas": (1.0, 0.01, 0.0, 0.01),
        },
    )
    run = train(cfg)
    m = read_json(run / "metrics.json")
    assert m["selection_split"] == "test" and "test-set selection" in m["selection"]
    assert "test-set selection" in load_yaml(run / "config.yaml")["selection"]["note"]
    logged = set(_csv_rows(run / "logs" / "metrics.csv")[0])
    assert {
        "test/macro_acc",
        "val/macro_acc",
        "train/loss_scene",
        "train/loss_s_by_event",
    } <= logged
    assert "train/loss_event" not in logged  # lambda 0: not computed, not logged
    # R_SE was trained: best.pt holds the learned matrix (>= 0) and the prior in extra
    ck = torch.load(run / "checkpoints" / "best.pt", weights_only=True)
    prior = load_relation(inputs.relation).matrix
    np.testing.assert_allclose(ck["extra"]["relation_prior"].numpy(), prior)
    assert (ck["relation"] >= 0).all() and not np.allclose(ck["relation"].numpy(), prior, atol=1e-6)


def test_same_seed_deterministic_runs_give_the_same_model(
    inputs: TinyInputs, tmp_path: Path
) -> None:
    states = []
    for name in ("a", "b", "c"):
        seed = 1 if name == "c" else 0
        changes = {"optim.epochs": 1, "runtime.deterministic": True, "seed": seed}
        run = train(tiny_config(inputs, tmp_path / name, changes))
        states.append(torch.load(run / "checkpoints" / "best.pt", weights_only=True)["state_dict"])
    key = "scene_out.weight"
    torch.testing.assert_close(states[0][key], states[1][key], rtol=0, atol=0)
    assert not torch.equal(states[0][key], states[2][key])


def test_bad_clips_of_the_cache_are_left_out(tmp_path: Path) -> None:
    from helpers.dcase import make_dcase
    from helpers.training import TINY_FEATURES, make_labels
    from rgasc.data.datasets import DcaseDataset
    from rgasc.features import compute_features
    from rgasc.relation import compute_relation

    root = make_dcase(tmp_path / "ds", locations_per_city=3)
    ds = DcaseDataset(root)
    bad = next(c for c in ds.split("train") if c.scene == "bus")
    ds.audio_path(bad).write_bytes(b"not a wav file")
    compute_features(ds, tmp_path / "feat", TINY_FEATURES, skip_bad=True, progress=False)
    write_labels(tmp_path / "labels.h5", make_labels(ds, EVENTS))
    save_relation(tmp_path / "rel", compute_relation(ds, tmp_path / "labels.h5"))
    inputs = TinyInputs(root, tmp_path / "feat", tmp_path / "labels.h5", tmp_path / "rel")
    with pytest.warns(UserWarning, match="failed to decode"):
        dm = RGASCDataModule(tiny_config(inputs, tmp_path / "run"))
    assert dm.excluded == [bad.filename]
    assert len(dm.splits["train"].clips) == 17
    assert bad.filename not in dm.splits["train"].names


def test_clip_dataset_reads_memmap_rows_like_an_array(tmp_path) -> None:
    """The pread path for memmap caches returns exactly the rows of the array, also after a
    pickle round trip (as DataLoader workers receive it)."""
    import pickle

    import numpy as np

    from rgasc.train.loop.data import ClipDataset

    rng = np.random.default_rng(0)
    arr = rng.standard_normal((7, 5, 4)).astype(np.float32)
    np.save(tmp_path / "f.npy", arr)
    mm = np.load(tmp_path / "f.npy", mmap_mode="r")
    rows = np.array([6, 0, 3])
    mean, std = arr.mean((0, 1)), arr.std((0, 1))
    scenes, targets = np.array([0, 1, 2]), rng.random((3, 2)).astype(np.float32)
    in_memory = ClipDataset(arr, rows, mean, std, scenes, targets)
    mapped = pickle.loads(pickle.dumps(ClipDataset(mm, rows, mean, std, scenes, targets)))
    for i in range(3):
        a, b = in_memory[i], mapped[i]
        np.testing.assert_array_equal(a[0].numpy(), b[0].numpy())
        assert int(a[1]) == int(b[1])
    np.testing.assert_allclose(mapped[0][0].numpy(), (arr[6] - mean) / std, rtol=1e-5, atol=1e-6)

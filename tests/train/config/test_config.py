"""The training config tree: sections, dotted overrides, YAML round trips, older flat files."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from rgasc.config import Config, field_paths, flatten, override, save_yaml
from rgasc.errors import ArtefactError, ConfigError, RgascError
from rgasc.experiments.sweep import run_identity
from rgasc.train import TrainConfig, load_run_config
from rgasc.train.config.options import OPTIONS, option_changes
from rgasc.train.config.tree import (
    PAPER_LAMBDAS,
    RUNTIME_FIELDS,
    LossConfig,
    config_file_changes,
    make_config,
)

PATHS = {"data.dataset": "d", "data.features": "f", "data.labels": "l", "data.relation": "r",
         "out": "o"}  # fmt: skip
#: The ``train`` section of a run folder written before the tree (flat: every field at the
#: top but the loss), as a user's old run has it.
OLD_FLAT = {
    "dataset": "/data/ds", "features": "/data/feat", "labels": "/data/labels.h5",
    "relation": "/data/rel", "out": "/runs/old", "fold": 1, "val_fraction": 0.3,
    "split_seed": 0, "seed": 3, "epochs": 40, "batch_size": 32, "lr": 0.0005,
    "shared_blocks": 3, "width": 0.5, "block_dropout": 0.2, "head_dropout": 0.5,
    "loss": {"lambdas": [1.0, 0.0, 0.5, 0.0], "relation_space": "log", "relation_grad": "both"},
    "learn_relation": True, "init": "he", "init_checkpoint": None, "select_on": "val",
    "precision": "bf16-mixed", "devices": "auto", "num_nodes": 1, "strategy": "auto",
    "accelerator": "gpu", "deterministic": False, "num_workers": 4, "compile": False,
    "channels_last": True, "log_every_n_steps": 50, "progress_bar": True,
    "model_summary": True, "sanity_val_steps": 2, "eval_batch_size": 128,
}  # fmt: skip


def test_tree_sections_and_defaults() -> None:
    cfg = make_config(PATHS)
    assert cfg.loss.lambdas == PAPER_LAMBDAS == LossConfig().lambdas
    assert cfg.optim.epochs == 100 and cfg.optim.lr == 1e-3 and cfg.model.width == 1.0
    assert cfg.data.val_fraction == 0.3 and cfg.runtime.precision == "32-true"
    sections = {k.split(".")[0] for k in field_paths(TrainConfig) if "." in k}
    assert sections == {"data", "model", "loss", "optim", "augment", "runtime", "average", "select"}
    assert {k for k in field_paths(TrainConfig) if "." not in k} == {"out", "seed", "recipe"}


def test_round_trip_yaml_and_digest(tmp_path: Path) -> None:
    cfg = make_config({**PATHS, "loss.lambdas": (1, 0, 0, 0), "model.width": 0.25})
    again = TrainConfig.from_dict(cfg.to_dict())
    assert again == cfg and again.loss.lambdas == (1.0, 0.0, 0.0, 0.0)
    assert isinstance(cfg.to_dict()["loss"]["lambdas"], list)  # plain YAML types
    save_yaml(tmp_path / "config.yaml", {"train": cfg.to_dict()})
    assert load_run_config(tmp_path) == cfg
    assert cfg.digest() != override(cfg, {"seed": 1}).digest()
    # the digest is the one the flat layout had: run folders keep comparable digests
    assert cfg.digest() == TrainConfig.from_dict(cfg.flat_dict()).digest()


@dataclasses.dataclass(frozen=True)
class Inner(Config):
    pair: tuple[int, int] = (1, 2)


@dataclasses.dataclass(frozen=True)
class Outer(Config):
    """Any config tree, not only TrainConfig, is rebuilt from its annotations."""

    inner: Inner = dataclasses.field(default_factory=Inner)
    maybe: Inner | None = None


def test_from_dict_rebuilds_any_nested_config_and_refuses_unknown_keys() -> None:
    back = Outer.from_dict({"inner": {"pair": [3, 4]}, "maybe": {"pair": [5, 6]}})
    assert back == Outer(Inner((3, 4)), Inner((5, 6)))
    assert Outer.from_dict(back.to_dict()) == back
    with pytest.raises(ValueError, match="unknown field"):
        Outer.from_dict({"inner": {"pari": [1, 2]}})
    with pytest.raises(ValueError, match="unknown field"):
        TrainConfig.from_dict({**make_config(PATHS).to_dict(), "optimiser": {}})


def test_validation_lives_in_its_section() -> None:
    base = make_config(PATHS)
    cases = [
        ({"optim.select_on": "train"}, "select_on"),
        ({"model.init": "panns"}, "init-checkpoint"),
        ({"data.val_fraction": 0.0}, "val_fraction"),
        ({"data.val_fraction": 1.0}, "must be in"),
        ({"optim.lr": 0.0}, "lr=0"),
        ({"optim.epochs": 0}, ">= 1"),
        ({"runtime.eval_batch_size": 0}, ">= 1"),
        ({"runtime.num_workers": -1}, "num_workers"),
        ({"loss.lambdas": (0, 0, 0, 0)}, "non-negative"),
        ({"loss.relation_space": "linear"}, "relation_space"),
    ]
    for changes, match in cases:
        with pytest.raises(ConfigError, match=match):
            override(base, changes)
    # fields checked together may change together
    cfg = override(base, {"model.init": "panns", "model.init_checkpoint": Path("c.pth")})
    assert cfg.model.init_checkpoint == "c.pth"
    cfg = override(base, {"data.val_fraction": 0.0, "optim.select_on": "test"})
    assert cfg.data.val_fraction == 0.0 and "test-set selection" in cfg.selection_label


def test_override_dotted_keys_and_unknown_key_message() -> None:
    base = make_config(PATHS)
    cfg = override(base, {"loss.lambdas": [1, 0, 0, 0], "optim.epochs": 3, "seed": 2})
    assert cfg.loss.lambdas == (1.0, 0.0, 0.0, 0.0) and cfg.optim.epochs == 3 and cfg.seed == 2
    assert cfg.model == base.model and base.optim.epochs == 100  # frozen: base unchanged
    with pytest.raises(ConfigError, match=r"did you mean optim\.lr\?.*valid keys: out, seed"):
        override(base, {"lr": 0.1})
    with pytest.raises(ConfigError, match="'loss'"):
        override(base, {"loss": LossConfig()})  # sections change leaf by leaf
    with pytest.raises(RgascError, match="--labels"):
        make_config({k: v for k, v in PATHS.items() if k != "data.labels"})


def test_resolved_identity_and_runtime_split(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.chdir(tmp_path)
    cfg = make_config({**PATHS, "model.init": "panns", "model.init_checkpoint": "c.pth"})
    r = cfg.resolved()
    assert r.data.dataset == str(tmp_path / "d") and r.out == str(tmp_path / "o")
    assert r.model.init_checkpoint == str(tmp_path / "c.pth")
    ident = cfg.identity()
    assert "model.width" in ident and "loss.lambdas" in ident and "seed" in ident
    assert "optim.epochs" not in ident and not any(k.startswith("runtime.") for k in ident)
    longer = override(cfg, {"optim.epochs": 7, "runtime.devices": "2", "runtime.compile": True})
    assert longer.identity() == ident
    assert override(cfg, {"optim.lr": 0.1}).identity() != ident


def test_old_flat_run_config_still_loads(tmp_path: Path) -> None:
    save_yaml(tmp_path / "config.yaml", {"train": OLD_FLAT, "model": {"n_scenes": 10}})
    cfg = load_run_config(tmp_path)
    assert cfg.data.dataset == "/data/ds" and cfg.out == "/runs/old" and cfg.seed == 3
    assert cfg.optim.lr == 0.0005 and cfg.optim.epochs == 40 and cfg.model.width == 0.5
    assert cfg.loss.lambdas == (1.0, 0.0, 0.5, 0.0) and cfg.loss.relation_grad == "both"
    assert cfg.runtime.precision == "bf16-mixed" and cfg.runtime.devices == "auto"
    assert cfg.flat_dict() == {**OLD_FLAT, "loss": {**OLD_FLAT["loss"]}}
    # and so does a --config file in that layout
    assert make_config(config_file_changes(tmp_path / "config.yaml")) == cfg
    save_yaml(tmp_path / "bad" / "config.yaml", {"train": {**OLD_FLAT, "lernrate": 1}})
    with pytest.raises(ArtefactError, match="lernrate"):
        load_run_config(tmp_path / "bad")


def test_config_file_changes_partial_files_and_errors(tmp_path: Path) -> None:
    save_yaml(tmp_path / "part.yaml", {"train": {"optim": {"lr": 0.01}, "model": {"width": 0.5}}})
    assert config_file_changes(tmp_path / "part.yaml") == {"optim.lr": 0.01, "model.width": 0.5}
    save_yaml(tmp_path / "bare.yaml", {"loss": {"lambdas": [1, 0, 0, 0]}})  # no train section
    assert config_file_changes(tmp_path / "bare.yaml") == {"loss.lambdas": [1, 0, 0, 0]}
    save_yaml(tmp_path / "typo.yaml", {"train": {"optim": {"lrr": 0.01}}})
    with pytest.raises(ConfigError, match=r"typo.yaml.*optim\.lrr.*valid keys"):
        config_file_changes(tmp_path / "typo.yaml")
    with pytest.raises(ConfigError, match="no such file"):
        config_file_changes(tmp_path / "none.yaml")


def test_sweep_identity_is_the_one_of_the_flat_layout() -> None:
    """Hashes computed with the flat TrainConfig (before the tree) for the same settings: a
    sweep stamped then must find its finished runs unchanged."""
    cfg = make_config(
        {
            **{k: "/" + v for k, v in PATHS.items()},
            "data.labels": "/l.h5",
            "optim.epochs": 3,
            "model.width": 0.25,
            "loss.lambdas": (1, 0, 0.5, 0),
            "runtime.devices": "2",
            "optim.select_on": "test",
            "data.val_fraction": 0.0,
            "model.init": "panns",
            "model.init_checkpoint": "/c.pth",
        }
    )
    assert run_identity(cfg, "train") == "436a75ab822261fc"
    assert run_identity(cfg, "lookup") == "fcfb691ef5aa95c4"
    plain = make_config({**{k: "/" + v for k, v in PATHS.items()}, "data.labels": "/l.h5"})
    assert run_identity(plain, "train") == "c6717803e7faf778"
    assert run_identity(plain, "pann_fixed") == "e9aa73cff1d2077e"


def test_options_table_covers_the_tree_once() -> None:
    fields = [o.field for o in OPTIONS]
    assert sorted(fields) == sorted(field_paths(TrainConfig)) and len(set(fields)) == len(fields)
    assert len({o.name for o in OPTIONS}) == len(OPTIONS)  # one flag per leaf
    assert {o.field.split(".")[1] for o in OPTIONS if o.section == "runtime"} == RUNTIME_FIELDS
    by = {o.name: o for o in OPTIONS}
    assert by["lambdas"].default_text() == "1 0.01 0.5 0.01 (the paper's)"
    assert by["compile"].default_text() == "no-compile" and by["lr"].default_text() == "0.001"
    assert by["dataset"].default_text() is None and by["select_on"].choices is not None
    assert option_changes({"lr": 0.1, "width": None, "grid": "x"}) == {"optim.lr": 0.1}
    assert flatten({"a": {"b": 1}, "c": [1]}) == {"a.b": 1, "c": [1]}

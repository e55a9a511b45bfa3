"""The training config tree: sections, dotted overrides, YAML round trips, options, choices."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest

from rgasc.cli.params import config_changes, params_of
from rgasc.config import Config, field_paths, flatten, override, save_yaml
from rgasc.errors import ArtefactError, ConfigError, RgascError
from rgasc.experiments.sweep import run_identity
from rgasc.train import TrainConfig, load_run_config
from rgasc.train.config.choices import SelectOn
from rgasc.train.config.tree import (
    PAPER_LAMBDAS,
    LossConfig,
    RuntimeConfig,
    config_file_changes,
    make_config,
)

PATHS = {
    "data.dataset": "d",
    "data.features": "f",
    "data.labels": "l",
    "data.relation": "r",
    "out": "o",
}


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
    # choices are enum members in the config, their plain values on disk
    assert cfg.optim.select_on is SelectOn.VAL and cfg.to_dict()["optim"]["select_on"] == "val"
    assert type(cfg.to_dict()["optim"]["select_on"]) is str


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


def test_a_run_config_with_unknown_keys_is_refused(tmp_path: Path) -> None:
    cfg = make_config(PATHS)
    save_yaml(tmp_path / "bad" / "config.yaml", {"train": {**cfg.to_dict(), "lernrate": 1}})
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


def test_sweep_identity_ignores_where_and_how_a_run_is_computed() -> None:
    base = {**{k: "/" + v for k, v in PATHS.items()}, "data.labels": "/l.h5"}
    cfg = make_config(base)
    elsewhere = make_config({**base, "out": "/other", "runtime.devices": "2"})
    assert run_identity(cfg, "train") == run_identity(elsewhere, "train")
    assert run_identity(cfg, "train") != run_identity(override(cfg, {"optim.epochs": 3}), "train")
    # baselines read the inputs and the split only
    wider = override(cfg, {"model.width": 0.25})
    assert run_identity(cfg, "lookup") == run_identity(wider, "lookup")
    assert run_identity(cfg, "lookup") != run_identity(override(cfg, {"data.fold": 2}), "lookup")
    assert run_identity(cfg, "lookup") != run_identity(cfg, "pann_fixed")


def test_every_leaf_is_one_option() -> None:
    params = params_of(TrainConfig)
    assert [p.key for p in params] == field_paths(TrainConfig)  # every leaf, once, in order
    assert len({p.name for p in params}) == len(params)  # one flag per leaf
    by = {p.name: p for p in params}
    assert {p.key.split(".")[1] for p in params if p.section == "runtime"} == {
        f.name for f in dataclasses.fields(RuntimeConfig)
    }
    assert by["lambdas"].default_text() == "1 0.01 0.5 0.01"
    assert by["compile"].default_text() == "no-compile" and by["lr"].default_text() == "0.001"
    assert by["dataset"].default_text() is None and by["dataset"].path
    assert by["select_on"].default_text() == "val"
    assert by["select_rule"].key == "select.rule" and by["workers"].key == "runtime.workers"
    assert config_changes(TrainConfig, {"lr": 0.1, "width": None, "grid": "x"}) == {"optim.lr": 0.1}
    assert flatten({"a": {"b": 1}, "c": [1]}) == {"a.b": 1, "c": [1]}


def test_a_choice_is_checked_once_by_its_enum() -> None:
    with pytest.raises(ConfigError, match=r"select_on='tset': use one of \('val', 'test'\)"):
        make_config({**PATHS, "optim.select_on": "tset"})
    with pytest.raises(ConfigError, match="rule="):
        make_config({**PATHS, "select.rule": "worst"})
    assert (
        make_config({**PATHS, "optim.select_on": "test", "data.val_fraction": 0.0}).optim.select_on
        == "test"
    )

"""The training stage's config: one tree of sections, written to ``RUN/config.yaml``::

    TrainConfig
      out, seed                  the run folder; Lightning's ``seed_everything``
      recipe                     the preset the run's defaults came from (paper | modern)
      data     DataConfig        inputs (dataset, features, labels, relation) and the split
      model    NetConfig         the network's options (its sizes come from the data)
      loss     LossConfig        eq. 8's lambdas and the relation losses' options
      optim    OptimConfig       Adam, epochs, batches and the model-selection split
      augment  AugmentConfig     augmentation of the training batches (rgasc.train.config.recipes)
      runtime  RuntimeConfig     how it is computed: devices, precision, workers, logging
      average  AverageConfig     weight averaging (EMA / SWA; off by default, the paper)
      select   SelectConfig      which weights a run exports (rule over the validation curve)

Everything but ``runtime`` decides what a run computes (:meth:`TrainConfig.identity`): a resumed
run must keep it, except ``optim.epochs`` (to train longer). Change any leaf with
:func:`rgasc.config.override` and its dotted key (``"loss.lambdas"``); build a new run's config
with :func:`make_config`. Importing this module loads neither torch nor Lightning (the CLI
builds its options from it at start-up).
"""

from __future__ import annotations

import dataclasses
import json
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any, Self

from rgasc.artefacts import CONFIG_FILE
from rgasc.config import Config, field_default, field_paths, flatten, load_yaml, override
from rgasc.errors import ArtefactError, ConfigError
from rgasc.train.config.averaging import AverageConfig
from rgasc.train.config.choices import (  # re-exported: the config's choices live beside it
    GRADS,
    INITS,
    SELECT_ON,
    SPACES,
    Accelerator,
    Init,
    Precision,
    RelationGrad,
    RelationSpace,
    SelectOn,
)
from rgasc.train.config.recipes import (
    PAPER,
    RECIPES,
    AugmentConfig,
    Optimizer,
    Recipe,
    Schedule,
    check_optim,
    layered,
)
from rgasc.train.config.selection import SelectConfig
from rgasc.utils import text_hash

if TYPE_CHECKING:
    from rgasc.data.datasets import Clip, DcaseDataset


#: Eq. 8's weights (l1 scene, l2 s_by_event, l3 event, l4 e_by_scene): Table II #6, the
#: paper's best, the default of every run.
PAPER_LAMBDAS: tuple[float, float, float, float] = (1.0, 0.01, 0.5, 0.01)
#: The scene loss alone: the pure ASC model (puASC, Table I #1).
PUASC_LAMBDAS: tuple[float, float, float, float] = (1.0, 0.0, 0.0, 0.0)


# --- sections -------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True, kw_only=True)
class DataConfig(Config):
    """Inputs and the split.

    Attributes:
        dataset: dataset folder (DCASE layout). features: feature cache folder (``rgasc
            features --out``). labels: pseudo-label file (``rgasc tag``). relation: R_SE folder
            (``rgasc relation``).
        fold, val_fraction, split_seed: the split (:meth:`DcaseDataset.split`): train = the
            fold's training list minus ~val_fraction of each scene's locations (the val split);
            test = the fold's evaluate list.
    """

    dataset: str
    features: str
    labels: str
    relation: str
    fold: int = 1
    val_fraction: float = 0.3
    split_seed: int = 0

    def clips(self, dataset: DcaseDataset, split: str) -> list[Clip]:
        """``split``'s clips under this fold/carve/seed (readers use features, not audio)."""
        f, v, s = self.fold, self.val_fraction, self.split_seed
        return dataset.split(split, fold=f, val_fraction=v, seed=s, check_audio=False)

    def __post_init__(self) -> None:
        if not 0.0 <= self.val_fraction < 1.0:
            raise ConfigError(f"val_fraction={self.val_fraction} must be in [0, 1)")


@dataclasses.dataclass(frozen=True)
class NetConfig(Config):
    """The run's choices for the network (:class:`rgasc.models.ModelConfig` adds the sizes:
    scenes, events and mel bands come from the data).

    Attributes:
        shared_blocks, width, block_dropout, head_dropout: ``ModelConfig`` fields.
        learn_relation: R_SE becomes a non-negative parameter initialised from the prior.
        init: "he" (PANNs' He-uniform) or "panns" (copy CNN14's blocks from
            ``init_checkpoint`` into the shared blocks and both towers; width 1 only).
    """

    shared_blocks: int = 2
    width: float = 1.0
    block_dropout: float = 0.2
    head_dropout: float = 0.5
    learn_relation: bool = False
    init: str = Init.HE.value
    init_checkpoint: str | None = None

    def __post_init__(self) -> None:
        if self.init not in INITS:
            raise ConfigError(f"init={self.init!r}: use one of {INITS}")
        if self.init == Init.PANNS and not self.init_checkpoint:
            raise ConfigError(
                "init='panns' needs the CNN14 checkpoint: pass --init-checkpoint "
                "PATH/Cnn14_16k_mAP=0.438.pth (or use --init he)"
            )


@dataclasses.dataclass(frozen=True)
class LossConfig(Config):
    """Weights and options of eq. 8 (the losses themselves: :mod:`rgasc.train.algorithms.losses`).

    Attributes:
        lambdas: (l1 scene, l2 s_by_event, l3 event, l4 e_by_scene), eq. 8's order; the paper's
            best (:data:`PAPER_LAMBDAS`) is the default. A zero weight skips its term entirely.
        relation_space: "prob" (paper) or "log" (authors' code), see
            :mod:`rgasc.train.algorithms.losses`.
        relation_grad: "paper" (reference side detached) or "both" (authors' code).
        label_smoothing: label smoothing of the scene loss (eq. 4); 0 = the paper.
    """

    lambdas: tuple[float, float, float, float] = PAPER_LAMBDAS
    relation_space: str = RelationSpace.PROB.value
    relation_grad: str = RelationGrad.PAPER.value
    label_smoothing: float = 0.0

    def __post_init__(self) -> None:
        lam = tuple(float(x) for x in self.lambdas)
        if len(lam) != 4 or any(x < 0 for x in lam) or not any(x > 0 for x in lam):
            raise ConfigError(
                f"lambdas={self.lambdas}: give 4 non-negative weights (scene, s_by_event, "
                "event, e_by_scene), at least one positive"
            )
        object.__setattr__(self, "lambdas", lam)  # lists from YAML/CLI -> tuple of floats
        if self.relation_space not in SPACES:
            raise ConfigError(f"relation_space={self.relation_space!r}: use one of {SPACES}")
        if self.relation_grad not in GRADS:
            raise ConfigError(f"relation_grad={self.relation_grad!r}: use one of {GRADS}")
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ConfigError(f"label_smoothing={self.label_smoothing} must be in [0, 1)")


@dataclasses.dataclass(frozen=True)
class OptimConfig(Config):
    """Optimisation and model selection.

    Attributes:
        epochs, batch_size, lr: Adam with the paper's lr 1e-3, batch 64, 100 epochs.
        select_on: "val" (default: model selection on the carved validation split, test used
            once) or "test" (the authors' protocol, labelled as test-set selection everywhere).
        optimizer: "adam" (the paper) or "adamw"; weight_decay: its weight decay (an L2 term
            for adam, decoupled for adamw), on every parameter.
        schedule, warmup, lr_floor: the lr per step (:func:`rgasc.train.algorithms.schedule.lr_at`):
            linear warm-up over ``warmup`` (a fraction of all steps), then "constant" (the
            paper), "cosine" or "linear" decay to ``lr_floor`` x lr at the last step.
    """

    epochs: int = 100
    batch_size: int = 64
    lr: float = 1e-3
    select_on: str = SelectOn.VAL.value
    optimizer: str = Optimizer.ADAM.value
    weight_decay: float = 0.0
    schedule: str = Schedule.CONSTANT.value
    warmup: float = 0.0
    lr_floor: float = 0.0

    def __post_init__(self) -> None:
        if self.select_on not in SELECT_ON:
            raise ConfigError(f"select_on={self.select_on!r}: use one of {SELECT_ON}")
        if self.epochs < 1 or self.batch_size < 1:
            raise ConfigError("epochs, batch_size and eval_batch_size must be >= 1")
        if not self.lr > 0:
            raise ConfigError(f"lr={self.lr} must be > 0")
        check_optim(self.optimizer, self.weight_decay, self.schedule, self.warmup, self.lr_floor)


@dataclasses.dataclass(frozen=True)
class RuntimeConfig(Config):
    """How a run is computed; free to change when it is resumed.

    Attributes:
        precision, devices, num_nodes, strategy, accelerator, deterministic: Lightning Trainer
            arguments (``devices`` as Lightning reads it: "auto", "2", "0,1" or "-1"; one
            device by default: the paper's batch of 64 on one device, and no DDP processes
            spawned inside an experiment's sweep unless asked for).
        num_workers: DataLoader worker processes. compile: ``torch.compile`` the forward.
        channels_last: NHWC memory format for the convolutions on CUDA (faster on tensor
            cores; ignored on CPU).
        log_every_n_steps, progress_bar, model_summary, sanity_val_steps: Lightning logging/UI.
        eval_batch_size: batch size of the final evaluation (inference only, can be larger).
    """

    precision: str = Precision.P32_TRUE.value
    devices: str = "1"
    num_nodes: int = 1
    strategy: str = "auto"
    accelerator: str = Accelerator.AUTO.value
    deterministic: bool = False
    num_workers: int = 0
    compile: bool = False
    channels_last: bool = True
    log_every_n_steps: int = 50
    progress_bar: bool = True
    model_summary: bool = False  # a 15-line table; --model-summary shows it
    sanity_val_steps: int = 2
    eval_batch_size: int = 64

    def __post_init__(self) -> None:
        object.__setattr__(self, "devices", str(self.devices))  # YAML may hold 1 or -1
        if self.eval_batch_size < 1:
            raise ConfigError("epochs, batch_size and eval_batch_size must be >= 1")
        if self.num_workers < 0 or self.num_nodes < 1:
            raise ConfigError("num_workers must be >= 0 and num_nodes >= 1")


#: Sections whose leaves were top-level fields of the flat TrainConfig (before the tree).
_FLAT_SECTIONS: dict[str, type[Config]] = {
    "data": DataConfig,
    "model": NetConfig,
    "optim": OptimConfig,
    "runtime": RuntimeConfig,
}
#: Leaf name of the flat layout -> its section.
_FLAT_KEYS = {f.name: s for s, cls in _FLAT_SECTIONS.items() for f in dataclasses.fields(cls)}
#: Runtime fields by leaf name (the flat layout's RUNTIME_FIELDS).
RUNTIME_FIELDS = frozenset(f.name for f in dataclasses.fields(RuntimeConfig))
#: Fields that hold paths; resolved to absolute paths so a run never depends on the cwd.
PATH_FIELDS = (
    "data.dataset",
    "data.features",
    "data.labels",
    "data.relation",
    "out",
    "model.init_checkpoint",
)
#: What a new run must be given (CLI flag names in the error message).
REQUIRED = ("data.dataset", "data.features", "data.labels", "data.relation", "out")
#: Leaves added after the hashes of older run folders were fixed: the recipe and what it sets.
#: At their default they are left out of :meth:`TrainConfig.flat_dict`, so the digest and the
#: sweep identity of a run that does not use them stay what they were.
ADDED_FIELDS = ("recipe", *PAPER)


def nest_flat(d: Mapping[str, Any]) -> dict[str, Any]:
    """A ``train`` section in the flat layout (written before the config tree: ``lr``,
    ``width``, ``precision``... at the top, ``loss`` nested) as the tree's nested dict.

    A dict already in the tree's layout is returned unchanged (as a copy).
    """
    out: dict[str, Any] = {}
    for k, v in d.items():
        section = _FLAT_KEYS.get(k)
        if section is None:
            out[k] = v
        else:
            out.setdefault(section, {})[k] = v
    return out


# --- the tree -------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True, kw_only=True)
class TrainConfig(Config):
    """Everything ``rgasc train`` needs; written to ``RUN/config.yaml`` (its ``train`` section).

    Attributes:
        out: the run folder. seed: Lightning ``seed_everything`` (weights, shuffling, dropout)
            and the augmentations' draws.
        recipe: the preset that filled the defaults (:mod:`rgasc.train.config.recipes`; recorded,
            the
            values themselves are the fields). Set it with :func:`make_config`, which applies
            the preset; :func:`rgasc.config.override` changes only the name.
        data, model, loss, optim, augment, runtime: the sections (:class:`DataConfig`,
            :class:`NetConfig`, :class:`LossConfig`, :class:`OptimConfig`,
            :class:`AugmentConfig`, :class:`RuntimeConfig`).
        average, select: weight averaging and the selection rule
            (:mod:`rgasc.train.config.averaging`, :mod:`rgasc.train.config.selection`; off and
            "best" by default, the paper's protocol).
    """

    out: str
    seed: int = 0
    recipe: str = Recipe.PAPER.value
    data: DataConfig
    model: NetConfig = dataclasses.field(default_factory=NetConfig)
    loss: LossConfig = dataclasses.field(default_factory=LossConfig)
    optim: OptimConfig = dataclasses.field(default_factory=OptimConfig)
    augment: AugmentConfig = dataclasses.field(default_factory=AugmentConfig)
    runtime: RuntimeConfig = dataclasses.field(default_factory=RuntimeConfig)
    average: AverageConfig = dataclasses.field(default_factory=AverageConfig)
    select: SelectConfig = dataclasses.field(default_factory=SelectConfig)

    def __post_init__(self) -> None:
        if self.recipe not in RECIPES:
            raise ConfigError(f"recipe={self.recipe!r}: use one of {RECIPES}")
        if self.select.rule == "averaged" and not self.average.on:
            raise ConfigError(
                "select.rule='averaged' exports the averaged weights: turn averaging on "
                "(--averaging ema or swa), or choose another --select-rule"
            )
        if self.optim.select_on == SelectOn.VAL and self.data.val_fraction == 0:
            raise ConfigError(
                "val_fraction=0 leaves no validation split to select the model on: set "
                "val_fraction > 0, or --select-on test (the authors' protocol)"
            )

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Self:
        """Inverse of :meth:`to_dict`; the flat layout of older run folders is read too."""
        return super().from_dict(nest_flat(d))

    def flat_dict(self) -> dict[str, Any]:
        """The flat layout (every section's leaves at the top, ``loss`` and ``augment``
        nested) of run folders written before the tree; what hashes of older artefacts were
        computed from. The leaves added since (:data:`ADDED_FIELDS`) are left out while at
        their default, so a run that does not use them hashes as before."""
        d = self.to_dict()
        for key in ADDED_FIELDS:
            *parents, leaf = key.split(".")
            node = d
            for part in parents:
                node = node[part]
            if node[leaf] == field_default(TrainConfig, key):
                del node[leaf]
        if not d["augment"]:
            del d["augment"]
        for section in _FLAT_SECTIONS:
            d.update(d.pop(section))
        # sections added since then appear only when set: a run with them at their defaults
        # (averaging off, the best epoch) keeps the digest and sweep identity it had
        for section, default in (("average", AverageConfig()), ("select", SelectConfig())):
            if getattr(self, section) == default:
                d.pop(section)
        if "select" in d and not self.select.score_all:
            del d["select"]["score_all"]  # added later: runs without it hash as before
        return d

    def digest(self) -> str:
        """Stable hash of every field, computed on :meth:`flat_dict`: the same settings keep
        the digest they had in run folders written before the tree (only the layout moved)."""
        return text_hash(type(self).__name__, json.dumps(self.flat_dict(), sort_keys=True))

    def resolved(self) -> TrainConfig:
        """The same config with every path absolute (a run must not depend on the cwd)."""
        changes: dict[str, Any] = {}
        for key in PATH_FIELDS:
            obj: Any = self
            for part in key.split("."):
                obj = getattr(obj, part)
            if obj is not None:
                changes[key] = str(Path(obj).expanduser().resolve())
        return override(self, changes)

    def identity(self) -> dict[str, Any]:
        """What a resumed run must keep, by dotted key: all but runtime and optim.epochs."""
        return {
            k: v
            for k, v in flatten(self.to_dict()).items()
            if not k.startswith("runtime.") and k != "optim.epochs"
        }

    @property
    def selection_label(self) -> str:
        """How the model was selected, as written in every report of the run."""
        if self.optim.select_on == SelectOn.TEST:
            split = "test-set selection (authors' protocol: test scores are optimistic)"
        else:
            split = "validation-set selection (test split used once, at the end)"
        return f"{split}; rule: {self.select.describe(self.average)}"


TRAIN_KEYS = tuple(field_paths(TrainConfig))


def make_config(changes: Mapping[str, Any], base: TrainConfig | None = None) -> TrainConfig:
    """``base`` (or, for a new run, the defaults) with ``changes`` applied.

    Args:
        changes: dotted key -> value (``{"data.dataset": "DS", "optim.lr": 1e-4}``); paths
            may be ``Path``, choices enum members. A ``recipe`` fills the defaults of the
            options it sets; the other changes win (:func:`rgasc.train.config.recipes.layered`).
        base: start from this config (a run's saved config when resuming) instead of the
            defaults; then ``changes`` holds only what is to change.

    Raises:
        ConfigError: unknown key, invalid value, or a required path missing for a new run.
    """
    changes = layered(changes)
    if base is None:
        missing = [k for k in REQUIRED if changes.get(k) is None]
        if missing:
            flags = ", ".join("--" + k.rsplit(".", 1)[-1] for k in missing)
            raise ConfigError(
                f"a new run needs {flags} (or --config FILE holding them, or --resume to "
                "continue an existing run folder)"
            )
        paths = {k.split(".", 1)[1]: os.fspath(changes[k]) for k in REQUIRED if k != "out"}
        base = TrainConfig(out=os.fspath(changes["out"]), data=DataConfig(**paths))
    return override(base, changes)


def load_run_config(run_dir: str | os.PathLike[str]) -> TrainConfig:
    """The :class:`TrainConfig` a run folder was trained with (its ``config.yaml``)."""
    path = Path(run_dir) / CONFIG_FILE
    if not path.is_file():
        raise ArtefactError(f"{path}: missing; {run_dir} is not a run folder of `rgasc train`")
    data = load_yaml(path)
    try:
        return TrainConfig.from_dict(data["train"])
    except (KeyError, TypeError, ValueError) as e:
        raise ArtefactError(f"{path}: no valid 'train' section ({e}); was it edited?") from e


def config_file_changes(path: str | os.PathLike[str]) -> dict[str, Any]:
    """The settings of a YAML config file as dotted changes (``rgasc train --config FILE``).

    The file is a run's ``config.yaml`` (its ``train`` section is read, in the tree's layout
    or the older flat one), or a YAML mapping in the ``train`` section's layout. It may hold
    only some keys: the rest come from the defaults or the command line.

    Raises:
        ConfigError: missing file, or a key that is not a TrainConfig field.
    """
    p = Path(path)
    if not p.is_file():
        raise ConfigError(
            f"--config {p}: no such file; give a run's {CONFIG_FILE} or a YAML file with a "
            "'train' section"
        )
    data = load_yaml(p)
    section = data.get("train", data)
    if not isinstance(section, Mapping):
        raise ConfigError(f"--config {p}: its 'train' section is not a mapping")
    changes = flatten(nest_flat(section))
    unknown = [k for k in changes if k not in TRAIN_KEYS]
    if unknown:
        raise ConfigError(
            f"--config {p}: unknown key(s) {unknown} in its 'train' section; valid keys: "
            + ", ".join(TRAIN_KEYS)
        )
    return changes

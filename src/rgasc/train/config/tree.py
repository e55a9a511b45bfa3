"""The training stage's config: one tree of sections, written to ``RUN/config.yaml``::

    TrainConfig
      out, seed                  the run folder; Lightning's ``seed_everything``
      recipe                     the preset the run's defaults came from (paper | modern | finetune)
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
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rgasc.artefacts import CONFIG_FILE
from rgasc.config import (
    ACCELERATOR_HELP,
    DEVICES_HELP,
    NUM_NODES_HELP,
    Config,
    field_default,
    field_of,
    field_paths,
    flatten,
    load_yaml,
    option,
    override,
)
from rgasc.errors import ArtefactError, ConfigError
from rgasc.models.config import NetConfig
from rgasc.train.config.averaging import AverageConfig
from rgasc.train.config.choices import (  # re-exported: the config's choices live beside it
    Accelerator,
    Precision,
    RelationGrad,
    RelationSpace,
    SelectOn,
)
from rgasc.train.config.recipes import (
    AugmentConfig,
    Optimizer,
    Recipe,
    Schedule,
    check_optim,
    layered,
)
from rgasc.train.config.selection import SelectConfig

if TYPE_CHECKING:
    from rgasc.data.datasets import Clip, DcaseDataset


#: Eq. 8's weights (l1 scene, l2 s_by_event, l3 event, l4 e_by_scene): Table II #6, the
#: paper's best, the default of every run.
PAPER_LAMBDAS: tuple[float, float, float, float] = (1.0, 0.01, 0.5, 0.01)

#: Leaves added after runs of earlier versions existed, each with the value that trains as those
#: runs did. A sweep's run identity (:func:`rgasc.experiments.sweep.run_identity`) leaves a leaf
#: out at that value, so finished runs of an earlier version still count as the same run.
LATER_LEAVES: dict[str, Any] = {"augment.mixstyle_min_devices": 0}
#: The scene loss alone: the pure ASC model (puASC, Table I #1).
PUASC_LAMBDAS: tuple[float, float, float, float] = (1.0, 0.0, 0.0, 0.0)


# --- sections -------------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True, kw_only=True)
class DataConfig(Config):
    """Inputs and the split: train = the fold's training list minus ~val_fraction of each
    scene's locations (the val split); test = the fold's evaluate list
    (:meth:`DcaseDataset.split`)."""

    dataset: str = option(help="Dataset folder (DCASE layout).", path=True)
    features: str = option(help="Feature cache (`rgasc features`).", path=True)
    labels: str = option(help="Pseudo-labels (`rgasc tag`).", path=True)
    relation: str = option(help="R_SE folder (`rgasc relation`).", path=True)
    fold: int = option(1, help="Fold of evaluation_setup/.")
    val_fraction: float = option(
        0.3, help="Share of each scene's training locations carved out for validation."
    )
    split_seed: int = option(0, help="Seed of the validation carve.")

    def clips(self, dataset: DcaseDataset, split: str) -> list[Clip]:
        """``split``'s clips under this fold/carve/seed (readers use features, not audio)."""
        f, v, s = self.fold, self.val_fraction, self.split_seed
        return dataset.split(split, fold=f, val_fraction=v, seed=s, check_audio=False)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0.0 <= self.val_fraction < 1.0:
            raise ConfigError(f"val_fraction={self.val_fraction} must be in [0, 1)")


@dataclasses.dataclass(frozen=True)
class LossConfig(Config):
    """Weights and options of eq. 8 (the losses themselves: :mod:`rgasc.train.algorithms.losses`).
    A zero weight skips its term entirely."""

    lambdas: tuple[float, float, float, float] = option(
        PAPER_LAMBDAS,
        help="Loss weights l1 scene, l2 s_by_event, l3 event, l4 e_by_scene (eq. 8): 4 numbers "
        "or l1,l2,l3,l4.",
    )
    relation_space: RelationSpace = option(
        RelationSpace.PROB,
        help="prob (paper) or log (authors' code): scene side of the relation losses.",
    )
    relation_grad: RelationGrad = option(
        RelationGrad.PAPER, help="paper (reference side detached) or both (authors' code)."
    )
    label_smoothing: float = option(0.0, help="Label smoothing of the scene loss (0 = the paper).")

    def __post_init__(self) -> None:
        super().__post_init__()
        lam = tuple(float(x) for x in self.lambdas)
        if len(lam) != 4 or any(x < 0 for x in lam) or not any(x > 0 for x in lam):
            raise ConfigError(
                f"lambdas={self.lambdas}: give 4 non-negative weights (scene, s_by_event, "
                "event, e_by_scene), at least one positive"
            )
        object.__setattr__(self, "lambdas", lam)  # lists from YAML/CLI -> tuple of floats
        if not 0.0 <= self.label_smoothing < 1.0:
            raise ConfigError(f"label_smoothing={self.label_smoothing} must be in [0, 1)")


@dataclasses.dataclass(frozen=True)
class OptimConfig(Config):
    """Optimisation and model selection: Adam with the paper's lr 1e-3, batch 64, 100 epochs by
    default. The lr per step (:func:`rgasc.train.algorithms.schedule.lr_at`): linear warm-up
    over ``warmup`` (a fraction of all steps), then constant (the paper), cosine or linear decay
    to ``lr_floor`` x lr at the last step. A resumed run keeps the schedule's planned length
    (the first session's steps): epochs added on resume train at the floor."""

    epochs: int = option(
        100,
        help="Epochs. A resumed run keeps its own unless given; epochs added on resume keep "
        "the planned lr schedule (its floor after its end).",
    )
    batch_size: int = option(64, help="Clips per batch.")
    lr: float = option(1e-3, help="Learning rate (the peak, after the warm-up).")
    select_on: SelectOn = option(
        SelectOn.VAL,
        help="Model selection split: val, or test (the authors' protocol; labelled as such).",
    )
    optimizer: Optimizer = option(
        Optimizer.ADAM, help="adam (the paper) or adamw (decoupled weight decay)."
    )
    weight_decay: float = option(0.0, help="Weight decay of every parameter (L2 for adam).")
    schedule: Schedule = option(
        Schedule.CONSTANT,
        help="LR after the warm-up, per step: constant (the paper), cosine or linear decay.",
    )
    warmup: float = option(0.0, help="Linear LR warm-up, as a fraction of all training steps.")
    lr_floor: float = option(0.0, help="LR at the last step of a decay, as a fraction of --lr.")
    stage_lr_scale: float = option(
        1.0,
        help="LR of the backbone's stages (what pretrained weights fill) as a fraction of --lr; "
        "the heads and a learned R_SE train at --lr.",
    )
    freeze_shared: bool = option(
        False, help="Keep the shared stages as they start (pretrained features, not trained)."
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.epochs < 1 or self.batch_size < 1:
            raise ConfigError("epochs, batch_size and eval_batch_size must be >= 1")
        if not self.lr > 0:
            raise ConfigError(f"lr={self.lr} must be > 0")
        check_optim(self.weight_decay, self.warmup, self.lr_floor)
        if not 0.0 < self.stage_lr_scale <= 1.0:
            raise ConfigError(f"stage_lr_scale={self.stage_lr_scale} must be in (0, 1]")


@dataclasses.dataclass(frozen=True)
class RuntimeConfig(Config):
    """How a run is computed; free to change when it is resumed. One device by default: the
    paper's batch of 64 on one device, and no DDP processes spawned inside an experiment's
    sweep unless asked for."""

    precision: Precision = option(
        Precision.P32_TRUE,
        help="Lightning precision (GPU-only ones fall back to 32-true on the CPU).",
    )
    devices: str = option("1", help=DEVICES_HELP)
    num_nodes: int = option(1, help=NUM_NODES_HELP)
    strategy: str = option("auto", help="Lightning strategy, e.g. auto or ddp.")
    accelerator: Accelerator = option(Accelerator.AUTO, help=ACCELERATOR_HELP)
    deterministic: bool = option(False, help="Deterministic algorithms only.")
    workers: int = option(0, help="DataLoader worker processes; 0 = this process.")
    compile: bool = option(False, help="torch.compile the forward pass.")
    channels_last: bool = option(
        True, help="NHWC convolutions on CUDA (faster on tensor cores; ignored on the CPU)."
    )
    log_every_n_steps: int = option(50, help="Lightning logging interval in steps.")
    progress_bar: bool = option(True, help="Lightning progress bar.")
    model_summary: bool = option(False, help="Lightning model summary at the start.")
    sanity_val_steps: int = option(2, help="Validation batches run before training (a check).")
    eval_batch_size: int = option(64, help="Batch size of the final evaluation.")

    def __post_init__(self) -> None:
        super().__post_init__()
        object.__setattr__(self, "devices", str(self.devices))  # YAML may hold 1 or -1
        if self.eval_batch_size < 1:
            raise ConfigError("epochs, batch_size and eval_batch_size must be >= 1")
        if self.workers < 0 or self.num_nodes < 1:
            raise ConfigError("workers must be >= 0 and num_nodes >= 1")


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

    out: str = option(help="Run folder: config.yaml, checkpoints/, logs/, metrics.json.", path=True)
    seed: int = option(0, help="Seed of weights, shuffling, dropout and augmentation.")
    recipe: Recipe = option(
        Recipe.PAPER,
        help="Preset of the options beyond the paper: paper (none of them), modern (frequency "
        "mask, roll, AdamW; Freq-MixStyle with >= 2 devices; README) or finetune (a pretrained "
        "--backbone). It fills the defaults: options given explicitly win.",
    )
    data: DataConfig
    model: NetConfig = dataclasses.field(default_factory=NetConfig)
    loss: LossConfig = dataclasses.field(default_factory=LossConfig)
    optim: OptimConfig = dataclasses.field(default_factory=OptimConfig)
    augment: AugmentConfig = dataclasses.field(default_factory=AugmentConfig)
    runtime: RuntimeConfig = dataclasses.field(default_factory=RuntimeConfig)
    average: AverageConfig = dataclasses.field(default_factory=AverageConfig)
    select: SelectConfig = dataclasses.field(default_factory=SelectConfig)

    def __post_init__(self) -> None:
        super().__post_init__()
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
#: Fields that hold paths; resolved to absolute paths so a run never depends on the cwd.
PATH_FIELDS = tuple(k for k in TRAIN_KEYS if field_of(TrainConfig, k).metadata.get("path"))
#: What a new run must be given (the fields without a default).
REQUIRED = tuple(k for k in TRAIN_KEYS if field_default(TrainConfig, k) is dataclasses.MISSING)


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

    The file is a run's ``config.yaml`` (its ``train`` section is read), or a YAML mapping in
    the ``train`` section's layout. It may hold only some keys: the rest come from the defaults
    or the command line.

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
    changes = flatten(section)
    unknown = [k for k in changes if k not in TRAIN_KEYS]
    if unknown:
        raise ConfigError(
            f"--config {p}: unknown key(s) {unknown} in its 'train' section; valid keys: "
            + ", ".join(TRAIN_KEYS)
        )
    return changes

"""The training stage's config: inputs, protocol, model/loss options and Lightning runtime.

Fields fall in two groups. *Identity* fields decide what a run computes (inputs, split, seed,
model, losses, optimiser, selection split); a resumed run must keep them. *Runtime* fields
(:data:`RUNTIME_FIELDS`) decide only how it is computed (devices, precision, workers, logging)
and may change when a run is resumed, as may ``epochs`` (to train longer).
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path
from typing import Any, Self

from rgasc.artefacts import CONFIG_FILE
from rgasc.config import Config, load_yaml
from rgasc.errors import ArtefactError, RgascError
from rgasc.train.losses import LossConfig

SELECT_ON = ("val", "test")
INITS = ("he", "panns")
#: Fields that change how a run is computed but not what it computes; free to change on resume.
RUNTIME_FIELDS = frozenset(
    {
        "precision",
        "devices",
        "num_nodes",
        "strategy",
        "accelerator",
        "deterministic",
        "num_workers",
        "compile",
        "channels_last",
        "log_every_n_steps",
        "progress_bar",
        "model_summary",
        "sanity_val_steps",
        "eval_batch_size",
    }
)
#: Fields that hold paths; resolved to absolute paths so a run never depends on the cwd.
PATH_FIELDS = ("dataset", "features", "labels", "relation", "out", "init_checkpoint")


@dataclasses.dataclass(frozen=True)
class TrainConfig(Config):
    """Everything ``rgasc train`` needs; written to ``RUN/config.yaml``.

    Attributes:
        dataset: dataset folder (DCASE layout). features: feature cache folder (``rgasc
            features --out``). labels: pseudo-label file (``rgasc tag``). relation: R_SE folder
            (``rgasc relation``). out: the run folder.
        fold, val_fraction, split_seed: the split (:meth:`DcaseDataset.split`): train = the
            fold's training list minus ~val_fraction of each scene's locations (the val split);
            test = the fold's evaluate list.
        seed: Lightning ``seed_everything`` (weights, shuffling, dropout).
        epochs, batch_size, lr: Adam with the paper's lr 1e-3, batch 64, 100 epochs.
        shared_blocks, width, block_dropout, head_dropout: :class:`rgasc.models.ModelConfig`
            fields; scenes, events and mel bands come from the data.
        loss: :class:`rgasc.train.losses.LossConfig` (lambdas, relation space and gradient mode).
        learn_relation: R_SE becomes a non-negative parameter initialised from the prior.
        init: "he" (PANNs' He-uniform) or "panns" (copy CNN14's blocks from
            ``init_checkpoint`` into the shared blocks and both towers; width 1 only).
        select_on: "val" (default: model selection on the carved validation split, test used
            once) or "test" (the authors' protocol, labelled as test-set selection everywhere).
        precision, devices, num_nodes, strategy, accelerator, deterministic: Lightning Trainer
            arguments (``devices`` as Lightning reads it: "auto", "2", "0,1" or "-1").
        num_workers: DataLoader worker processes. compile: ``torch.compile`` the forward.
        channels_last: NHWC memory format for the convolutions on CUDA (faster on tensor
            cores; ignored on CPU).
        log_every_n_steps, progress_bar, model_summary, sanity_val_steps: Lightning logging/UI.
        eval_batch_size: batch size of the final evaluation (inference only, can be larger).
    """

    dataset: str
    features: str
    labels: str
    relation: str
    out: str
    fold: int = 1
    val_fraction: float = 0.3
    split_seed: int = 0
    seed: int = 0
    epochs: int = 100
    batch_size: int = 64
    lr: float = 1e-3
    shared_blocks: int = 2
    width: float = 1.0
    block_dropout: float = 0.2
    head_dropout: float = 0.5
    loss: LossConfig = dataclasses.field(default_factory=LossConfig)
    learn_relation: bool = False
    init: str = "he"
    init_checkpoint: str | None = None
    select_on: str = "val"
    precision: str = "32-true"
    devices: str = "auto"
    num_nodes: int = 1
    strategy: str = "auto"
    accelerator: str = "auto"
    deterministic: bool = False
    num_workers: int = 0
    compile: bool = False
    channels_last: bool = True
    log_every_n_steps: int = 50
    progress_bar: bool = True
    model_summary: bool = True
    sanity_val_steps: int = 2
    eval_batch_size: int = 64

    def __post_init__(self) -> None:
        if isinstance(self.loss, dict):  # from YAML
            object.__setattr__(self, "loss", LossConfig.from_dict(self.loss))
        object.__setattr__(self, "devices", str(self.devices))
        if self.select_on not in SELECT_ON:
            raise RgascError(f"select_on={self.select_on!r}: use one of {SELECT_ON}")
        if self.init not in INITS:
            raise RgascError(f"init={self.init!r}: use one of {INITS}")
        if self.init == "panns" and not self.init_checkpoint:
            raise RgascError(
                "init='panns' needs the CNN14 checkpoint: pass --init-checkpoint "
                "PATH/Cnn14_16k_mAP=0.438.pth (or use --init he)"
            )
        if self.epochs < 1 or self.batch_size < 1 or self.eval_batch_size < 1:
            raise RgascError("epochs, batch_size and eval_batch_size must be >= 1")
        if not self.lr > 0:
            raise RgascError(f"lr={self.lr} must be > 0")
        if not 0.0 <= self.val_fraction < 1.0:
            raise RgascError(f"val_fraction={self.val_fraction} must be in [0, 1)")
        if self.select_on == "val" and self.val_fraction == 0:
            raise RgascError(
                "val_fraction=0 leaves no validation split to select the model on: set "
                "val_fraction > 0, or --select-on test (the authors' protocol)"
            )
        if self.num_workers < 0 or self.num_nodes < 1:
            raise RgascError("num_workers must be >= 0 and num_nodes >= 1")

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Self:
        """Inverse of :meth:`to_dict`, nested ``loss`` included."""
        d = dict(d)
        if isinstance(d.get("loss"), dict):
            d["loss"] = LossConfig.from_dict(d["loss"])
        return super().from_dict(d)

    def resolved(self) -> TrainConfig:
        """The same config with every path absolute (a run must not depend on the cwd)."""
        changes = {
            name: str(Path(v).expanduser().resolve())
            for name in PATH_FIELDS
            if (v := getattr(self, name)) is not None
        }
        return self.replace(**changes)

    def identity(self) -> dict[str, Any]:
        """The fields a resumed run must keep (everything but runtime fields and epochs)."""
        return {
            k: v for k, v in self.to_dict().items() if k not in RUNTIME_FIELDS and k != "epochs"
        }

    @property
    def selection_label(self) -> str:
        """How the model was selected, as written in every report of the run."""
        if self.select_on == "test":
            return "test-set selection (authors' protocol: test scores are optimistic)"
        return "validation-set selection (test split used once, at the end)"


#: The run folder's resolved config (written by the runner, read by evaluate/resume).


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


#: Options that are LossConfig fields (the CLI passes them flat).
LOSS_FIELDS = ("lambdas", "relation_space", "relation_grad")


def config_from_options(options: dict[str, Any], base: TrainConfig | None = None) -> TrainConfig:
    """A TrainConfig from flat options (TrainConfig fields plus the LossConfig fields).

    Args:
        options: field -> value; ``None`` values are ignored; paths may be ``Path``.
        base: start from this config (a run's saved config when resuming) instead of the
            defaults; then ``options`` holds only what the user set explicitly.

    Raises:
        RgascError: unknown option, or a required path missing for a new run.
    """
    opts = {k: v for k, v in options.items() if v is not None}
    loss_opts = {k: opts.pop(k) for k in LOSS_FIELDS if k in opts}
    fields = {f.name for f in dataclasses.fields(TrainConfig)}
    unknown = sorted(set(opts) - fields)
    if unknown:
        raise RgascError(f"unknown training option(s) {unknown}")
    opts = {k: (os.fspath(v) if isinstance(v, os.PathLike) else v) for k, v in opts.items()}
    if base is None:
        missing = [k for k in ("dataset", "features", "labels", "relation", "out") if k not in opts]
        if missing:
            raise RgascError(
                "a new run needs "
                + ", ".join(f"--{m}" for m in missing)
                + " (or --resume to continue an existing run folder)"
            )
        loss = LossConfig(**loss_opts)
        return TrainConfig(**opts, loss=loss)
    if loss_opts:
        opts["loss"] = base.loss.replace(**loss_opts)
    return base.replace(**opts)

"""The command-line options of ``rgasc train`` and ``rgasc experiment``, declared once.

Each :class:`Option` maps one flag to one leaf of :class:`~rgasc.train.config.tree.TrainConfig`
(its dotted key); its type and default come from the dataclass, so the help shows the
default the run will get and a new field needs one line here. The CLI
(:mod:`rgasc.cli.training`) turns the table into typer parameters; a test checks that every
leaf of the tree has its option.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from typing import Any

from rgasc.config import field_default, field_type
from rgasc.train.config.averaging import Averaging
from rgasc.train.config.recipes import MODERN, Optimizer, Recipe, Schedule
from rgasc.train.config.selection import Rule
from rgasc.train.config.tree import (
    PAPER_LAMBDAS,
    Accelerator,
    Init,
    Precision,
    RelationGrad,
    RelationSpace,
    SelectOn,
    TrainConfig,
)


@dataclasses.dataclass(frozen=True)
class Option:
    """One CLI option: ``--NAME`` (NAME the field's last part, ``_`` as ``-``) sets ``field``.

    Attributes:
        field: dotted TrainConfig key, e.g. ``"optim.lr"``.
        help: one sentence; the default is appended from the dataclass.
        choices: the allowed values (the field stores the member's value).
        path: the value is a file or folder (resolved to an absolute path in the run).
        note: text after the default (e.g. how ``--resume`` treats the option).
        cli_name: the parameter name when the field's last part would be vague as a flag
            (``select.rule`` is ``--select-rule``).
    """

    field: str
    help: str
    choices: type[enum.StrEnum] | None = None
    path: bool = False
    note: str = ""
    cli_name: str | None = None

    @property
    def name(self) -> str:
        """The Python parameter name (``batch_size``); the flag is ``--batch-size``."""
        return self.cli_name or self.field.rsplit(".", 1)[-1]

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def section(self) -> str:
        """The tree section (``optim``), or ``run`` for the top-level fields."""
        return self.field.split(".", 1)[0] if "." in self.field else "run"

    @property
    def type(self) -> Any:
        """The field's annotation (``int``, ``str | None``, ``tuple[float, ...]``...)."""
        return field_type(TrainConfig, self.field)

    @property
    def default(self) -> Any:
        """The dataclass default (``dataclasses.MISSING`` for required fields)."""
        return field_default(TrainConfig, self.field)

    def help_text(self) -> str:
        """The help, its note, and the value ``--recipe modern`` gives when it differs."""
        modern = MODERN.get(self.field)
        if modern is None or modern == self.default:
            return " ".join(filter(None, [self.help, self.note]))
        value = f"{modern:g}" if isinstance(modern, float) else str(modern)
        return " ".join(filter(None, [self.help, self.note, f"(--recipe modern: {value})"]))

    def default_text(self) -> str | None:
        """The default as the help shows it (None when the field has none)."""
        d = self.default
        if d is dataclasses.MISSING or d is None:
            return None
        if isinstance(d, bool):
            return self.name.replace("_", "-") if d else "no-" + self.name.replace("_", "-")
        if isinstance(d, tuple):
            text = " ".join(f"{x:g}" for x in d)
            return f"{text} (the paper's)" if d == PAPER_LAMBDAS else text
        return f"{d:g}" if isinstance(d, float) else str(d)


_LAMBDAS_HELP = (
    "Loss weights l1 scene, l2 s_by_event, l3 event, l4 e_by_scene (eq. 8): 4 numbers or "
    "l1,l2,l3,l4."
)
OPTIONS: tuple[Option, ...] = (
    Option("out", "Run folder: config.yaml, checkpoints/, logs/, metrics.json.", path=True),
    Option("seed", "Seed of weights, shuffling, dropout and augmentation."),
    Option(
        "recipe",
        "Preset of the options beyond the paper: paper (none of them) or modern (mixup, "
        "Freq-MixStyle, frequency mask, roll, AdamW, warm-up + cosine; README). It fills the "
        "defaults: options given explicitly win.",
        choices=Recipe,
    ),
    # data
    Option("data.dataset", "Dataset folder (DCASE layout).", path=True),
    Option("data.features", "Feature cache (`rgasc features`).", path=True),
    Option("data.labels", "Pseudo-labels (`rgasc tag`).", path=True),
    Option("data.relation", "R_SE folder (`rgasc relation`).", path=True),
    Option("data.fold", "Fold of evaluation_setup/."),
    Option(
        "data.val_fraction", "Share of each scene's training locations carved out for validation."
    ),
    Option("data.split_seed", "Seed of the validation carve."),
    # model
    Option("model.shared_blocks", "Blocks shared by both towers, 0..6."),
    Option("model.width", "Channel multiplier (1 = CNN14 widths)."),
    Option("model.block_dropout", "Dropout after each convolution block."),
    Option("model.head_dropout", "Dropout before each tower's output layer."),
    Option("model.learn_relation", "Learn R_SE (non-negative), starting from the prior."),
    Option(
        "model.init",
        "he (PANNs' He-uniform) or panns (CNN14 blocks from --init-checkpoint).",
        choices=Init,
    ),
    Option("model.init_checkpoint", "CNN14 .pth for --init panns.", path=True),
    # loss
    Option("loss.lambdas", _LAMBDAS_HELP),
    Option(
        "loss.relation_space",
        "prob (paper) or log (authors' code): scene side of the relation losses.",
        choices=RelationSpace,
    ),
    Option(
        "loss.relation_grad",
        "paper (reference side detached) or both (authors' code).",
        choices=RelationGrad,
    ),
    Option("loss.label_smoothing", "Label smoothing of the scene loss (0 = the paper)."),
    # optim
    Option("optim.epochs", "Epochs.", note="A resumed run keeps its own unless given."),
    Option("optim.batch_size", "Clips per batch."),
    Option("optim.lr", "Learning rate (the peak, after the warm-up)."),
    Option(
        "optim.select_on",
        "Model selection split: val, or test (the authors' protocol; labelled as such).",
        choices=SelectOn,
    ),
    Option(
        "optim.optimizer", "adam (the paper) or adamw (decoupled weight decay).", choices=Optimizer
    ),
    Option("optim.weight_decay", "Weight decay of every parameter (L2 for adam)."),
    Option(
        "optim.schedule",
        "LR after the warm-up, per step: constant (the paper), cosine or linear decay.",
        choices=Schedule,
    ),
    Option("optim.warmup", "Linear LR warm-up, as a fraction of all training steps."),
    Option("optim.lr_floor", "LR at the last step of a decay, as a fraction of --lr."),
    # augment (training batches only)
    Option("augment.mixup_alpha", "Mixup within the batch, weights Beta(a, a); 0 = off."),
    Option("augment.mixstyle_p", "Freq-MixStyle: probability per batch; 0 = off."),
    Option("augment.mixstyle_alpha", "Freq-MixStyle: statistics mixed with Beta(a, a) weights."),
    Option("augment.freq_masks", "Frequency masks per clip (SpecAugment)."),
    Option("augment.freq_mask_width", "Widest frequency mask, in mel bands."),
    Option("augment.time_masks", "Time masks per clip (SpecAugment)."),
    Option("augment.time_mask_width", "Widest time mask, in frames."),
    Option("augment.time_roll", "Circular time shift of each clip by up to +-N frames; 0 = off."),
    Option("augment.time_crop", "Random window of N frames of each clip; 0 = the whole clip."),
    # runtime
    Option(
        "runtime.precision",
        "Lightning precision (GPU-only ones fall back to 32-true on the CPU).",
        choices=Precision,
    ),
    Option("runtime.devices", "Lightning devices: auto, N, -1 (all), or 0,1."),
    Option("runtime.num_nodes", "Machines for multi-node DDP."),
    Option("runtime.strategy", "Lightning strategy, e.g. auto or ddp."),
    Option("runtime.accelerator", "Lightning accelerator.", choices=Accelerator),
    Option("runtime.deterministic", "Deterministic algorithms only."),
    Option("runtime.num_workers", "DataLoader worker processes."),
    Option("runtime.compile", "torch.compile the forward pass."),
    Option("runtime.channels_last", "NHWC convolutions on CUDA (faster on tensor cores)."),
    Option("runtime.log_every_n_steps", "Lightning logging interval in steps."),
    Option("runtime.progress_bar", "Lightning progress bar."),
    Option("runtime.model_summary", "Lightning model summary at the start."),
    Option("runtime.sanity_val_steps", "Validation batches run before training (a check)."),
    Option("runtime.eval_batch_size", "Batch size of the final evaluation."),
    # average, select (rgasc.train.config.averaging, .selection)
    Option(
        "average.method",
        "Weight averaging: none (paper), ema (per step) or swa (last epochs); validated "
        "every epoch beside the raw model, exported as checkpoints/averaged.pt.",
        choices=Averaging,
        cli_name="averaging",
    ),
    Option("average.ema_decay", "EMA decay per optimiser step."),
    Option("average.ema_warmup", "EMA decay min(d, (1+k)/(10+k)) at step k (short runs)."),
    Option("average.swa_epochs", "SWA averages the weights of the last N epochs."),
    Option(
        "select.rule",
        "Exported weights: best epoch (paper), smoothed (best of a centred moving average "
        "of the curve), last epoch, or averaged (the EMA/SWA weights).",
        choices=Rule,
        cli_name="select_rule",
    ),
    Option(
        "select.window",
        "Epochs (odd) in the centred window of --select-rule smoothed.",
        cli_name="select_window",
    ),
    Option(
        "select.score_all",
        "Also score every rule's weights on val and test, and the selected weights on the "
        "training split (metrics.json rules, train): a study of the rules.",
        cli_name="score_all_rules",
    ),
)
BY_NAME: dict[str, Option] = {o.name: o for o in OPTIONS}


def option_changes(values: Mapping[str, Any]) -> dict[str, Any]:
    """Parameter values of a command (name -> value) as dotted TrainConfig changes.

    Names that are not in the table are left out (a command's own arguments); ``None`` means
    "not given" and is left out too, so a file's or a resumed run's setting stays.
    """
    return {BY_NAME[k].field: v for k, v in values.items() if k in BY_NAME and v is not None}

"""Training recipes: the augmentation section of the config tree and the ``--recipe`` presets.

A recipe is a named set of defaults for the options beyond the paper (augmentation,
optimiser, schedule, label smoothing). ``paper`` is the paper's training exactly (every extra
off: Adam, fixed lr, no augmentation); ``modern`` takes its pieces from the published systems
that beat the paper on the same kind of data (``shared/docs/RECIPES.md``; each value's source
is named beside it) and keeps those a validation sweep chose. A preset only fills defaults: an
option given explicitly wins (:func:`layered`). The recipe's name and every resolved option
are written to config.yaml.

Torch-free: :mod:`rgasc.train.config.tree` imports it, and the CLI builds its options from both
at start-up. The augmentations themselves are in :mod:`rgasc.train.algorithms.augment`, the
schedule in
:mod:`rgasc.train.algorithms.schedule`.
"""

from __future__ import annotations

import dataclasses
import enum
from collections.abc import Mapping
from typing import Any

from rgasc.config import Config, option
from rgasc.errors import ConfigError


class Recipe(enum.StrEnum):
    """Presets of ``--recipe``."""

    PAPER = "paper"  # the paper's training, exactly
    MODERN = "modern"  # published augmentation + AdamW, recombined on validation
    FINETUNE = "finetune"  # a pretrained backbone (--backbone yamnet): chosen on validation


class Optimizer(enum.StrEnum):
    """Optimiser of ``optim.optimizer``."""

    ADAM = "adam"  # the paper (weight decay, if any, is an L2 term of the gradient)
    ADAMW = "adamw"  # decoupled weight decay (Loshchilov & Hutter)


class Schedule(enum.StrEnum):
    """Learning-rate decay after the warm-up (:func:`rgasc.train.algorithms.schedule.lr_at`)."""

    CONSTANT = "constant"  # the paper: the lr is fixed
    COSINE = "cosine"
    LINEAR = "linear"


@dataclasses.dataclass(frozen=True)
class AugmentConfig(Config):
    """Augmentations of the training batches (never of validation or test); all off by default.

    Applied on the batch's device, in this order: crop, roll, Freq-MixStyle, mixup, masks
    (:class:`rgasc.train.algorithms.augment.BatchAugment`). Shapes are frames x mel bands of the
    standardised log-mel input.

    Attributes:
        mixup_alpha: mixup within the batch with weights Beta(alpha, alpha) (0 = off); the
            scene targets become the mixed one-hots, the pseudo-labels are mixed alike.
        mixstyle_p, mixstyle_alpha: Freq-MixStyle applied to a batch with probability p (0 =
            off), per-band statistics mixed with weights Beta(alpha, alpha).
        mixstyle_min_devices: Freq-MixStyle only when the training split holds at least this
            many recording devices (0 = regardless): it is a device-mismatch tool that rewrites
            each clip's per-band statistics, the main cue on single-device data
            (:meth:`for_devices`).
        freq_masks, freq_mask_width: SpecAugment frequency masks per clip, each up to
            ``freq_mask_width`` bands wide (0 masks = off).
        time_masks, time_mask_width: time masks per clip, each up to ``time_mask_width`` frames.
        time_roll: circular shift of each clip by up to +-time_roll frames (0 = off).
        time_crop: a random window of this many frames of each clip (0 = off, the whole clip).
    """

    mixup_alpha: float = option(0.0, help="Mixup within the batch, weights Beta(a, a); 0 = off.")
    mixstyle_p: float = option(0.0, help="Freq-MixStyle: probability per batch; 0 = off.")
    mixstyle_alpha: float = option(
        0.3, help="Freq-MixStyle: statistics mixed with Beta(a, a) weights."
    )
    mixstyle_min_devices: int = option(
        0,
        help="Freq-MixStyle only if the training split has >= N recording devices; 0 = always.",
    )
    freq_masks: int = option(0, help="Frequency masks per clip (SpecAugment).")
    freq_mask_width: int = option(0, help="Widest frequency mask, in mel bands.")
    time_masks: int = option(0, help="Time masks per clip (SpecAugment).")
    time_mask_width: int = option(0, help="Widest time mask, in frames.")
    time_roll: int = option(
        0, help="Circular time shift of each clip by up to +-N frames; 0 = off."
    )
    time_crop: int = option(0, help="Random window of N frames of each clip; 0 = the whole clip.")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.mixup_alpha < 0 or self.mixstyle_alpha <= 0:
            raise ConfigError(
                f"mixup_alpha={self.mixup_alpha} must be >= 0 (0 = off) and "
                f"mixstyle_alpha={self.mixstyle_alpha} > 0"
            )
        if not 0.0 <= self.mixstyle_p <= 1.0:
            raise ConfigError(f"mixstyle_p={self.mixstyle_p} must be in [0, 1]")
        counts = ("freq_masks", "freq_mask_width", "time_masks", "time_mask_width")
        for name in (*counts, "time_roll", "time_crop", "mixstyle_min_devices"):
            if getattr(self, name) < 0:
                raise ConfigError(f"{name}={getattr(self, name)} must be >= 0")
        for axis in ("freq", "time"):
            if getattr(self, f"{axis}_masks") > 0 and getattr(self, f"{axis}_mask_width") < 1:
                # a mask of width 0 would be a silent no-op
                raise ConfigError(
                    f"{axis}_masks={getattr(self, f'{axis}_masks')} needs {axis}_mask_width >= 1"
                )

    def for_devices(self, n_devices: int) -> AugmentConfig:
        """The augmentation a training split of ``n_devices`` recording devices gets: Freq-MixStyle
        off when the split has fewer devices than ``mixstyle_min_devices``, else unchanged."""
        if self.mixstyle_p > 0 and n_devices < self.mixstyle_min_devices:
            return dataclasses.replace(self, mixstyle_p=0.0)
        return self

    @property
    def enabled(self) -> bool:
        """Whether any augmentation is on."""
        return bool(
            self.mixup_alpha > 0
            or self.mixstyle_p > 0
            or self.freq_masks > 0
            or self.time_masks > 0
            or self.time_roll > 0
            or self.time_crop > 0
        )


def check_optim(weight_decay: float, warmup: float, lr_floor: float) -> None:
    """Range checks of the optimiser and schedule fields of ``OptimConfig`` (their choices are
    enums, checked by :class:`rgasc.config.Config`).

    Raises:
        ConfigError: a value out of its range.
    """
    if weight_decay < 0:
        raise ConfigError(f"weight_decay={weight_decay} must be >= 0")
    if not 0.0 <= warmup < 1.0 or not 0.0 <= lr_floor <= 1.0:
        raise ConfigError(
            f"warmup={warmup} must be in [0, 1) (a fraction of the steps) and "
            f"lr_floor={lr_floor} in [0, 1] (a fraction of lr)"
        )


#: The paper's training: every option a recipe sets, at the value that leaves it out (the
#: dataclass defaults; a test checks they agree). ``--recipe paper`` over a config file of
#: another recipe therefore resets all of them.
PAPER: dict[str, Any] = {
    "augment.mixup_alpha": 0.0,
    "augment.mixstyle_p": 0.0,
    "augment.mixstyle_alpha": 0.3,
    "augment.mixstyle_min_devices": 0,
    "augment.freq_masks": 0,
    "augment.freq_mask_width": 0,
    "augment.time_masks": 0,
    "augment.time_mask_width": 0,
    "augment.time_roll": 0,
    "augment.time_crop": 0,
    "optim.optimizer": Optimizer.ADAM.value,  # paper Sec. IV: Adam, lr 1e-3
    "optim.lr": 1e-3,
    "optim.weight_decay": 0.0,
    "optim.schedule": Schedule.CONSTANT.value,
    "optim.warmup": 0.0,
    "optim.lr_floor": 0.0,
    "loss.label_smoothing": 0.0,
    "optim.stage_lr_scale": 1.0,
    "optim.freeze_shared": False,
}

#: Pieces of the published systems (shared/docs/RECIPES.md), scaled to this front-end (64 mel
#: bands, hop 1376 at 44.1 kHz = 31.2 ms per frame), recombined by a validation sweep of the
#: from-scratch student on the real-sound benchmark (benchmarks/results/realscenes/modern-sweep/:
#: width 1/16, 30 epochs, 3 seeds; the published combination with mixup and a warm-up + cosine
#: decay scored below the paper's recipe there, the test split was read once, after the choice).
MODERN: dict[str, Any] = {
    **PAPER,
    # Freq-MixStyle p 0.4, alpha 0.3: CP-JKU DCASE 2023 winner and DCASE 2024 baseline; a
    # device-mismatch tool, so only where the training data has several devices (on one device
    # it made the network fail to fit: benchmarks/results/recipe.md). Not swept: no
    # multi-device set is reachable here.
    "augment.mixstyle_p": 0.4,
    "augment.mixstyle_alpha": 0.3,
    "augment.mixstyle_min_devices": 2,
    # one frequency mask up to 48 of 256 mel bins (CP-JKU 2023/2024): 48 / 256 * 64 = 12 bands
    "augment.freq_masks": 1,
    "augment.freq_mask_width": 12,
    # roll up to 4000 samples at 32 kHz = 0.125 s (EfficientAT, CP-JKU 2023; 0.1 s in the 2024
    # baseline): 0.125 s / 31.2 ms = 4 frames
    "augment.time_roll": 4,
    # AdamW, weight decay 1e-4: CP-JKU DCASE 2024 baseline
    "optim.optimizer": Optimizer.ADAMW.value,
    "optim.weight_decay": 1e-4,
    # the sweep's choice: no mixup (EfficientAT's alpha 0.3: 33.7 % val with it, 34.3 without),
    # constant lr (5 % warm-up + cosine to 0.01 x lr, CP-JKU 2024 / EfficientAT: 26.0 %)
}

#: Fine-tuning a pretrained backbone at small data and small compute. The values are the
#: candidates with the highest validation macro accuracy of two sweeps on the real-sound
#: benchmark (benchmarks/results/realscenes/finetune-sweep/: yamnet, 8 epochs, batch 32; the
#: test split was not read): the shared stages frozen, the other pretrained stages at 1e-4,
#: 3-s (300-frame) random crops of the 10-s training clips (first sweep), and the new heads
#: at 1e-2 (second sweep, on the validate fold: 62.4 % against 58.7 % with heads at 1e-3).
FINETUNE: dict[str, Any] = {
    **PAPER,
    "optim.lr": 1e-2,
    "optim.stage_lr_scale": 0.01,
    "optim.freeze_shared": True,
    "augment.time_crop": 300,
}

PRESETS: dict[str, dict[str, Any]] = {
    Recipe.PAPER.value: PAPER,
    Recipe.MODERN.value: MODERN,
    Recipe.FINETUNE.value: FINETUNE,
}


def preset(name: str) -> dict[str, Any]:
    """The dotted changes of recipe ``name`` (a copy).

    Raises:
        ConfigError: an unknown recipe (the message lists the valid ones).
    """
    key = name.value if isinstance(name, enum.Enum) else str(name)
    if key not in PRESETS:
        raise ConfigError(f"recipe={name!r}: use one of {tuple(PRESETS)}")
    return dict(PRESETS[key])


def layered(*layers: Mapping[str, Any]) -> dict[str, Any]:
    """Dotted change sets merged, lowest precedence first; a set that names a ``recipe`` puts
    that preset's values just below its own.

    So the preset fills the defaults and explicit values win: ``layered(file, cli)`` with
    ``--recipe modern --mixup-alpha 0.2`` on the command line gives the file's values, then
    the modern preset over them, then ``mixup_alpha`` 0.2; a file that names its recipe keeps
    its own values (a run's config.yaml is reproduced as it was).
    """
    out: dict[str, Any] = {}
    for layer in layers:
        if layer.get("recipe") is not None:
            out.update(preset(layer["recipe"]))
        out.update(layer)
    return out

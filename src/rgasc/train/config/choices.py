"""The choices of the training config as StrEnums (``--help`` lists them; a typo is an error).

Kept apart from :mod:`rgasc.train.config.tree` so the tree stays short; imports nothing heavy.
"""

from __future__ import annotations

import enum


class SelectOn(enum.StrEnum):
    """Split the model is selected on."""

    VAL = "val"
    TEST = "test"  # the authors' protocol, labelled as test-set selection everywhere


class RelationSpace(enum.StrEnum):
    """Scene side of the relation losses (see :mod:`rgasc.train.algorithms.losses`)."""

    PROB = "prob"  # the paper
    LOG = "log"  # the authors' code


class RelationGrad(enum.StrEnum):
    """Which side of the relation losses gets gradients (:mod:`rgasc.train.algorithms.losses`)."""

    PAPER = "paper"  # reference side detached
    BOTH = "both"  # the authors' code


class Accelerator(enum.StrEnum):
    """Lightning accelerators the CLI offers."""

    AUTO = "auto"
    CPU = "cpu"
    GPU = "gpu"
    CUDA = "cuda"
    MPS = "mps"


class Precision(enum.StrEnum):
    """Lightning's precision strings (its aliases 64, 32, 16 and bf16 included)."""

    P32_TRUE = "32-true"
    P64_TRUE = "64-true"
    P16_MIXED = "16-mixed"
    BF16_MIXED = "bf16-mixed"
    P16_TRUE = "16-true"
    BF16_TRUE = "bf16-true"
    TRANSFORMER_ENGINE = "transformer-engine"
    TRANSFORMER_ENGINE_FLOAT16 = "transformer-engine-float16"
    P64 = "64"
    P32 = "32"
    P16 = "16"
    BF16 = "bf16"

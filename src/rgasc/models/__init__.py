"""The RGASC two-tower model: its config, blocks, network, relation prior, initialisation and
checkpoint format.

No Lightning here: training lives in :mod:`rgasc.train`. The config
(:mod:`rgasc.models.config`) imports without torch, so the training config and the CLI can read
it at start-up; the torch modules load on first use of their names.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rgasc.models.config import CNN14_POOLS, CNN14_WIDTHS, ModelConfig, NetConfig

if TYPE_CHECKING:
    from rgasc.models.blocks import ConvBlock, he_uniform_, pool_head
    from rgasc.models.transfer import init_from_cnn14
    from rgasc.models.two_tower import (
        RGASC,
        RelationPrior,
        TwoTowerOutput,
        n_parameters,
        tower_parameters,
    )

__all__ = [
    "CNN14_POOLS",
    "CNN14_WIDTHS",
    "RGASC",
    "ConvBlock",
    "ModelConfig",
    "NetConfig",
    "RelationPrior",
    "TwoTowerOutput",
    "he_uniform_",
    "init_from_cnn14",
    "n_parameters",
    "pool_head",
    "tower_parameters",
]

_LAZY = {
    "ConvBlock": "rgasc.models.blocks",
    "he_uniform_": "rgasc.models.blocks",
    "pool_head": "rgasc.models.blocks",
    "init_from_cnn14": "rgasc.models.transfer",
    "RGASC": "rgasc.models.two_tower",
    "RelationPrior": "rgasc.models.two_tower",
    "TwoTowerOutput": "rgasc.models.two_tower",
    "n_parameters": "rgasc.models.two_tower",
    "tower_parameters": "rgasc.models.two_tower",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

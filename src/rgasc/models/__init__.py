"""The RGASC two-tower model: blocks, network, relation prior and initialisation.

No Lightning here: training lives in :mod:`rgasc.train`.
"""

from rgasc.models.blocks import ConvBlock, he_uniform_, pool_head
from rgasc.models.transfer import init_from_cnn14
from rgasc.models.two_tower import (
    CNN14_POOLS,
    CNN14_WIDTHS,
    RGASC,
    ModelConfig,
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
    "RelationPrior",
    "TwoTowerOutput",
    "he_uniform_",
    "init_from_cnn14",
    "n_parameters",
    "pool_head",
    "tower_parameters",
]

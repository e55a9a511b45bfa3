"""The backbone registry: the networks the two towers are cut from, each with its input contract.

A :class:`Backbone` (in the spirit of timm's model registry and pretrained configs) names

- how to build its stages, the unit ``--shared-blocks N`` counts: the first N are shared by both
  towers, the rest copied into the scene and the event tower;
- its head: how a stage map becomes a clip vector, and whether a hidden layer follows;
- its **input contract**: the :class:`~rgasc.features.FeatureConfig` that ``rgasc features
  --backbone NAME`` computes and ``rgasc train`` checks, and whether the training split's
  per-band standardisation applies (pretrained weights expect their own input scale);
- the weights it starts from by default (:data:`rgasc.models.config.DEFAULT_INIT`).

``cnn14`` is the paper's network (CNN14's six conv blocks, scaled by ``width``); ``yamnet`` is
YAMNet's MobileNetV1 (:mod:`rgasc.models.yamnet`) in six stages, AudioSet-pretrained.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

from torch import nn

from rgasc.errors import ConfigError
from rgasc.features.logmel import YAMNET_FEATURES, FeatureConfig
from rgasc.models.blocks import ConvBlock
from rgasc.models.config import CNN14_POOLS, BackboneName, ModelConfig
from rgasc.models.yamnet import STAGE_CHANNELS, MobileNetV1


@dataclasses.dataclass(frozen=True)
class Backbone:
    """One registered backbone.

    Attributes:
        name: the registry key (``--backbone``).
        features: the input contract: the front-end its features come from.
        standardize: whether the input is standardised per mel band with the training split's
            statistics (cnn14, trained from scratch) or given as it is (yamnet: its pretrained
            weights read YAMNet's log-mel values).
        n_stages: how many stages the network has (``--shared-blocks`` is 0..n_stages).
        build: ``(cfg, start, stop)`` -> fresh modules of stages ``start..stop-1``; each maps
            ``(B, C_in, T, F)`` to ``(B, C_out, T', F')``, stage 0 reads ``(B, 1, T, F)``.
        embedding_dim: ``cfg`` -> channels of the last stage (the clip vector's size).
        hidden_fc: CNN14's head puts ``fc1`` (D -> D, ReLU) before the output layer; YAMNet's
            classifier reads the pooled vector directly.
        mean_pool: global average pooling (YAMNet) instead of CNN14's mean over frequency, then
            max + mean over time.
    """

    name: str
    features: FeatureConfig
    standardize: bool
    n_stages: int
    build: Callable[[ModelConfig, int, int], list[nn.Module]]
    embedding_dim: Callable[[ModelConfig], int]
    hidden_fc: bool
    mean_pool: bool

    def accepts(self, features: FeatureConfig) -> bool:
        """Whether features computed with ``features`` are this backbone's input."""
        return features.frontend == self.features.frontend


def _cnn14_stages(cfg: ModelConfig, start: int, stop: int) -> list[nn.Module]:
    widths = cfg.widths
    cins = (1, *widths[:-1])
    return [ConvBlock(cins[i], widths[i], CNN14_POOLS[i]) for i in range(start, stop)]


def _yamnet_stages(cfg: ModelConfig, start: int, stop: int) -> list[nn.Module]:
    # a fresh network per call: the towers must never share a module by accident
    return [stage.module for stage in MobileNetV1().stages()[start:stop]]


BACKBONES: dict[str, Backbone] = {
    BackboneName.CNN14: Backbone(
        name=BackboneName.CNN14,
        features=FeatureConfig(),
        standardize=True,
        n_stages=len(CNN14_POOLS),
        build=_cnn14_stages,
        embedding_dim=lambda cfg: cfg.widths[-1],
        hidden_fc=True,
        mean_pool=False,
    ),
    BackboneName.YAMNET: Backbone(
        name=BackboneName.YAMNET,
        features=YAMNET_FEATURES,
        standardize=False,
        n_stages=len(STAGE_CHANNELS),
        build=_yamnet_stages,
        embedding_dim=lambda cfg: STAGE_CHANNELS[-1],
        hidden_fc=False,
        mean_pool=True,
    ),
}


def get_backbone(name: str) -> Backbone:
    """The registered backbone ``name``.

    Raises:
        ConfigError: an unknown name (the message lists the registered ones).
    """
    if name not in BACKBONES:
        raise ConfigError(f"backbone={name!r}: use one of {tuple(BACKBONES)}")
    return BACKBONES[name]


def available_backbones() -> list[str]:
    return list(BACKBONES)

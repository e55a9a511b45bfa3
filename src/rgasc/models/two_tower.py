"""The RGASC two-tower network (paper sec. II-B, Fig. 1) and the scene-event relation prior.

Layout (module names in brackets), over the six stages of a backbone
(:mod:`rgasc.models.backbones`: CNN14's conv blocks, or YAMNet's MobileNetV1 in six groups)::

    (B, T, F) log-mel -> (B, 1, T, F)
      -> N shared stages                       [shared]
      -> 6 - N stages, scene copy             [scene_tower]   -> head [scene_fc1, scene_out]
      -> 6 - N stages, event copy             [event_tower]   -> head [event_fc1, event_out]

Stage ``i`` (0-based; CNN14's ``conv_block{i+1}``) lives in ``shared[i]`` when ``i < N`` and in
``scene_tower[i - N]`` / ``event_tower[i - N]`` otherwise. At N = 6 both towers are empty and
both heads read the shared output; at N = 0 there is no shared stage and each tower starts from
the input.

Head: the backbone's pooling (CNN14's: mean over frequency, max + mean over time; YAMNet's: the
global mean), dropout, for cnn14 ``fc1`` D -> D + ReLU (the D-dim embedding; yamnet's embedding
is the pooled vector), then the output layer (scene: K logits; event: E logits, sigmoid).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rgasc.errors import ArtefactError
from rgasc.models.backbones import get_backbone
from rgasc.models.blocks import he_uniform_, pool_head
from rgasc.models.config import CNN14_POOLS, ModelConfig

#: Frames (and mel bands) the network needs: each of the five 2x2 poolings halves them.
MIN_FRAMES = 2 ** sum(1 for p in CNN14_POOLS if p != (1, 1))


class TwoTowerOutput(NamedTuple):
    """What :class:`RGASC` returns (B clips, K scenes, E events, D embedding dim)."""

    scene_logits: Tensor  # (B, K), pre-softmax
    event_logits: Tensor  # (B, E), pre-sigmoid
    event_probs: Tensor  # (B, E), sigmoid(event_logits)
    scene_embedding: Tensor  # (B, D), ReLU(scene_fc1(pooled))
    event_embedding: Tensor  # (B, D), ReLU(event_fc1(pooled))


class RGASC(nn.Module):
    """Two-tower scene/event network over a registered backbone (:mod:`rgasc.models.backbones`).

    ``forward(x)``: ``x`` (B, T, F) log-mel (standardised for cnn14, as computed for yamnet),
    T and F >= 32 -> :class:`TwoTowerOutput`. Weights are He-uniform initialised
    (:func:`rgasc.models.blocks.he_uniform_`) but for the scene output layer, which starts at
    zero (every scene equally likely); :mod:`rgasc.models.transfer` copies pretrained weights
    in (CNN14's, YAMNet's; never into that new layer).
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        bb = get_backbone(cfg.backbone)
        n = cfg.shared_blocks
        d = bb.embedding_dim(cfg)
        # built in this order (shared, scene, event, heads) so that, for cnn14, the random
        # initialisation below draws what it always drew for a given seed
        self.shared = nn.ModuleList(bb.build(cfg, 0, n))
        self.scene_tower = nn.ModuleList(bb.build(cfg, n, bb.n_stages))
        self.event_tower = nn.ModuleList(bb.build(cfg, n, bb.n_stages))
        self.scene_fc1: nn.Module = nn.Linear(d, d) if bb.hidden_fc else nn.Identity()
        self.event_fc1: nn.Module = nn.Linear(d, d) if bb.hidden_fc else nn.Identity()
        self.scene_out = nn.Linear(d, cfg.n_scenes)
        self.event_out = nn.Linear(d, cfg.n_events)
        # Plain floats and bools so TorchScript sees constants, not the dataclass.
        self.block_dropout: float = float(cfg.block_dropout)
        self.head_dropout: float = float(cfg.head_dropout)
        self.mean_pool: bool = bb.mean_pool

        he_uniform_(self)
        # The scene head starts at the uniform guess (logits 0, cross-entropy ln K): with
        # He-uniform's ReLU gain the logits started with std ~2.7 and the cross-entropy at
        # 3-6 against ln 10 = 2.3, a first stretch of training spent undoing the init. Zeros
        # draw no random numbers, so every other layer starts as before for a seed; the
        # gradient reaches the layer (through the embedding) from the first step.
        nn.init.zeros_(self.scene_out.weight)
        nn.init.zeros_(self.scene_out.bias)

    def _pool(self, x: Tensor) -> Tensor:
        """(B, C, T', F') -> (B, C): the backbone's clip pooling."""
        if self.mean_pool:
            return x.mean(dim=(2, 3))
        return pool_head(x)

    def forward(self, x: Tensor) -> TwoTowerOutput:
        """``x``: (B, T, F) -> TwoTowerOutput with (B, K), (B, E), (B, E), (B, D), (B, D)."""
        if x.dim() != 3:
            raise ValueError("RGASC expects a (batch, frames, mel) log-mel tensor")
        h = x.unsqueeze(1)  # (B, 1, T, F): mel is the last (width) axis, as in CNN14
        for block in self.shared:
            h = F.dropout(block(h), p=self.block_dropout, training=self.training)
        s = h
        for block in self.scene_tower:
            s = F.dropout(block(s), p=self.block_dropout, training=self.training)
        e = h
        for block in self.event_tower:
            e = F.dropout(block(e), p=self.block_dropout, training=self.training)

        s = F.dropout(self._pool(s), p=self.head_dropout, training=self.training)
        scene_embedding = F.relu(self.scene_fc1(s))
        e = F.dropout(self._pool(e), p=self.head_dropout, training=self.training)
        event_embedding = F.relu(self.event_fc1(e))

        scene_logits = self.scene_out(scene_embedding)
        event_logits = self.event_out(event_embedding)
        return TwoTowerOutput(
            scene_logits,
            event_logits,
            torch.sigmoid(event_logits),
            scene_embedding,
            event_embedding,
        )


def tower_parameters(model: RGASC, part: str) -> list[nn.Parameter]:
    """Parameters of one part of the network.

    Args:
        part: ``"shared"`` (the shared blocks), ``"scene"`` (scene tower, ``scene_fc1``,
            ``scene_out``), ``"event"`` (event tower, ``event_fc1``, ``event_out``), ``"stages"``
            (every stage: shared and both towers) or ``"heads"`` (both towers' fc1 and output
            layers).
    """
    modules: dict[str, tuple[nn.Module, ...]] = {
        "shared": (model.shared,),
        "scene": (model.scene_tower, model.scene_fc1, model.scene_out),
        "event": (model.event_tower, model.event_fc1, model.event_out),
        # the backbone's stages (what pretrained weights fill) vs the heads on top
        "stages": (model.shared, model.scene_tower, model.event_tower),
        "heads": (model.scene_fc1, model.scene_out, model.event_fc1, model.event_out),
    }
    if part not in modules:
        raise ValueError(f"part must be one of {sorted(modules)}, not {part!r}")
    return [p for m in modules[part] for p in m.parameters()]


def n_parameters(module: nn.Module, trainable_only: bool = True) -> int:
    """Number of (trainable) parameter elements; BN running stats are buffers, not counted."""
    return sum(p.numel() for p in module.parameters() if p.requires_grad or not trainable_only)


# Softplus floor for a learnable R: inverse-softplus(0) is -inf, so zeros start at this value.
_R_FLOOR = 1e-6


def _inverse_softplus(y: Tensor) -> Tensor:
    """x with softplus(x) = y, for y > 0 (stable form of log(exp(y) - 1))."""
    return y + torch.log(-torch.expm1(-y))


class RelationPrior(nn.Module):
    """The scene-event relation matrix R_SE, fixed or learnable.

    Args:
        R: (K, E) non-negative, finite prior (rows: scenes, columns: events).
        learn: ``False`` keeps ``R`` as a buffer (saved in the state dict, never trained).
            ``True`` (the paper's future work) stores a raw parameter ``raw`` with
            ``matrix = softplus(raw)``, initialised to ``inverse_softplus(max(R, 1e-6))``: the
            matrix is > 0 whatever the optimiser does (softplus may underflow to exactly 0 for
            very negative ``raw``, never below), and starts equal to R up to the 1e-6 floor.

    ``matrix`` (and ``forward()``) return the (K, E) non-negative matrix to give the losses.
    """

    R: Tensor  # the buffer, when learn=False

    def __init__(self, R: Tensor, learn: bool = False) -> None:
        super().__init__()
        R = torch.as_tensor(R).detach().to(torch.float32)
        if R.dim() != 2:
            raise ArtefactError(f"relation matrix must be (scenes, events), got {tuple(R.shape)}")
        if not bool(torch.isfinite(R).all()) or bool((R < 0).any()):
            raise ArtefactError(
                "relation matrix has negative or non-finite entries: rebuild it with "
                "`rgasc relation`"
            )
        self.learn = learn
        if learn:
            self.raw = nn.Parameter(_inverse_softplus(R.clamp_min(_R_FLOOR)))
        else:
            self.register_buffer("R", R.clone())

    @property
    def matrix(self) -> Tensor:
        """(K, E) non-negative relation matrix."""
        if self.learn:
            return F.softplus(self.raw)
        return self.R

    @property
    def shape(self) -> tuple[int, int]:
        k, e = self.matrix.shape
        return int(k), int(e)

    def forward(self) -> Tensor:
        """Same as :attr:`matrix`: (K, E)."""
        return self.matrix

    def extra_repr(self) -> str:
        k, e = self.shape
        return f"scenes={k}, events={e}, learn={self.learn}"

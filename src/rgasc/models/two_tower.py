"""The RGASC two-tower network (paper sec. II-B, Fig. 1) and the scene-event relation prior.

Layout (module names in brackets)::

    (B, T, F) log-mel -> (B, 1, T, F)
      -> N shared ConvBlocks                    [shared]
      -> 6 - N ConvBlocks, scene copy          [scene_tower]   -> head [scene_fc1, scene_out]
      -> 6 - N ConvBlocks, event copy          [event_tower]   -> head [event_fc1, event_out]

Block ``i`` (0-based, CNN14's ``conv_block{i+1}``) has ``widths[i]`` channels; it lives in
``shared[i]`` when ``i < N`` and in ``scene_tower[i - N]`` / ``event_tower[i - N]`` otherwise. At
N = 6 both towers are empty and both heads read the shared output; at N = 0 there is no shared
block and each tower starts from the input.

Head (CNN14's): mean over frequency, max + mean over time, dropout 0.5, ``fc1`` D -> D + ReLU (the
D-dim embedding), then the output layer (scene: K logits; event: E logits, sigmoid).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rgasc.errors import ArtefactError
from rgasc.models.blocks import ConvBlock, he_uniform_, pool_head
from rgasc.models.config import CNN14_POOLS, N_BLOCKS, ModelConfig

#: Frames (and mel bands) the network needs: each of the five 2x2 poolings halves them.
MIN_FRAMES = 2 ** sum(1 for p in CNN14_POOLS if p != (1, 1))


class TwoTowerOutput(NamedTuple):
    """What :class:`RGASC` returns (B clips, K scenes, E events, D embedding dim)."""

    scene_logits: Tensor  # (B, K), pre-softmax
    event_logits: Tensor  # (B, E), pre-sigmoid
    event_probs: Tensor  # (B, E), sigmoid(event_logits)
    scene_embedding: Tensor  # (B, D), ReLU(scene_fc1(pooled))
    event_embedding: Tensor  # (B, D), ReLU(event_fc1(pooled))


def _blocks(widths: tuple[int, ...], start: int, stop: int) -> nn.ModuleList:
    """ConvBlocks ``start..stop-1`` (0-based) of the CNN14 stack at the given widths."""
    cins = (1, *widths[:-1])
    return nn.ModuleList(ConvBlock(cins[i], widths[i], CNN14_POOLS[i]) for i in range(start, stop))


class RGASC(nn.Module):
    """Two-tower scene/event network.

    ``forward(x)``: ``x`` (B, T, F) standardised log-mel, T and F >= 32 ->
    :class:`TwoTowerOutput`. Weights are He-uniform initialised
    (:func:`rgasc.models.blocks.he_uniform_`); :func:`rgasc.models.transfer.init_from_cnn14`
    copies CNN14's weights in instead.
    """

    def __init__(self, cfg: ModelConfig) -> None:
        super().__init__()
        self.cfg = cfg
        w = cfg.widths
        n = cfg.shared_blocks
        d = cfg.embedding_dim
        self.shared = _blocks(w, 0, n)
        self.scene_tower = _blocks(w, n, N_BLOCKS)
        self.event_tower = _blocks(w, n, N_BLOCKS)
        self.scene_fc1 = nn.Linear(d, d)
        self.event_fc1 = nn.Linear(d, d)
        self.scene_out = nn.Linear(d, cfg.n_scenes)
        self.event_out = nn.Linear(d, cfg.n_events)
        # Plain floats so TorchScript sees constants, not the dataclass.
        self.block_dropout: float = float(cfg.block_dropout)
        self.head_dropout: float = float(cfg.head_dropout)

        he_uniform_(self)

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

        s = F.dropout(pool_head(s), p=self.head_dropout, training=self.training)
        scene_embedding = F.relu(self.scene_fc1(s))
        e = F.dropout(pool_head(e), p=self.head_dropout, training=self.training)
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
            ``scene_out``) or ``"event"`` (event tower, ``event_fc1``, ``event_out``).
    """
    modules: dict[str, tuple[nn.Module, ...]] = {
        "shared": (model.shared,),
        "scene": (model.scene_tower, model.scene_fc1, model.scene_out),
        "event": (model.event_tower, model.event_fc1, model.event_out),
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

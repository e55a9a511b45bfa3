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

import dataclasses
from typing import NamedTuple

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rgasc.config import Config
from rgasc.errors import ArtefactError, RgascError
from rgasc.models.blocks import ConvBlock, he_uniform_, pool_head

#: CNN14's block widths; ModelConfig.width scales them.
CNN14_WIDTHS: tuple[int, ...] = (64, 128, 256, 512, 1024, 2048)
#: CNN14's pooling per block: 2x2 for blocks 1-5, none for block 6. Five halvings, so the
#: input needs T >= 32 frames and F >= 32 mel bands.
CNN14_POOLS: tuple[tuple[int, int], ...] = ((2, 2),) * 5 + ((1, 1),)
N_BLOCKS = len(CNN14_WIDTHS)
#: Frames (and mel bands) the network needs: each of the five 2x2 poolings halves them.
MIN_FRAMES = 2 ** sum(1 for p in CNN14_POOLS if p != (1, 1))


@dataclasses.dataclass(frozen=True)
class ModelConfig(Config):
    """Shape of the two-tower model.

    Attributes:
        n_scenes: K, scene classes.
        n_events: E, event labels (the teacher's label space).
        shared_blocks: N in 0..6, leading blocks shared by both towers.
        width: channel multiplier. Block ``i`` has ``max(1, round(64 * 2**i * width))``
            channels (Python's ``round``: halves go to the even integer); width 1 gives CNN14's
            64..2048 and width 1/16 gives 4..128. The embedding dim D is the last width.
        n_mels: F, mel bands the model expects (>= 32; recorded so a checkpoint describes its
            input; the network itself pools any F >= 32).
        block_dropout: dropout after every block.
        head_dropout: dropout on the pooled vector, before ``fc1``.
        learn_relation: make R_SE a learnable, non-negative parameter (see
            :class:`RelationPrior`); the training stage reads this flag, the network ignores it.
    """

    n_scenes: int = 10
    n_events: int = 527
    shared_blocks: int = 2
    width: float = 1.0
    n_mels: int = 64
    block_dropout: float = 0.2
    head_dropout: float = 0.5
    learn_relation: bool = False

    def __post_init__(self) -> None:
        if not 0 <= self.shared_blocks <= N_BLOCKS:
            raise RgascError(
                f"shared_blocks={self.shared_blocks} is out of range: use 0..{N_BLOCKS}"
            )
        if not self.width > 0:
            raise RgascError(f"width={self.width} must be > 0 (1 = CNN14 widths)")
        if self.n_scenes < 1 or self.n_events < 1:
            raise RgascError(
                f"n_scenes={self.n_scenes}, n_events={self.n_events}: both must be >= 1"
            )
        if self.n_mels < 32:
            raise RgascError(f"n_mels={self.n_mels}: the 5 poolings need at least 32 mel bands")
        for name in ("block_dropout", "head_dropout"):
            p = getattr(self, name)
            if not 0.0 <= p < 1.0:
                raise RgascError(f"{name}={p} must be in [0, 1)")

    @property
    def widths(self) -> tuple[int, ...]:
        """Channels of blocks 1..6."""
        return tuple(max(1, round(w * self.width)) for w in CNN14_WIDTHS)

    @property
    def embedding_dim(self) -> int:
        """D: width of the last block, of ``fc1`` and of both embeddings (2048 at width 1)."""
        return self.widths[-1]


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

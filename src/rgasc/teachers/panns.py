"""PANNs CNN14 (Kong et al., 2020) written here, loading the official checkpoints unchanged.

Module and parameter names follow the authors' layout exactly, so
``Cnn14(...).load_state_dict(torch.load(f)["model"], strict=True)`` takes the zenodo files
(record 3987831) as they are. The front-end lives in :mod:`rgasc.teachers.panns_frontend`.

Teachers ``panns-cnn14-16k`` (the paper's) and ``panns-cnn14`` (32 kHz) are registered here;
their weights come from ``checkpoint=PATH`` or a download recorded by sha256 (see
:func:`rgasc.teachers.base.fetch_recorded`).
"""

from __future__ import annotations

import dataclasses
import os
import pickle
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rgasc.errors import TeacherError
from rgasc.models.blocks import ConvBlock, pool_head
from rgasc.models.config import CNN14_POOLS, CNN14_WIDTHS
from rgasc.teachers.audioset import AUDIOSET_CLASSES, audioset_labels
from rgasc.teachers.base import register_teacher, resolve_file
from rgasc.teachers.panns_frontend import LogMel, Spectrogram

ZENODO_URL = "https://zenodo.org/record/3987831/files/{}"
# The body downsamples time by 2 five times, so it needs >= 32 STFT frames; with center=True
# frames = 1 + samples // hop, hence at least 31 hops of audio (4960 samples at 16 kHz).
MIN_HOPS = 31


@dataclasses.dataclass(frozen=True)
class Cnn14Config:
    """A checkpoint's input contract: front-end parameters and its weight file."""

    sample_rate: int
    window_size: int  # = n_fft
    hop_size: int
    mel_bins: int
    fmin: float
    fmax: float
    filename: str  # on zenodo record 3987831

    @property
    def url(self) -> str:
        return ZENODO_URL.format(self.filename.replace("=", "%3D"))

    @property
    def min_samples(self) -> int:
        return MIN_HOPS * self.hop_size

    def model_kwargs(self) -> dict[str, Any]:
        return {
            k: getattr(self, k)
            for k in ("sample_rate", "window_size", "hop_size", "mel_bins", "fmin", "fmax")
        }


CNN14_CONFIGS: dict[str, Cnn14Config] = {
    "panns-cnn14-16k": Cnn14Config(16000, 512, 160, 64, 50.0, 8000.0, "Cnn14_16k_mAP=0.438.pth"),
    "panns-cnn14": Cnn14Config(32000, 1024, 320, 64, 50.0, 14000.0, "Cnn14_mAP=0.431.pth"),
}


class Cnn14(nn.Module):
    """CNN14 with its front-end; state-dict keys and shapes are the official ones.

    Forward (batch, samples) float32 waveform in [-1, 1] at ``sample_rate`` -> dict with
    ``clipwise_output`` (batch, classes_num) sigmoid probabilities and ``embedding``
    (batch, 2048). Inputs shorter than 31 hops are zero-padded at the end.
    """

    def __init__(
        self,
        sample_rate: int,
        window_size: int,
        hop_size: int,
        mel_bins: int,
        fmin: float,
        fmax: float,
        classes_num: int = AUDIOSET_CLASSES,
    ) -> None:
        super().__init__()
        self.min_samples = MIN_HOPS * hop_size
        self.spectrogram_extractor = Spectrogram(window_size, hop_size)
        self.logmel_extractor = LogMel(sample_rate, window_size, mel_bins, fmin, fmax)
        self.bn0 = nn.BatchNorm2d(mel_bins)
        c_in = 1
        # The blocks are rgasc.models' (same conv1/bn1/conv2/bn2 names as PANNs): an official
        # ``conv_blockK`` loads into them unchanged, and the RGASC towers copy them key by key.
        for k, (c, pool) in enumerate(zip(CNN14_WIDTHS, CNN14_POOLS, strict=True), start=1):
            setattr(self, f"conv_block{k}", ConvBlock(c_in, c, pool))
            c_in = c
        self.fc1 = nn.Linear(2048, 2048)
        self.fc_audioset = nn.Linear(2048, classes_num)

    def logmel(self, waveform: torch.Tensor) -> torch.Tensor:
        """(B, samples) -> normalised log-mel (B, 1, frames, mel_bins), frames >= 32."""
        if waveform.shape[-1] < self.min_samples:
            waveform = F.pad(waveform, (0, self.min_samples - waveform.shape[-1]))
        x = self.logmel_extractor(self.spectrogram_extractor(waveform))
        # bn0 normalises each mel bin: put mel on the channel axis and back
        return self.bn0(x.transpose(1, 3)).transpose(1, 3)

    def body(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1, frames, mel) -> (B, 2048, frames / 32, mel / 32)."""
        for k in range(1, 7):
            block: ConvBlock = getattr(self, f"conv_block{k}")
            x = F.dropout(block(x), p=0.2, training=self.training)
        return x

    def head(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """(B, 2048, T', F') -> clipwise_output (B, classes), embedding (B, 2048)."""
        x = F.dropout(pool_head(x), p=0.5, training=self.training)
        x = F.relu(self.fc1(x))
        embedding = F.dropout(x, p=0.5, training=self.training)
        return {
            "clipwise_output": torch.sigmoid(self.fc_audioset(embedding)),
            "embedding": embedding,
        }

    def forward(self, waveform: torch.Tensor) -> dict[str, torch.Tensor]:
        return self.head(self.body(self.logmel(waveform)))


# --- checkpoints ------------------------------------------------------------------------------
def load_state_dict_file(path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """The ``model`` state dict of an official PANNs file, or a plain state-dict file.

    The official files also hold optimizer and sampler state pickled with numpy objects,
    which ``torch.load(weights_only=True)`` refuses on torch >= 2.6. Such a file is then
    unpickled in full: call this only on a file you trust (a download verified against its
    recorded sha256, or one you passed yourself). Only the weights are kept.
    """
    path = Path(path)
    try:
        obj = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        obj = torch.load(path, map_location="cpu", weights_only=False)
    except (RuntimeError, EOFError, OSError) as e:
        raise TeacherError(f"{path}: not a torch checkpoint ({e})") from e
    state = obj.get("model", obj) if isinstance(obj, Mapping) else None
    if not isinstance(state, Mapping) or not all(
        isinstance(v, torch.Tensor) for v in state.values()
    ):
        raise TeacherError(
            f"{path}: expected a PANNs checkpoint (a dict whose 'model' entry is a state dict) "
            "or a plain state dict"
        )
    return dict(state)


def load_cnn14(name: str, checkpoint: str | os.PathLike[str] | None = None) -> tuple[Cnn14, str]:
    """Build the CNN14 variant ``name`` and load its weights strictly.

    Returns:
        (model in eval mode, sha256 of the weight file).

    Raises:
        TeacherError: unknown variant, offline without ``checkpoint``, or a file whose keys or
            shapes are not this variant's.
    """
    cfg = CNN14_CONFIGS[name]
    hint = (
        f"pass `--checkpoint PATH` (Python: checkpoint=PATH) with {cfg.filename}, "
        f"downloadable from {cfg.url}"
    )
    path, sha = resolve_file(checkpoint, cfg.url, cfg.filename, hint)
    state = load_state_dict_file(path)
    # built on the meta device and given the file's tensors (assign): no 80 M-parameter
    # random init that the checkpoint would overwrite anyway
    with torch.device("meta"):
        model = Cnn14(**cfg.model_kwargs())
    try:
        model.load_state_dict(state, strict=True, assign=True)
    except RuntimeError as e:
        raise TeacherError(
            f"{path}: does not fit {name} ({cfg.sample_rate} Hz, n_fft {cfg.window_size}); is "
            f"it the other CNN14 variant? {str(e)[:400]}"
        ) from e
    return model.eval(), sha


def cnn14_block_state(ckpt_path: str | os.PathLike[str]) -> dict[str, torch.Tensor]:
    """The conv_block1..6 (convs and BNs) and fc1 tensors of a CNN14 checkpoint.

    Keys as in the checkpoint (``conv_block1.conv1.weight``, ``conv_block3.bn2.running_mean``,
    ``fc1.weight``...): the RGASC towers share those shapes, so they can start from them.
    """
    state = load_state_dict_file(ckpt_path)
    keep = {k: v for k, v in state.items() if k.startswith(("conv_block", "fc1."))}
    if not any(k.startswith("conv_block6.") for k in keep):
        raise TeacherError(f"{ckpt_path}: no conv_block1..6 weights; not a CNN14 checkpoint")
    return keep


# --- the teacher --------------------------------------------------------------------------------
class PannsTeacher:
    """CNN14 as a :class:`~rgasc.teachers.Teacher`: AudioSet probabilities and embeddings.

    Runs under ``torch.inference_mode`` and, on CPU, in ``channels_last`` memory format
    (faster oneDNN convolutions; same numbers to float rounding).
    """

    def __init__(
        self,
        name: str,
        model: Cnn14,
        labels: list[str],
        mids: list[str] | None,
        checkpoint_sha256: str | None,
    ) -> None:
        self.name = name
        self.model = model.eval()
        self.sample_rate = CNN14_CONFIGS[name].sample_rate if name in CNN14_CONFIGS else 0
        self.labels = labels
        self.mids = mids
        self.checkpoint_sha256 = checkpoint_sha256
        self.device = torch.device("cpu")
        self.channels_last = True

    def to(self, device: str) -> PannsTeacher:
        dev = torch.device(device)
        if dev.type == "cuda" and not torch.cuda.is_available():
            raise TeacherError(f"device {device!r} asked for, but torch sees no CUDA device")
        self.model.to(dev)
        self.device = dev
        return self

    @torch.inference_mode()
    def tag_and_embed(self, waveforms: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(B, samples) -> probabilities (B, 527) and embeddings (B, 2048), float32."""
        x = torch.as_tensor(np.asarray(waveforms, dtype=np.float32), device=self.device)
        if x.ndim == 1:
            x = x[None]
        mel = self.model.logmel(x)
        if self.channels_last:
            mel = mel.contiguous(memory_format=torch.channels_last)
        out = self.model.head(self.model.body(mel))
        return (
            out["clipwise_output"].float().cpu().numpy(),
            out["embedding"].float().cpu().numpy(),
        )

    def tag(self, waveforms: np.ndarray) -> np.ndarray:
        return self.tag_and_embed(waveforms)[0]

    def embed(self, waveforms: np.ndarray) -> np.ndarray | None:
        return self.tag_and_embed(waveforms)[1]


def _factory(name: str) -> Any:
    def build(
        checkpoint: str | os.PathLike[str] | None = None,
        labels: str | os.PathLike[str] | None = None,
        device: str = "cpu",
    ) -> PannsTeacher:
        # labels first: a small file, so an offline user learns about both missing files
        # before waiting on a 340 MB download
        mids, names = audioset_labels(labels)
        model, sha = load_cnn14(name, checkpoint)
        if model.fc_audioset.out_features != len(names):
            raise TeacherError(
                f"{name}: {model.fc_audioset.out_features} outputs but {len(names)} labels"
            )
        return PannsTeacher(name, model, names, mids, sha).to(device)

    build.__doc__ = f"Teacher {name!r}: CNN14 {CNN14_CONFIGS[name]}."
    return build


for _name in CNN14_CONFIGS:
    register_teacher(_name)(_factory(_name))

"""Self-describing model checkpoints: everything needed to rebuild and use a trained model.

A checkpoint (``RUN/checkpoints/best.pt``) is a plain dict of tensors and primitives, so it
loads with ``torch.load(path, weights_only=True)`` (no pickled classes, no code executed)::

    format          "rgasc-model/1"
    versions        {"rgasc": ..., "torch": ..., "numpy": ..., "lightning": ...}
    model_config    ModelConfig.to_dict()   (K scenes, E events, shared blocks, width...)
    feature_config  FeatureConfig.to_dict() (the front-end its inputs must come from)
    scenes, events  label names (K and E strings, class/column order)
    relation        float32 tensor [K, E]: R_SE (the learned one with --learn-relation)
    norm_mean/std   float32 tensors [n_mels]: the training split's per-band statistics
    state_dict      the RGASC network's weights
    extra           provenance: epoch, selection split, run config, metrics...

Loading never needs the original command line (whisper stores its dimensions the same way).
"""

from __future__ import annotations

import dataclasses
import enum
import os
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from rgasc.artefacts import BEST_MODEL
from rgasc.errors import ArtefactError
from rgasc.features import FeatureConfig
from rgasc.models import RGASC, ModelConfig
from rgasc.utils import atomic_path, installed_versions, package_versions

FORMAT = "rgasc-model/1"
#: Where a run folder keeps its exported model.
BEST = BEST_MODEL


@dataclasses.dataclass
class ModelInfo:
    """Everything a checkpoint says about its model, besides the weights.

    Attributes:
        model_config: rebuilds the network. feature_config: the front-end of its input.
        scenes: K class names; events: E event names (the event layer's columns).
        relation: float32 [K, E] R_SE. norm_mean, norm_std: float32 [n_mels].
        extra: provenance (epoch, selection split, run config...). versions: packages that
            wrote it. path: the file read.
    """

    model_config: ModelConfig
    feature_config: FeatureConfig
    scenes: list[str]
    events: list[str]
    relation: np.ndarray
    norm_mean: np.ndarray
    norm_std: np.ndarray
    extra: dict[str, Any]
    versions: dict[str, str]
    path: Path


def _plain(value: Any, where: str) -> Any:
    """``value`` as tensors/primitives only, so the file loads with ``weights_only=True``."""
    if isinstance(value, enum.Enum):  # a config choice: the unpickler knows no enum class
        return _plain(value.value, where)
    if value is None or isinstance(value, bool | int | float | str):
        return value
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return torch.from_numpy(np.ascontiguousarray(value)).clone()
    if isinstance(value, torch.Tensor):
        return value.detach().cpu().clone()
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, Mapping):
        return {str(k): _plain(v, f"{where}.{k}") for k, v in value.items()}
    if isinstance(value, Sequence):
        return [_plain(v, f"{where}[]") for v in value]
    raise TypeError(f"{where}: {type(value).__name__} cannot go into a weights-only checkpoint")


def _f32(x: np.ndarray | torch.Tensor) -> torch.Tensor:
    """A contiguous float32 CPU copy (the checkpoint must not share memory with training)."""
    if isinstance(x, torch.Tensor):
        return x.detach().to("cpu", torch.float32).contiguous().clone()
    return torch.from_numpy(np.array(x, dtype=np.float32, copy=True))


def _unwrap(model: nn.Module) -> nn.Module:
    # torch.compile wraps the module; its state_dict keys carry an "_orig_mod." prefix
    return getattr(model, "_orig_mod", model)


def save_model(
    path: str | os.PathLike[str],
    model: nn.Module,
    *,
    model_config: ModelConfig,
    feature_config: FeatureConfig,
    scenes: Sequence[str],
    events: Sequence[str],
    relation: np.ndarray | torch.Tensor,
    norm_mean: np.ndarray | torch.Tensor,
    norm_std: np.ndarray | torch.Tensor,
    extra: Mapping[str, Any] | None = None,
) -> Path:
    """Write a self-describing checkpoint atomically; returns its path.

    Args:
        model: the RGASC network (possibly ``torch.compile``-d); its weights go to CPU.
        relation: [K, E]; norm_mean, norm_std: [n_mels].
        extra: JSON-like provenance (dicts, lists, numbers, strings, arrays/tensors).

    Raises:
        ArtefactError: the label names or R do not match the model's shape.
    """
    k, e = model_config.n_scenes, model_config.n_events
    rel = _f32(relation)
    if len(scenes) != k or len(events) != e or tuple(rel.shape) != (k, e):
        raise ArtefactError(
            f"{path}: model has {k} scenes x {e} events, got {len(scenes)} scene names, "
            f"{len(events)} event names and a relation of shape {tuple(rel.shape)}"
        )
    # str(): torch.__version__ is a TorchVersion, a class weights_only loading refuses
    versions = {k: str(v) for k, v in package_versions().items()}
    versions.update(installed_versions(("lightning",)))  # read from its metadata, not imported
    state = {k_: v.detach().cpu().clone() for k_, v in _unwrap(model).state_dict().items()}
    payload = {
        "format": FORMAT,
        "versions": versions,
        "model_config": model_config.to_dict(),
        "feature_config": feature_config.to_dict(),
        "scenes": [str(s) for s in scenes],
        "events": [str(x) for x in events],
        "relation": rel,
        "norm_mean": _f32(norm_mean),
        "norm_std": _f32(norm_std),
        "state_dict": state,
        "extra": _plain(dict(extra or {}), "extra"),
    }
    path = Path(path)
    with atomic_path(path) as tmp:
        torch.save(payload, tmp)
    return path


def resolve_checkpoint(path_or_run_dir: str | os.PathLike[str]) -> Path:
    """A checkpoint file, or a run folder -> its ``checkpoints/best.pt``."""
    p = Path(path_or_run_dir)
    if p.is_dir():
        p = p / BEST
        if not p.is_file():
            raise ArtefactError(
                f"{p}: missing; the run has not finished (resume it with `rgasc train --out "
                f"{path_or_run_dir} --resume`) or the folder is not an rgasc run"
            )
    elif not p.is_file():
        raise ArtefactError(f"{p}: no such checkpoint file or run folder")
    return p


#: The first bytes of the zip container ``torch.save`` writes (PyTorch >= 1.6).
ZIP_MAGIC = b"PK\x03\x04"
#: The first byte of a pickle of protocol 2 or later (PyTorch's legacy format, raw pickles).
PICKLE_MAGIC = b"\x80"


def damage(path: Path) -> str | None:
    """Why ``path`` cannot be a whole checkpoint (empty, cut short, not a PyTorch file), or
    None when it is a whole PyTorch file that holds something else than an rgasc model.

    Asked after ``torch.load`` failed, whose own message is never quoted: it is cut
    mid-sentence, or advises ``weights_only=False``, which rgasc never does.
    """
    import zipfile

    size = path.stat().st_size
    if size == 0:
        return "an empty file"
    with open(path, "rb") as f:
        head = f.read(len(ZIP_MAGIC))
    if head == ZIP_MAGIC:
        if not zipfile.is_zipfile(path):  # the central directory is at the end: cut short
            return f"its zip archive ends early, at {size} bytes"
        try:
            with zipfile.ZipFile(path) as z:
                broken = z.testzip()
        except (zipfile.BadZipFile, OSError, EOFError) as e:
            return f"its zip archive is unreadable: {type(e).__name__}"
        return None if broken is None else f"member {broken} fails its checksum"
    if head.startswith(PICKLE_MAGIC):
        # a whole pickle of foreign objects is refused as such; a torn one is damage
        return None if _whole_pickle(path) else "its pickle ends early or is garbled"
    return f"not a PyTorch file: it starts with {head!r}"


def _whole_pickle(path: Path) -> bool:
    """True when ``path`` starts with one complete pickle. pickletools only parses the
    opcodes: nothing is built, no code runs."""
    import pickletools

    try:
        with open(path, "rb") as f:
            for _ in pickletools.genops(f):
                pass
    except Exception:  # any parse failure (ValueError, EOF...) means a torn or bad pickle
        return False
    return True


def read_checkpoint(path_or_run_dir: str | os.PathLike[str]) -> tuple[dict[str, Any], Path]:
    """The raw checkpoint dict (weights-only load) and the file it came from.

    Raises:
        ArtefactError: missing file; "damaged or truncated checkpoint" for a file cut short or
            that is not a PyTorch file; "not an rgasc model checkpoint" for a whole file that
            holds something else (a Lightning .ckpt, pickled objects, another format).
    """
    p = resolve_checkpoint(path_or_run_dir)
    try:
        payload = torch.load(p, map_location="cpu", weights_only=True)
    except Exception as e:  # unpickling errors have many types; all mean "not ours"
        reason = damage(p)
        if reason is not None:
            raise ArtefactError(
                f"{p}: damaged or truncated checkpoint ({reason}); copy it again"
            ) from e
        hint = (
            " (a Lightning .ckpt: use the run's checkpoints/best.pt instead)"
            if p.suffix == ".ckpt"
            else ""
        )
        raise ArtefactError(
            f"{p}: not an rgasc model checkpoint{hint}; it holds Python objects that a "
            "weights-only load never runs; use RUN/checkpoints/best.pt written by `rgasc train`"
        ) from e
    if not isinstance(payload, dict) or payload.get("format") != FORMAT:
        found = payload.get("format") if isinstance(payload, dict) else type(payload).__name__
        raise ArtefactError(
            f"{p}: not an rgasc model checkpoint (format {found!r}, expected {FORMAT!r}); "
            "use RUN/checkpoints/best.pt written by `rgasc train`"
        )
    return payload, p


def load_model(
    path_or_run_dir: str | os.PathLike[str], device: str | torch.device = "cpu"
) -> tuple[RGASC, ModelInfo]:
    """Rebuild a trained model from its checkpoint (or a run folder's ``best.pt``).

    Returns:
        (the RGASC network in eval mode on ``device``, its :class:`ModelInfo`).

    Raises:
        ArtefactError: missing file, not an rgasc checkpoint, or weights that do not fit.
    """
    payload, p = read_checkpoint(path_or_run_dir)
    try:
        model_cfg = ModelConfig.from_dict(payload["model_config"])
        feature_cfg = FeatureConfig.from_dict(payload["feature_config"])
        model = RGASC(model_cfg)
        model.load_state_dict(payload["state_dict"])
    except (KeyError, ValueError, TypeError, RuntimeError) as e:
        raise ArtefactError(
            f"{p}: checkpoint does not rebuild its model ({type(e).__name__}: {str(e)[:300]}); "
            "was it written by another rgasc version? Versions: "
            f"{payload.get('versions')}"
        ) from e
    info = ModelInfo(
        model_config=model_cfg,
        feature_config=feature_cfg,
        scenes=list(payload["scenes"]),
        events=list(payload["events"]),
        relation=payload["relation"].numpy().astype(np.float32),
        norm_mean=payload["norm_mean"].numpy().astype(np.float32),
        norm_std=payload["norm_std"].numpy().astype(np.float32),
        extra=dict(payload.get("extra", {})),
        versions=dict(payload.get("versions", {})),
        path=p,
    )
    return model.to(device).eval(), info

"""The per-clip outputs a page needs and a run may lack, made with the existing stages.

``rgasc evaluate`` writes each clip's scene probabilities (``predictions.csv``) but not the
event tower's outputs, so those are predicted once with the run's ``best.pt``
(:func:`rgasc.scoring.score.predict_arrays`, as evaluate does) and kept in the report folder,
keyed by the checkpoint's hash and the clip list. A split that was never evaluated is
evaluated first (:func:`rgasc.evaluate.run.evaluate_run`). Each of these says so in one line.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rgasc.artefacts import METRICS_FILE, eval_dir
from rgasc.errors import ArtefactError, LabelSpaceError, RgascError
from rgasc.report.sources import PREDICTIONS_FILE
from rgasc.utils import atomic_path, file_hash, text_hash

Log = Callable[[str], None]


@dataclasses.dataclass(frozen=True)
class ModelSummary:
    """What the report needs from ``best.pt``: K scenes, E events, R_SE [K, E], the length of
    audio the model hears (s), the checkpoint file."""

    scenes: list[str]
    events: list[str]
    relation: np.ndarray
    clip_seconds: float | None
    path: Path


def read_model_summary(run: Path) -> ModelSummary:
    """Scenes, events and R_SE of a run's ``checkpoints/best.pt`` (weights-only load).

    Raises:
        ArtefactError: no best.pt (names the file and the fix), or not an rgasc checkpoint.
    """
    from rgasc.models.checkpoint import read_checkpoint

    payload, path = read_checkpoint(run)
    try:
        relation = np.asarray(payload["relation"].numpy(), dtype=np.float64)
        seconds = (payload.get("feature_config") or {}).get("clip_seconds")
        return ModelSummary(
            [str(s) for s in payload["scenes"]],
            [str(e) for e in payload["events"]],
            relation,
            float(seconds) if seconds else None,
            path,
        )
    except (KeyError, AttributeError, TypeError) as e:
        raise ArtefactError(f"{path}: incomplete checkpoint ({e}); re-run the training") from e


def ensure_evaluated(run: Path, split: str, log: Log, device: str | None = None) -> None:
    """Evaluate ``split`` when the run lacks ``eval_SPLIT/metrics.json`` or its predictions."""
    d = eval_dir(run, split)
    missing = [name for name in (METRICS_FILE, PREDICTIONS_FILE) if not (d / name).is_file()]
    if not missing:
        return
    from rgasc.evaluate.run import evaluate_run

    log(f"{d / missing[0]}: missing; evaluating {run} on the {split} split first")
    evaluate_run(run, split, device=device)


def _cached(path: Path, key: str) -> np.ndarray | None:
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as z:
            return np.asarray(z["probs"]) if str(z["key"]) == key else None
    except (OSError, ValueError, KeyError):
        return None  # an unreadable cache is remade


def event_tower(
    run: Path,
    data: Mapping[str, Any],
    names: Sequence[str],
    cache_file: Path,
    log: Log,
    *,
    device: str | None = None,
    batch_size: int = 64,
) -> np.ndarray | None:
    """The event tower's probabilities [N, E] for ``names``, or None when they cannot be made
    (the feature cache moved: one log line says so, and the page falls back on the teacher).

    Args:
        data: the run's ``train.data`` (where its feature cache is).
        cache_file: where the outputs are kept between builds (``.npz``).
    """
    import torch

    from rgasc.features import open_cache
    from rgasc.models.checkpoint import load_model, resolve_checkpoint
    from rgasc.scoring.score import predict_arrays

    ckpt = resolve_checkpoint(run)
    key = text_hash(file_hash(ckpt), "\n".join(names))
    probs = _cached(cache_file, key)
    if probs is not None:
        return probs
    dev = device or ("cuda" if torch.cuda.is_available() else "cpu")
    try:
        model, info = load_model(ckpt, device=dev)
        cache = open_cache(data["features"], cfg=info.feature_config)
        rows = cache.index(names, allow_bad=True)
    except (RgascError, KeyError) as e:
        log(f"no event tower outputs on the page: {e}")
        return None
    log(
        f"{run} keeps no per-clip event tower outputs: predicting its {len(names)} clips "
        f"with {ckpt}"
    )
    _, probs, _ = predict_arrays(model, cache, rows, info.norm_mean, info.norm_std, batch_size, dev)
    with atomic_path(cache_file) as tmp, open(tmp, "wb") as f:
        np.savez(f, key=np.asarray(key), probs=probs)
    return probs


def check_same_scenes(where: Path, scenes: Sequence[str], expected: Sequence[str]) -> None:
    """Raise LabelSpaceError when two artefacts name other scenes (or another order)."""
    if list(scenes) != list(expected):
        raise LabelSpaceError(
            f"{where}: scenes {list(scenes)} differ from {list(expected)}; compare runs "
            "trained on the same dataset"
        )

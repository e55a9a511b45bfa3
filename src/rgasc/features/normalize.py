"""Per-mel-band standardisation: statistics streamed over a clip subset, and their use."""

from __future__ import annotations

from typing import Any, TypeVar

import numpy as np

EPS = 1e-8  # floor on std so a constant band (e.g. above a low-pass) does not divide by zero
T = TypeVar("T")


def band_stats(features: Any, rows: np.ndarray, chunk: int = 256) -> tuple[np.ndarray, np.ndarray]:
    """Mean and std of every mel band over all frames of the given rows.

    Streams ``chunk`` clips at a time (rows read in ascending order, friendly to a memmap),
    accumulating in float64, so memory does not grow with the number of clips.

    Args:
        features: array-like (clips, frames, n_mels).
        rows: int indices of the clips to use.

    Returns:
        (mean [n_mels], std [n_mels]) float32; std is the population std over (clip, frame).
    """
    rows = np.sort(np.asarray(rows, dtype=np.int64))
    if rows.size == 0:
        raise ValueError("normalisation statistics need at least one clip")
    n_mels = features.shape[-1]
    total = np.zeros(n_mels, np.float64)
    # shift by the first clip's band means so the sum of squares does not lose precision
    shift = np.asarray(features[int(rows[0])], np.float64).mean(axis=0)
    sq = np.zeros(n_mels, np.float64)
    count = 0
    for start in range(0, rows.size, chunk):
        block = np.asarray(features[rows[start : start + chunk]], np.float64) - shift
        block = block.reshape(-1, n_mels)
        total += block.sum(axis=0)
        sq += np.square(block).sum(axis=0)
        count += block.shape[0]
    mean_shifted = total / count
    var = np.maximum(sq / count - mean_shifted**2, 0.0)
    return (mean_shifted + shift).astype(np.float32), np.sqrt(var).astype(np.float32)


def normalize(x: T, mean: Any, std: Any, eps: float = EPS) -> T:
    """(x - mean) / max(std, eps), broadcast over the last (mel) axis.

    Works on numpy arrays and torch tensors of shape (..., n_mels); the result has x's type.
    """
    if isinstance(x, np.ndarray):
        m = np.asarray(mean, dtype=x.dtype)
        s = np.maximum(np.asarray(std, dtype=x.dtype), eps)
        return (x - m) / s  # type: ignore[return-value]
    import torch

    if isinstance(x, torch.Tensor):
        m_t = torch.as_tensor(mean, dtype=x.dtype, device=x.device)
        s_t = torch.as_tensor(std, dtype=x.dtype, device=x.device).clamp_min(eps)
        return (x - m_t) / s_t  # type: ignore[return-value]
    raise TypeError(f"normalize expects a numpy array or torch tensor, got {type(x).__name__}")

"""Log-mel features: the paper's front-end and an on-disk cache keyed by what made it.

- :class:`FeatureConfig`, :func:`logmel` (numpy), :class:`LogMel` (batched ``nn.Module``),
  :func:`mel_filterbank`: the front-end (``rgasc.features.logmel`` / ``.module``).
- :func:`compute_features` and :func:`open_cache` -> :class:`FeatureCache`: the cache
  (``rgasc.features.compute`` / ``.cache``); :func:`normalize` applies per-band statistics.

``LogMel`` is imported on first use, so decoding workers that only need numpy never load torch.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rgasc.features.cache import FeatureCache, export_npz, open_cache
from rgasc.features.compute import cache_key, compute_features, files_digest
from rgasc.features.logmel import (
    CLIP_SECONDS,
    FMAX,
    FMIN,
    HOP_LENGTH,
    LOG_OFFSET,
    N_FFT,
    N_FRAMES,
    N_MELS,
    N_SAMPLES,
    OVERLAP,
    SAMPLE_RATE,
    FeatureConfig,
    logmel,
    mel_filterbank,
)
from rgasc.features.normalize import band_stats, normalize

if TYPE_CHECKING:
    from rgasc.features.module import LogMel

__all__ = [
    "CLIP_SECONDS",
    "FMAX",
    "FMIN",
    "HOP_LENGTH",
    "LOG_OFFSET",
    "N_FFT",
    "N_FRAMES",
    "N_MELS",
    "N_SAMPLES",
    "OVERLAP",
    "SAMPLE_RATE",
    "FeatureCache",
    "FeatureConfig",
    "LogMel",
    "band_stats",
    "cache_key",
    "compute_features",
    "export_npz",
    "files_digest",
    "logmel",
    "mel_filterbank",
    "normalize",
    "open_cache",
]


def __getattr__(name: str) -> Any:
    if name == "LogMel":
        from rgasc.features.module import LogMel

        return LogMel
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

"""Training: config, data module, Lightning module and the ``train`` runner.

``TrainConfig`` (the config tree, :mod:`rgasc.train.config`) imports without torch or
Lightning; everything else is loaded on first use, so reading a run's config (e.g. in
``rgasc evaluate``) and building the CLI stay light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rgasc.train.config import TrainConfig, load_run_config, make_config

if TYPE_CHECKING:
    from rgasc.train.data import ClipDataset, RGASCDataModule
    from rgasc.train.module import RGASCModule
    from rgasc.train.runner import resume, train

__all__ = [
    "ClipDataset",
    "RGASCDataModule",
    "RGASCModule",
    "TrainConfig",
    "load_run_config",
    "make_config",
    "resume",
    "train",
]

_LAZY = {
    "ClipDataset": "rgasc.train.data",
    "RGASCDataModule": "rgasc.train.data",
    "RGASCModule": "rgasc.train.module",
    "resume": "rgasc.train.runner",
    "train": "rgasc.train.runner",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

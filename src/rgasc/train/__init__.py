"""Training, by concern::

    config/       the config tree, recipes, averaging and selection sections, CLI options
    algorithms/   losses, augmentation, lr schedule, weight averaging, selection rules
    loop/         Lightning: data module, LightningModule, callbacks, session, log
    runner.py     ``train(cfg)``: one run folder from the earlier stages' artefacts

``TrainConfig`` (the config tree, :mod:`rgasc.train.config.tree`) imports without torch or
Lightning; everything else is loaded on first use, so reading a run's config (e.g. in
``rgasc evaluate``) and building the CLI stay light.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from rgasc.train.config.tree import TrainConfig, load_run_config, make_config

if TYPE_CHECKING:
    from rgasc.train.loop.data import ClipDataset, RGASCDataModule
    from rgasc.train.loop.module import RGASCModule
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
    "ClipDataset": "rgasc.train.loop.data",
    "RGASCDataModule": "rgasc.train.loop.data",
    "RGASCModule": "rgasc.train.loop.module",
    "resume": "rgasc.train.runner",
    "train": "rgasc.train.runner",
}


def __getattr__(name: str) -> Any:
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

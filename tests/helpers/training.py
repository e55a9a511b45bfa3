"""Tiny training inputs for the train, checkpoint and evaluate tests.

A 3-scene DCASE-layout dataset (tests/helpers/dcase.py), a 16-kHz log-mel cache (61 frames x 64
bands, enough for the model's five poolings), hand-made pseudo-labels over 5 events that follow
the scene, and R_SE computed from them on the training split.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from helpers.dcase import make_dcase
from rgasc.data.datasets import DcaseDataset
from rgasc.features import FeatureConfig, compute_features
from rgasc.labels.files import PseudoLabels, write_labels
from rgasc.relation import compute_relation, save_relation

EVENTS = ["Speech", "Vehicle", "Bird", "Music", "Wind"]
#: 1 s at 16 kHz, hop 256: (16000 - 256) // 256 = 61 frames.
TINY_FEATURES = FeatureConfig(
    sample_rate=16000,
    n_fft=512,
    hop_length=256,
    n_mels=64,
    fmin=50.0,
    fmax=8000.0,
    clip_seconds=1.0,
)


@dataclasses.dataclass
class TinyInputs:
    dataset: Path
    features: Path
    labels: Path
    relation: Path


def make_labels(ds: DcaseDataset, events: list[str], seed: int = 0) -> PseudoLabels:
    """Event k is likely in scene k (mod E): soft targets the event tower can learn."""
    rng = np.random.default_rng(seed)
    probs = rng.uniform(0.0, 0.2, size=(len(ds.clips), len(events)))
    for i, c in enumerate(ds.clips):
        probs[i, ds.scene_index(c.scene) % len(events)] = rng.uniform(0.6, 1.0)
    return PseudoLabels(
        [c.filename for c in ds.clips], probs.astype(np.float32), events, {"teacher": "hand-made"}
    )


def make_inputs(root: Path, clips_per_location: int = 2) -> TinyInputs:
    """Dataset (36 clips: 18 train / 6 val / 12 test), cache, labels and R_SE under root.

    ``clips_per_location=3``: 54 clips, 27 train / 9 val / 18 test (an odd validation split).
    """
    ds_root = make_dcase(root / "ds", locations_per_city=3, clips_per_location=clips_per_location)
    ds = DcaseDataset(ds_root)
    compute_features(ds, root / "feat", TINY_FEATURES, progress=False)
    labels = root / "labels.h5"
    write_labels(labels, make_labels(ds, EVENTS))
    save_relation(root / "rel", compute_relation(ds, labels))
    return TinyInputs(ds_root, root / "feat", labels, root / "rel")


def tiny_config(inputs: TinyInputs, out: Path, changes: Mapping[str, Any] | None = None):
    """A 2-epoch, width-1/16 TrainConfig without progress bar/summary/sanity steps.

    ``changes``: dotted keys applied last (``{"optim.epochs": 3}``).
    """
    from rgasc.train.config.tree import make_config

    return make_config(
        {
            "data.dataset": inputs.dataset,
            "data.features": inputs.features,
            "data.labels": inputs.labels,
            "data.relation": inputs.relation,
            "out": out,
            "optim.epochs": 2,
            "optim.batch_size": 8,
            "model.width": 1 / 16,
            "runtime.progress_bar": False,
            "runtime.model_summary": False,
            "runtime.sanity_val_steps": 0,
            "runtime.log_every_n_steps": 1,
            "runtime.accelerator": "cpu",
            "runtime.devices": "1",
            "runtime.eval_batch_size": 16,
            **(changes or {}),
        }
    )

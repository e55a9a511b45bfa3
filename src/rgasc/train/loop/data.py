"""Training data: clips read lazily from the feature cache, with scene ids and pseudo-labels.

:class:`RGASCDataModule` joins the three artefacts of the earlier stages (feature cache,
pseudo-labels, relation matrix R_SE) on the dataset's split and refuses to train when they
disagree on clips, scenes or event labels: a mismatch would otherwise train silently on
misaligned targets.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from torch.utils.data import DataLoader, Dataset

from rgasc.data.datasets import Clip, DcaseDataset, device_sort_key
from rgasc.distributed import unpadded_sampler
from rgasc.errors import ArtefactError, LabelSpaceError, RgascWarning
from rgasc.features import FeatureCache, open_cache
from rgasc.features.normalize import EPS
from rgasc.inputs import check_inputs, relation_fix
from rgasc.labels.files import PseudoLabels, read_labels
from rgasc.models.backbones import get_backbone
from rgasc.models.two_tower import MIN_FRAMES
from rgasc.relation import Relation, load_relation
from rgasc.train.config.tree import DataConfig, TrainConfig
from rgasc.train.loop.reproducible import EpochClock, EpochRandomSampler, loader_generator

#: Frames and mel bands the model needs: five 2x2 poolings.
SPLITS = ("train", "val", "test")


class ClipDataset(Dataset[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]):
    """Standardised log-mel clips with their targets.

    Args:
        features: (clips, T, F) array-like, typically the cache's numpy memmap: only the rows
            asked for are read, so memory does not grow with the dataset.
        rows: int [N] rows of ``features`` that make this split.
        mean, std: float32 [F] per-band statistics of the training split.
        scene_ids: int [N] scene class ids; event_targets: float32 [N, E] pseudo-labels.

    Item ``i``: (x float32 [T, F], scene id int64 [], event target float32 [E]).
    """

    def __init__(
        self,
        features: Any,
        rows: np.ndarray,
        mean: np.ndarray,
        std: np.ndarray,
        scene_ids: np.ndarray,
        event_targets: np.ndarray,
    ) -> None:
        self.features = features
        self.rows = np.asarray(rows, dtype=np.int64)
        self.mean = np.asarray(mean, dtype=np.float32)
        self.inv_std = 1.0 / np.maximum(np.asarray(std, dtype=np.float32), EPS)
        self.scene_ids = torch.as_tensor(np.asarray(scene_ids, dtype=np.int64))
        self.event_targets = torch.as_tensor(np.asarray(event_targets, dtype=np.float32))
        n = len(self.rows)
        if len(self.scene_ids) != n or len(self.event_targets) != n:
            raise ValueError(
                f"{n} rows, {len(self.scene_ids)} scene ids, {len(self.event_targets)} targets"
            )

    def __len__(self) -> int:
        return len(self.rows)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        x = np.asarray(self._read_row(int(self.rows[i])), dtype=np.float32) - self.mean
        x *= self.inv_std
        return torch.from_numpy(x), self.scene_ids[i], self.event_targets[i]

    def _read_row(self, row: int) -> np.ndarray:
        """One (T, F) row. From a memmap cache, read it with pread rather than through the
        mapping: mapped pages an epoch touched stay in the process's RSS, so peak memory would
        grow with the cache (benchmarks/bench_memory.py: 2.57x from 2k to 20k clips with the
        mapping, 1.11x with pread)."""
        f = self.features
        if not (isinstance(f, np.memmap) and f.filename is not None):
            return np.asarray(f[row])
        fd = self.__dict__.get("_fd")
        if fd is None:  # opened once per process (each DataLoader worker too)
            fd = self.__dict__["_fd"] = os.open(f.filename, os.O_RDONLY)
        shape = f.shape[1:]
        nbytes = int(np.prod(shape)) * f.dtype.itemsize
        raw = os.pread(fd, nbytes, f.offset + row * nbytes)
        return np.frombuffer(raw, dtype=f.dtype).reshape(shape)

    def __del__(self) -> None:
        fd = self.__dict__.pop("_fd", None)
        if fd is not None:
            os.close(fd)

    # A memmap pickles as its full contents; workers started with "spawn" would each load the
    # whole cache. Send the file name instead and re-map it in the worker.
    def __getstate__(self) -> dict[str, Any]:
        state = self.__dict__.copy()
        state.pop("_fd", None)  # a file descriptor means nothing in another process
        f = self.features
        if isinstance(f, np.memmap) and f.filename is not None:
            state["features"] = ("memmap", f.filename, f.dtype.str, f.offset, f.shape)
        return state

    def __setstate__(self, state: dict[str, Any]) -> None:
        f = state["features"]
        if isinstance(f, tuple) and f and f[0] == "memmap":
            _, name, dtype, offset, shape = f
            state["features"] = np.memmap(name, dtype=dtype, mode="r", offset=offset, shape=shape)
        self.__dict__.update(state)


@dataclasses.dataclass
class SplitData:
    """One split, aligned row by row: clips, cache rows, scene ids [N], targets [N, E]."""

    clips: list[Clip]
    rows: np.ndarray
    scene_ids: np.ndarray
    event_targets: np.ndarray

    @property
    def names(self) -> list[str]:
        return [c.filename for c in self.clips]


def check_label_spaces(
    dataset: DcaseDataset, labels: PseudoLabels, relation: Relation, cfg: DataConfig
) -> None:
    """Scenes and event labels must agree across the dataset, the label file and R_SE.

    ``cfg`` (the run's data section) names the files in the messages; the fix names R_SE's
    own rebuild, never one that writes into another dataset's R_SE
    (:func:`rgasc.inputs.relation_fix`).

    Raises:
        LabelSpaceError naming both files and the fix.
    """
    fix = relation_fix(
        dataset,
        relation,
        cfg.relation,
        cfg.labels,
        fold=cfg.fold,
        val_fraction=cfg.val_fraction,
        seed=cfg.split_seed,
    )
    if list(relation.scenes) != list(dataset.scenes):
        raise LabelSpaceError(
            f"{cfg.relation}: R_SE rows are scenes {relation.scenes}, but {cfg.dataset} has "
            f"{dataset.scenes}; {fix}"
        )
    if list(labels.labels) != list(relation.events):
        only_l = sorted(set(labels.labels) - set(relation.events))[:3]
        only_r = sorted(set(relation.events) - set(labels.labels))[:3]
        detail = (
            f"only in the labels e.g. {only_l}, only in R_SE e.g. {only_r}"
            if only_l or only_r
            else "same names, different order"
        )
        raise LabelSpaceError(
            f"{cfg.relation}: R_SE has {len(relation.events)} event labels, {cfg.labels} has "
            f"{len(labels.labels)} ({detail}); R_SE must be built from this label file: {fix}"
        )


class RGASCDataModule(L.LightningDataModule):
    """Train/val/test loaders built from a :class:`TrainConfig`.

    Everything is read and checked at construction (cheap: the features stay on disk), so
    the runner knows K, E and the normalisation before it builds the model:

    - splits from :meth:`DcaseDataset.split`: train = training fold minus the carved validation
      locations, val = those locations, test = the fold's evaluate list; clips the feature
      cache recorded as bad are left out (listed in :attr:`excluded`);
    - every split clip must be in the feature cache and the label file; scenes and events must
      agree (:func:`check_label_spaces`);
    - the features must be the backbone's input (its front-end: :mod:`rgasc.models.backbones`);
    - normalisation statistics from the train split only (``cache.norm_stats``), or none
      (mean 0, std 1) for a backbone whose pretrained weights read the features as they are.

    Attributes:
        dataset, cache, labels, relation: the inputs. scenes: K names; events: E names.
        splits: {"train"|"val"|"test": SplitData}. mean, std: float32 [n_mels].
        excluded: bad clips left out of the splits.
    """

    def __init__(self, cfg: TrainConfig) -> None:
        super().__init__()
        self.cfg = cfg
        d = cfg.data
        self.dataset = DcaseDataset(d.dataset)
        self.cache: FeatureCache = open_cache(d.features)
        self.labels = read_labels(d.labels)
        self.relation = load_relation(d.relation)
        # features of this audio, labels of these features, R_SE of these labels and of none
        # of the held-out clips (an R_SE built on all clips, as the authors', is warned
        # about); first, so that a wrong label file is named as such, not blamed on R_SE
        check_inputs(
            self.dataset,
            self.cache,
            self.labels,
            d.labels,
            self.dataset.clips,
            self.relation,
            d.relation,
            d.fold,
            val_fraction=d.val_fraction,
            seed=d.split_seed,
        )
        check_label_spaces(self.dataset, self.labels, self.relation, cfg.data)
        self.scenes: list[str] = list(self.dataset.scenes)
        self.events: list[str] = list(self.relation.events)
        fc = self.cache.config
        self.backbone = get_backbone(cfg.model.backbone)
        if not self.backbone.accepts(fc):
            new = f"{Path(d.features).name}-{self.backbone.name}"
            raise ArtefactError(
                f"{self.cache.path}: features of the {fc.frontend} front-end; the "
                f"{self.backbone.name} backbone reads {self.backbone.features.frontend}'s: make "
                f"them with `rgasc features --dataset {d.dataset} --backbone "
                f"{self.backbone.name} --out {Path(d.features).parent / new}` and pass that "
                "folder as --features"
            )
        if fc.n_frames < MIN_FRAMES or fc.n_mels < MIN_FRAMES:
            raise ArtefactError(
                f"{self.cache.path}: clips of {fc.n_frames} frames x {fc.n_mels} mel bands; the "
                f"model pools 5 times and needs >= {MIN_FRAMES} of each (recompute features with "
                "a longer --clip-seconds or more --n-mels)"
            )
        self.excluded: list[str] = []
        #: the epoch the training order is drawn for (rgasc.train.loop.reproducible)
        self.epoch_clock = EpochClock()
        self.splits: dict[str, SplitData] = {s: self._split(s) for s in SPLITS}
        if not self.splits["train"].clips:
            raise ArtefactError(f"{d.dataset}: the training split of fold {d.fold} is empty")
        if not self.splits[cfg.optim.select_on].clips:
            raise ArtefactError(
                f"{d.dataset}: the {cfg.optim.select_on} split of fold {d.fold} is empty, so no "
                "model can be selected on it (the validation carve needs scenes with >= 2 "
                "locations; raise val_fraction or use --select-on test)"
            )
        if self.backbone.standardize:
            self.mean, self.std = self.cache.norm_stats(self.splits["train"].names)
        else:  # pretrained weights read their own input scale: identity statistics
            self.mean = np.zeros(fc.n_mels, np.float32)
            self.std = np.ones(fc.n_mels, np.float32)

    def _split(self, name: str) -> SplitData:
        cfg = self.cfg.data
        clips = cfg.clips(self.dataset, name)
        usable = set(self.cache.usable([c.filename for c in clips]))
        bad = [c.filename for c in clips if c.filename not in usable]
        if bad:
            warnings.warn(
                f"{self.cache.path}: leaving out {len(bad)} {name} clip(s) that failed to decode "
                f"(e.g. {bad[:3]})",
                RgascWarning,
                stacklevel=2,
            )
            self.excluded.extend(bad)
        clips = [c for c in clips if c.filename in usable]
        names = [c.filename for c in clips]
        # cache.index raises LabelSpaceError naming the cache and the fix for absent clips
        rows = self.cache.index(names)
        targets = self.labels.select(names, source=str(cfg.labels))
        return SplitData(clips, rows, self.dataset.labels(clips), targets)

    # --- loaders --------------------------------------------------------------------------
    def clip_dataset(self, split: str) -> ClipDataset:
        s = self.splits[split]
        return ClipDataset(
            self.cache.features, s.rows, self.mean, self.std, s.scene_ids, s.event_targets
        )

    def loader(
        self,
        split: str,
        shuffle: bool = False,
        batch_size: int | None = None,
        sampler: Any = None,
    ) -> DataLoader:
        workers = self.cfg.runtime.workers
        data = self.clip_dataset(split)
        # the order of epoch e depends on (seed, e) only, so a resumed run shuffles alike
        if shuffle:
            sampler = EpochRandomSampler(data, self.cfg.seed, self.epoch_clock)
        return DataLoader(
            data,
            batch_size=batch_size or self.cfg.optim.batch_size,
            sampler=sampler,
            # its own generator: creating an iterator draws a worker base seed from it, which
            # would otherwise shift the global stream (dropout) on some epochs but not others
            generator=loader_generator(self.cfg.seed),
            num_workers=workers,
            pin_memory=torch.cuda.is_available(),
            persistent_workers=workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self.loader("train", shuffle=True)

    def val_dataloader(self) -> list[DataLoader]:
        """The selection split first; with ``select_on="test"`` also the val split for curves."""
        loaders = []
        for s in self.val_split_names():
            # under DDP every clip once over the ranks: Lightning's sampler would repeat some
            ds = self.clip_dataset(s)
            sampler = unpadded_sampler(ds, self.trainer) if self.trainer is not None else None
            loaders.append(self.loader(s, sampler=sampler))
        return loaders

    def val_split_names(self) -> list[str]:
        """Split names of :meth:`val_dataloader`'s loaders, in order."""
        splits = ["val"] if self.cfg.optim.select_on == "val" else ["test", "val"]
        return [s for s in splits if self.splits[s].clips]

    def train_devices(self) -> list[str]:
        """The recording devices of the training split (meta.csv ``source_label``)."""
        return sorted({c.device for c in self.splits["train"].clips}, key=device_sort_key)

    def summary(self) -> dict[str, Any]:
        """Counts and provenance for config.yaml."""
        return {
            "clips": {s: len(d.clips) for s, d in self.splits.items()},
            "train_devices": self.train_devices(),
            "scenes": self.scenes,
            "n_events": len(self.events),
            "excluded_bad_clips": self.excluded,
            "feature_cache": str(self.cache.path),
            "feature_cache_key": self.cache.key,
            "label_attrs": {k: str(v) for k, v in self.labels.attrs.items()},
            "relation_meta": self.relation.meta,
        }

"""Exact resume: every epoch's randomness is a function of (seed, epoch), never of history.

Why: a resumed session that restarts its random streams from ``seed_everything(seed)``
puts them back in the state the *first* epoch started from. Epoch e of the resumed session
would then replay epoch 0's shuffling order and dropout masks (the model is already fitted to
exactly those batches and masks, so its training loss jumps away from the uninterrupted
run's), and every later number would differ.

Three pieces make a resumed run equal the uninterrupted one (same metrics, same selected
epoch, same weights; bit for bit on the CPU with ``runtime.deterministic``):

- :class:`EpochRandomSampler`: the training order of epoch e is a permutation drawn from a
  generator seeded with ``epoch_seed(seed, e)``;
- :class:`ReproducibleEpochs` (a callback): reseeds torch (CPU and CUDA), numpy and Python's
  ``random`` with ``epoch_seed(seed, e, rank)`` at the start of every training epoch (dropout
  masks), keeps the epoch for the sampler, and stores the RNG states and the next epoch in
  every checkpoint (restored on ``--resume``);
- :class:`AtomicCheckpointIO`: a checkpoint is written beside its final name and renamed, so
  a process killed while saving never leaves a truncated ``last.ckpt``.

The optimiser state, the loop counters and ModelCheckpoint's best-so-far are Lightning's own
checkpoint contents and are restored by it. Randomness inside DataLoader *workers* (e.g. an
augmentation drawn in ``__getitem__``) must likewise be derived from (seed, epoch, clip) to
survive a resume: persistent workers restart with the session.
"""

from __future__ import annotations

import dataclasses
import hashlib
import os
import random
from collections.abc import Iterator, Sized
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from lightning.fabric.plugins.io.torch_io import TorchCheckpointIO
from lightning.pytorch.callbacks import ModelCheckpoint
from torch.utils.data import RandomSampler

#: Key of this callback's entry in a Lightning checkpoint.
CHECKPOINT_KEY = "rgasc_reproducible"


def epoch_seed(seed: int, epoch: int, *stream: object) -> int:
    """A 32-bit seed for ``epoch`` of a run seeded ``seed`` (``stream`` names a sub-stream).

    Hashed rather than ``seed + epoch``: runs with seeds 1 and 2 must not share epochs.
    """
    text = ":".join(str(p) for p in (seed, epoch, *stream))
    return int(hashlib.sha256(text.encode()).hexdigest()[:8], 16)


@dataclasses.dataclass
class EpochClock:
    """The training epoch the next training iterator belongs to (shared by sampler/callback)."""

    epoch: int = 0


class EpochRandomSampler(RandomSampler):
    """A shuffling sampler whose order depends only on (seed, epoch).

    The epoch is read from ``clock`` when iteration starts: Lightning creates a session's
    first iterator (and prefetches a batch) before it calls ``set_epoch`` or any epoch hook,
    so the clock is set from the checkpoint on resume (by :class:`ReproducibleEpochs`).
    A :class:`~torch.utils.data.RandomSampler` subclass, so under DDP Lightning swaps it for
    its ``DistributedSampler`` as before.
    """

    def __init__(self, data_source: Sized, seed: int, clock: EpochClock) -> None:
        super().__init__(data_source)
        self.seed = int(seed)
        self.clock = clock

    def __iter__(self) -> Iterator[int]:
        g = torch.Generator()
        g.manual_seed(epoch_seed(self.seed, self.clock.epoch, "order"))
        yield from torch.randperm(len(self.data_source), generator=g).tolist()

    def __len__(self) -> int:
        return len(self.data_source)


def loader_generator(seed: int) -> torch.Generator:
    """The DataLoader's own generator (its workers' base seed), apart from the global stream."""
    g = torch.Generator()
    g.manual_seed(epoch_seed(seed, 0, "workers"))
    return g


def rng_states() -> dict[str, Any]:
    """The global RNG states of torch (CPU, every CUDA device), numpy and Python.

    Only tensors, numbers and tuples: Lightning loads checkpoints with ``weights_only``.
    """
    kind, keys, pos, has_gauss, gauss = np.random.get_state(legacy=True)  # type: ignore[misc]
    states: dict[str, Any] = {
        "torch": torch.get_rng_state(),
        "numpy": (
            str(kind),
            torch.from_numpy(np.asarray(keys, np.int64)),
            int(pos),
            int(has_gauss),
            float(gauss),
        ),
        "python": random.getstate(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        states["cuda"] = torch.cuda.get_rng_state_all()
    return states


def set_rng_states(states: dict[str, Any]) -> None:
    """Restore what :func:`rng_states` returned (CUDA states only where devices match)."""
    torch.set_rng_state(states["torch"])
    kind, keys, pos, has_gauss, gauss = states["numpy"]
    np.random.set_state((kind, keys.numpy().astype(np.uint32), pos, has_gauss, gauss))
    random.setstate(states["python"])
    cuda = states.get("cuda")
    if cuda is not None and torch.cuda.is_available() and len(cuda) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda)


def seed_all(seed: int) -> None:
    """Seed torch (CPU and CUDA), numpy and Python's ``random`` with one value."""
    torch.manual_seed(seed)
    np.random.seed(seed)
    random.seed(seed)


class ReproducibleEpochs(L.Callback):
    """Reseeds every training epoch from (seed, epoch, rank) and checkpoints the RNG states.

    Args:
        seed: the run's seed. clock: the :class:`EpochClock` of the training sampler.
    """

    def __init__(self, seed: int, clock: EpochClock) -> None:
        self.seed = int(seed)
        self.clock = clock

    def on_train_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        epoch = trainer.current_epoch
        self.clock.epoch = epoch
        seed_all(epoch_seed(self.seed, epoch, "rng", trainer.global_rank))

    def on_save_checkpoint(
        self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        # saved at the end of epoch e (validation end or train epoch end): e + 1 comes next
        checkpoint[CHECKPOINT_KEY] = {
            "seed": self.seed,
            "next_epoch": trainer.current_epoch + 1,
            "rng": rng_states(),
        }

    def on_load_checkpoint(
        self, trainer: L.Trainer, pl_module: L.LightningModule, checkpoint: dict[str, Any]
    ) -> None:
        state = checkpoint.get(CHECKPOINT_KEY)
        if state is None:  # a checkpoint without epoch and RNG states: best effort
            return
        self.clock.epoch = int(state["next_epoch"])
        set_rng_states(state["rng"])


def last_checkpoint(dirpath: str | os.PathLike[str]) -> ModelCheckpoint:
    """A checkpoint callback that writes ``last.ckpt`` after *every* epoch.

    Lightning 2.6's ``save_last=True`` writes ``last.ckpt`` only when a top-k checkpoint was
    saved in the same step: after epochs that did not improve the monitored score it keeps an
    older epoch, and ``--resume`` would go back to it. Listed after the best-model checkpoint, so
    the state it saves holds that epoch's best-so-far.
    """
    return ModelCheckpoint(
        dirpath=Path(dirpath),
        filename="last",
        monitor=None,
        save_top_k=1,  # without a monitor: the latest one, overwritten in place
        enable_version_counter=False,
    )


class AtomicCheckpointIO(TorchCheckpointIO):
    """Lightning's torch checkpoint writer, made atomic: temporary file, fsync, rename."""

    def save_checkpoint(
        self, checkpoint: dict[str, Any], path: Any, storage_options: Any | None = None
    ) -> None:
        final = Path(path)
        final.parent.mkdir(parents=True, exist_ok=True)
        tmp = final.with_name(f".{final.name}.{os.getpid()}.tmp")
        try:
            super().save_checkpoint(checkpoint, tmp, storage_options)
            with open(tmp, "rb") as f:
                os.fsync(f.fileno())
            os.replace(tmp, final)
        finally:
            tmp.unlink(missing_ok=True)

"""Many processes, GPUs and nodes: ranks, shards of a clip list, the launch, one exchange.

Training is spread by Lightning's Trainer (DDP). The stages that only *compute per clip*
(``rgasc tag``, ``rgasc features``) are spread here on the same engine, Lightning Fabric with
the DDP strategy (gloo on CPUs, NCCL on CUDA): ``--devices N [--num-nodes M]`` starts N
processes per node exactly as ``rgasc train`` does (the command re-runs itself with
``LOCAL_RANK`` set; on a cluster Lightning reads SLURM/torchrun's variables, by hand
``MASTER_ADDR``, ``MASTER_PORT`` and ``NODE_RANK``). Every rank computes a contiguous shard
of the clip list into its own folder ``OUT.shards/rank{r}-of-{n}/`` with the single-process
code, the ranks then exchange one flag (all shards finished?), and rank 0 merges the shards
into exactly the file a single process writes. The shards need a file system every node
sees (the inputs do too).

Contiguous shards keep each rank's rows consecutive, so the merge is a concatenation in rank
order and the merged rows are in the single-process order. A shard's folder is named by its
rank *and* the world size: a rerun with another N never mistakes another split's shard.

This module imports torch and Lightning only inside the functions that need them.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence, Sized
from datetime import timedelta
from pathlib import Path
from typing import Any, TypeVar

from rgasc.errors import RgascError

#: How long a rank waits for the others at the exchange. Long on purpose: on a resumed run a
#: rank whose shard is already finished waits for the slowest shard to be computed.
WAIT = timedelta(days=2)

T = TypeVar("T")


# --- ranks and shards (pure) -----------------------------------------------------------------
def lightning_devices(devices: str) -> int | str | list[int]:
    """Lightning's ``devices`` from the CLI string: "auto", "2", "-1" or "0,1"."""
    d = devices.strip()
    if d == "auto":
        return d
    if "," in d:
        return [int(x) for x in d.split(",") if x.strip()]
    try:
        return int(d)
    except ValueError:
        return d


def is_multi_process(devices: str, num_nodes: int = 1) -> bool:
    """True when ``--devices`` / ``--num-nodes`` ask for more than one process.

    A count above 1, "-1" (every device), a list of two or more indices, or several nodes;
    "auto", "1", one index ("0", "1,") and torch device names ("cuda:1") are one process.
    """
    if num_nodes > 1:
        return True
    d = devices.strip().lower()
    if d.startswith(("cpu", "cuda", "mps")) or d == "auto":
        return False
    parsed = lightning_devices(d.strip("[]"))
    if isinstance(parsed, list):
        return len(parsed) > 1
    return isinstance(parsed, int) and (parsed > 1 or parsed == -1)


def shard_range(n: int, rank: int, world: int) -> tuple[int, int]:
    """[start, stop) of rank ``rank``'s contiguous shard of ``n`` items over ``world`` ranks.

    Balanced (sizes differ by at most one, the larger ones last), deterministic, and the
    shards of ranks 0..world-1 tile [0, n) in order.
    """
    if world < 1 or not 0 <= rank < world:
        raise ValueError(f"rank {rank} of world {world}")
    return n * rank // world, n * (rank + 1) // world


def shard_clips(clips: Sequence[T], rank: int, world: int) -> list[T]:
    """Rank ``rank``'s contiguous share of ``clips`` (see :func:`shard_range`): what it
    computes, and what the merge expects from it."""
    lo, hi = shard_range(len(clips), rank, world)
    return list(clips[lo:hi])


def shard_name(rank: int, world: int) -> str:
    """``rank{r}-of-{n}``: the folder of one shard."""
    return f"rank{rank}-of-{world}"


def shards_dir(out: str | os.PathLike[str]) -> Path:
    """``OUT.shards``: where the ranks write their shards of ``out`` (removed after the merge)."""
    out = Path(out)
    return out.with_name(out.name + ".shards")


def shard_dir(out: str | os.PathLike[str], rank: int, world: int) -> Path:
    """``OUT.shards/rank{r}-of-{n}``."""
    return shards_dir(out) / shard_name(rank, world)


def global_rank() -> int:
    """This process's global rank: Lightning's once a Trainer or Fabric has set it, else the
    launcher's environment (``RANK``, ``LOCAL_RANK``), else 0."""
    try:
        from lightning.pytorch.utilities import rank_zero_only

        return int(getattr(rank_zero_only, "rank", 0))
    except ImportError:  # pragma: no cover - lightning is a dependency
        return int(os.environ.get("RANK", os.environ.get("LOCAL_RANK", 0)))


# --- the launch ------------------------------------------------------------------------------
@dataclasses.dataclass
class Ranks:
    """Where this process stands in a multi-process run.

    Attributes:
        rank: global rank; world: number of processes; device: the torch device of this rank
            ("cpu", "cuda:1"). fabric: the Lightning Fabric that launched them (None for the
            one-process stand-in :func:`single`).
    """

    rank: int
    world: int
    device: str
    fabric: Any = None

    @property
    def is_zero(self) -> bool:
        return self.rank == 0

    def all_ok(self, ok: bool) -> bool:
        """Every rank says whether its part succeeded; True when all did (a collective: every
        rank must call it, which is why a failed rank calls it before it raises)."""
        if self.fabric is None or self.world == 1:
            return ok
        import torch

        failed = torch.tensor([0 if ok else 1], device=self.fabric.device)
        return int(self.fabric.all_reduce(failed, reduce_op="sum").item()) == 0


def single(device: str = "cpu") -> Ranks:
    """One process (rank 0 of 1): what the sharded functions see without a launch."""
    return Ranks(0, 1, device)


def launch(accelerator: str = "auto", devices: str = "auto", num_nodes: int = 1) -> Ranks:
    """Start (or join) the processes of ``--devices`` x ``--num-nodes`` with Lightning Fabric.

    Called from a command, it re-runs that command once per extra local rank (``LOCAL_RANK``
    set, the same arguments), as ``rgasc train --strategy ddp`` does; every process returns
    here with its own :class:`Ranks`.

    Raises:
        RgascError: Lightning cannot place that many processes on that accelerator.
    """
    from lightning.fabric import Fabric
    from lightning.fabric.strategies import DDPStrategy

    try:
        fabric = Fabric(
            accelerator=accelerator,
            devices=lightning_devices(devices),
            num_nodes=num_nodes,
            strategy=DDPStrategy(timeout=WAIT),
        )
        fabric.launch()
    except (ValueError, RuntimeError) as e:  # Lightning's MisconfigurationException is one
        raise RgascError(
            f"--accelerator {accelerator} --devices {devices} --num-nodes {num_nodes}: {e}"
        ) from e
    return Ranks(fabric.global_rank, fabric.world_size, str(fabric.device), fabric)


def sync_or_raise(ranks: Ranks, error: BaseException | None, what: str) -> None:
    """The exchange after every rank's shard: re-raise this rank's ``error``, or fail when
    another rank failed (its message is above, in its own output); return when all succeeded.

    ``what`` names the stage in the message (e.g. "tagging").
    """
    all_ok = ranks.all_ok(error is None)
    if error is not None:
        raise error
    if not all_ok:
        raise RgascError(
            f"{what}: another rank failed (its error is printed above); the finished shards "
            "are kept, rerun the same command to resume"
        )


# --- validation without padding --------------------------------------------------------------
def unpadded_sampler(dataset: Sized, trainer: Any) -> Any:
    """A sampler giving rank r the clips r, r + world, ... of ``dataset``, each clip exactly
    once over the ranks, or None when ``trainer`` runs one process.

    Lightning's default for validation loaders is a ``DistributedSampler``, which repeats
    clips so that every rank gets as many: the repeats would count twice in the split's
    confusion matrix and log loss. This sampler pads nothing (ranks may differ by one batch,
    safe in evaluation: DDP syncs buffers only on the first batch), and, being a
    ``DistributedSampler`` subclass, Lightning keeps it instead of putting its own in.

    Raises:
        RgascError: fewer clips than processes (a rank would get none and stall the others).
    """
    world = int(getattr(trainer, "world_size", 1) or 1)
    if world <= 1:
        return None
    n = len(dataset)
    if n < world:
        raise RgascError(
            f"a validation split of {n} clip(s) cannot be spread over {world} processes; "
            "use fewer --devices or a larger split"
        )
    from lightning.pytorch.overrides.distributed import UnrepeatedDistributedSampler

    return UnrepeatedDistributedSampler(
        dataset,  # type: ignore[arg-type]
        num_replicas=world,
        rank=int(trainer.global_rank),
        shuffle=False,
    )

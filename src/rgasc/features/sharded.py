"""``rgasc features --devices N [--num-nodes M]``: feature extraction spread over processes.

Each rank computes the features of its contiguous shard of the clip list with the
single-process code (:func:`rgasc.features.compute.update_cache`, which
:func:`rgasc.features.compute_features` runs too: same chunks, same per-clip identities and
content hashes, same bad-clip policy, same resumable ``progress.json``) into a cache of its
own::

    OUT.shards/rank{r}-of-{n}/SUB/        the shard's cache (format 2, the shard's clips only)
    OUT.shards/rank{r}-of-{n}/done.json   stamp written last: the config and the shard's clips

A shard reuses every row the finished or an interrupted cache in ``OUT/SUB`` already holds
for its clips, by the usual per-clip checks. The ranks then exchange one flag, and rank 0
merges: the single-process update of ``OUT`` with the shards' caches as sources of rows and
nothing left to compute. Every row is copied after the same size, mtime and content-hash
check as any reused row (a clip that no shard holds with its current content is an error,
never served nor silently recomputed), so ``OUT`` ends as exactly the cache one process
writes: same key, rows, order, bytes, identities and bad clips. Then ``OUT.shards`` is
removed.

A rerun after an interruption resumes each shard where it stopped (a finished shard is
checked clip by clip and kept); another ``--devices`` count cuts new shards, which still
reuse what ``OUT`` holds.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Sequence
from pathlib import Path

from rgasc.data.datasets import Clip, DcaseDataset
from rgasc.data.provenance import clip_list_hash
from rgasc.distributed import Ranks, shard_clips, shard_dir, shards_dir, sync_or_raise
from rgasc.errors import ArtefactError
from rgasc.features.cache import FeatureCache, warn_short_clips
from rgasc.features.compute import DEFAULT_CHUNK, cache_key, update_cache
from rgasc.features.logmel import FeatureConfig
from rgasc.utils import read_stamp, text_hash, write_json

DONE = "done.json"


def shard_key(cfg: FeatureConfig, clips: Sequence[Clip]) -> str:
    """What a finished shard's stamp records: the cache's config and the shard's clip list."""
    return text_hash("feature-shard", cache_key(cfg), clip_list_hash(c.filename for c in clips))


def shard_cache_dir(out: str | os.PathLike[str], cfg: FeatureConfig, rank: int, world: int) -> Path:
    """``OUT.shards/rank{r}-of-{n}/SUB``: the KEY folder of one rank's cache."""
    return shard_dir(out, rank, world) / cache_key(cfg)


def shard_features(
    dataset: DcaseDataset,
    out: str | os.PathLike[str],
    cfg: FeatureConfig,
    rank: int,
    world: int,
    *,
    workers: int = 0,
    skip_bad: bool = False,
    progress: bool = True,
    chunk_size: int = DEFAULT_CHUNK,
    skip_bad_command: str | None = None,
) -> FeatureCache | None:
    """Compute rank ``rank``'s shard of the clips of ``dataset`` into its own cache.

    Returns the shard's cache, or None for an empty shard (fewer clips than ranks). Rows the
    finished or interrupted cache in ``out`` holds, or an earlier run of this shard, are
    reused (same checks as one process); an unfinished shard continues where it stopped.
    ``skip_bad_command``: as for :func:`~rgasc.features.compute_features`.
    """
    mine = shard_clips(dataset.clips, rank, world)
    folder = shard_dir(out, rank, world)
    stamp = folder / DONE
    # the stamp says "finished"; drop it while the shard is (re)computed
    stamp.unlink(missing_ok=True)
    folder.mkdir(parents=True, exist_ok=True)
    cache = None
    if mine:
        main = Path(out) / cache_key(cfg)
        cache = update_cache(
            dataset,
            folder,
            cfg,
            clips=mine,
            reuse=[main],
            workers=workers,
            skip_bad=skip_bad,
            progress=progress,
            chunk_size=chunk_size,
            skip_bad_command=skip_bad_command,
        )
    counts = (cache.reused or 0, cache.computed or 0) if cache is not None else (0, 0)
    write_json(
        stamp,
        {
            "key": shard_key(cfg, mine),
            "clips": len(mine),
            "reused": counts[0],
            "computed": counts[1],
        },
    )
    return cache


def merge_feature_shards(
    dataset: DcaseDataset,
    out: str | os.PathLike[str],
    cfg: FeatureConfig,
    world: int,
    *,
    workers: int = 0,
    skip_bad: bool = False,
    progress: bool = True,
) -> FeatureCache:
    """Bring ``out`` up to date from the ``world`` finished shards, then remove ``OUT.shards``.

    The returned cache's ``reused`` / ``computed`` are the shards' sums (what the whole run
    reused and computed).

    Raises:
        ArtefactError: a shard is unfinished, was cut from another clip list or config than
            ``dataset``'s (the ranks read different datasets), or a clip is in no shard with
            the content it has now (the ranks saw different files, or one changed meanwhile).
    """
    sources: list[Path] = []
    reused = computed = 0
    for r in range(world):
        stamp = read_stamp(shard_dir(out, r, world) / DONE)
        if stamp is None:
            raise ArtefactError(f"{shard_dir(out, r, world)}: shard {r} of {world} is unfinished")
        if stamp.get("key") != shard_key(cfg, shard_clips(dataset.clips, r, world)):
            raise ArtefactError(
                f"{shard_dir(out, r, world)}: shard {r} of {world} was computed from other clips "
                f"or another feature config than rank 0's {dataset.root}; every rank must read "
                "the same dataset (rerun the same command everywhere)"
            )
        reused += int(stamp.get("reused", 0))
        computed += int(stamp.get("computed", 0))
        if stamp.get("clips"):
            sources.append(shard_cache_dir(out, cfg, r, world))
    cache = update_cache(
        dataset,
        out,
        cfg,
        reuse=sources,
        only_reuse=True,
        workers=workers,
        skip_bad=skip_bad,
        progress=progress,
    )
    shutil.rmtree(shards_dir(out), ignore_errors=True)
    cache.reused, cache.computed = reused, computed
    return cache


def features_distributed(
    dataset: DcaseDataset,
    out: str | os.PathLike[str],
    cfg: FeatureConfig,
    ranks: Ranks,
    *,
    workers: int = 0,
    skip_bad: bool = False,
    progress: bool = True,
    skip_bad_command: str | None = None,
    warn_short: bool = True,
) -> FeatureCache | None:
    """Every rank computes its shard; rank 0 merges and returns the cache, the other ranks
    return None once their shard is written. ``progress`` shows rank 0's bars only;
    ``skip_bad_command`` and ``warn_short`` (on rank 0) are as for
    :func:`~rgasc.features.compute_features`.

    Raises:
        the rank's own error, or :class:`RgascError` on every rank when another one failed.
    """
    error: BaseException | None = None
    try:
        shard_features(
            dataset,
            out,
            cfg,
            ranks.rank,
            ranks.world,
            workers=workers,
            skip_bad=skip_bad,
            progress=progress and ranks.is_zero,
            skip_bad_command=skip_bad_command,
        )
    except Exception as e:  # told to the other ranks first, then raised
        error = e
    sync_or_raise(ranks, error, "features")
    if not ranks.is_zero:
        return None
    cache = merge_feature_shards(
        dataset, out, cfg, ranks.world, workers=workers, skip_bad=skip_bad, progress=progress
    )
    if warn_short:
        warn_short_clips(cache)
    return cache

"""``rgasc features --devices N [--num-nodes M]``: the feature cache computed by N processes.

Each rank runs :func:`compute_features` itself on its contiguous shard of the dataset's clips
(a copy of the dataset listing only those clips), into its own cache folder
``OUT.shards/rank{r}-of-{n}/`` (chunked, resumable, the same bytes per clip as one process,
see :mod:`rgasc.features.compute`). A shard finished earlier is returned at once by
``compute_features`` (its manifest records its key), so a rerun recomputes only unfinished
shards, from their last chunk.

Rank 0 then merges (:func:`merge_feature_shards`): it writes the shards' rows, in rank order
(= meta.csv order), into ``OUT/KEY/features.npy`` with a progress record saying every row is
done, and lets ``compute_features`` on the whole dataset finish the cache as it finishes its
own (bad_clips.csv, manifest.json last, latest.json). ``OUT`` is then the cache one process
writes (same key, rows and values); the shards are removed.
"""

from __future__ import annotations

import copy
import os
import shutil
from pathlib import Path

import numpy as np

from rgasc.data.datasets import DcaseDataset
from rgasc.distributed import Ranks, shard_dir, shard_range, shards_dir, sync_or_raise
from rgasc.errors import ArtefactError
from rgasc.features.cache import FEATURES, MANIFEST, PROGRESS, FeatureCache, open_cache
from rgasc.features.compute import DEFAULT_CHUNK, cache_key, compute_features
from rgasc.features.logmel import FeatureConfig
from rgasc.utils import stage_done, write_json

#: Rows copied at a time by the merge (bounds its memory to ~40 MB of 10-s clips).
MERGE_ROWS = 512


def shard_dataset(dataset: DcaseDataset, rank: int, world: int) -> DcaseDataset:
    """A shallow copy of ``dataset`` that lists only rank ``rank``'s contiguous shard of its
    clips (same root, so the same audio paths)."""
    lo, hi = shard_range(len(dataset.clips), rank, world)
    sub = copy.copy(dataset)
    sub.clips = list(dataset.clips[lo:hi])
    # the lookups follow the clip list (the copy must not find clips it does not list)
    sub._by_name = {c.filename: c for c in sub.clips}
    sub._by_key = {c.key: c for c in sub.clips}
    return sub


def compute_shard(
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
) -> FeatureCache | None:
    """The feature cache of rank ``rank``'s shard (None when the shard is empty)."""
    sub = shard_dataset(dataset, rank, world)
    if not sub.clips:
        return None
    return compute_features(
        sub,
        shard_dir(out, rank, world),
        cfg,
        workers=workers,
        skip_bad=skip_bad,
        progress=progress,
        chunk_size=chunk_size,
    )


def merge_feature_shards(
    dataset: DcaseDataset, out: str | os.PathLike[str], cfg: FeatureConfig, world: int
) -> FeatureCache:
    """Assemble the ``world`` finished shard caches into the cache of the whole ``dataset``.

    Raises:
        ArtefactError: a shard is unfinished or lists other clips than its share.
    """
    out = Path(out)
    key = cache_key(dataset, cfg)
    kdir = out / key
    if not stage_done(kdir / MANIFEST, key):
        n = len(dataset.clips)
        kdir.mkdir(parents=True, exist_ok=True)
        feats = np.lib.format.open_memmap(
            kdir / FEATURES,
            mode="w+",
            dtype=np.float32,
            shape=(n, cfg.n_frames, cfg.n_mels),
        )
        bad: dict[str, str] = {}
        try:
            for r in range(world):
                lo, hi = shard_range(n, r, world)
                if lo == hi:
                    continue
                shard = open_cache(shard_dir(out, r, world), cfg)
                want = [c.filename for c in dataset.clips[lo:hi]]
                if shard.names != want:
                    raise ArtefactError(
                        f"{shard.path}: shard {r} of {world} lists other clips than its share "
                        f"of {dataset.root}; delete {shards_dir(out)} and rerun"
                    )
                for a in range(0, hi - lo, MERGE_ROWS):
                    b = min(a + MERGE_ROWS, hi - lo)
                    feats[lo + a : lo + b] = shard.features[a:b]
                bad.update({b["filename"]: b["error"] for b in shard.manifest["bad_clips"]})
            feats.flush()  # on disk before the record says so, as compute_features does
        finally:
            del feats
        write_json(kdir / PROGRESS, {"key": key, "done": [[0, n]], "bad": bad})
    # every row is recorded done: this only writes bad_clips.csv, the manifest, latest.json
    cache = compute_features(dataset, out, cfg, progress=False)
    shutil.rmtree(shards_dir(out), ignore_errors=True)
    return cache


def compute_features_distributed(
    dataset: DcaseDataset,
    out: str | os.PathLike[str],
    cfg: FeatureConfig,
    ranks: Ranks,
    *,
    workers: int = 0,
    skip_bad: bool = False,
    progress: bool = True,
    chunk_size: int = DEFAULT_CHUNK,
) -> FeatureCache | None:
    """Every rank computes its shard; rank 0 merges and returns the cache, the others return
    None once their shard is written. ``progress``: rank 0's bar only.

    A cache already finished for this config and file list is returned at once (by rank 0;
    the other ranks do nothing).
    """
    key = cache_key(dataset, cfg)
    if stage_done(Path(out) / key / MANIFEST, key):  # finished: nothing to spread
        return compute_features(dataset, out, cfg, progress=False) if ranks.is_zero else None
    error: BaseException | None = None
    try:
        compute_shard(
            dataset,
            out,
            cfg,
            ranks.rank,
            ranks.world,
            workers=workers,
            skip_bad=skip_bad,
            progress=progress and ranks.is_zero,
            chunk_size=chunk_size,
        )
    except Exception as e:  # told to the other ranks first, then raised
        error = e
    sync_or_raise(ranks, error, "features")
    if not ranks.is_zero:
        return None
    return merge_feature_shards(dataset, out, cfg, ranks.world)

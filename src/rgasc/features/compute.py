"""Computing a feature cache: resumable chunks, parallel decoding, bad-clip policy.

See :mod:`rgasc.features.cache` for the on-disk layout. The run is split into chunks of
consecutive clips; each chunk is written into ``features.npy`` (a memmap), flushed, and only
then recorded in ``progress.json``. An interrupted run therefore redoes at most the chunk it
was in, and, since every clip's features depend on that clip alone, yields the same bytes as
an uninterrupted run.
"""

from __future__ import annotations

import contextlib
import csv
import io
import multiprocessing as mp
import os
import time
from collections import deque
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from rgasc.audio import load_audio
from rgasc.data.datasets import DcaseDataset
from rgasc.errors import RgascError
from rgasc.features.cache import (
    BAD_CLIPS,
    FEATURES,
    FORMAT_VERSION,
    LATEST,
    MANIFEST,
    PROGRESS,
    FeatureCache,
    clip_to_dict,
)
from rgasc.features.logmel import FeatureConfig, logmel
from rgasc.utils import (
    package_versions,
    stage_done,
    stage_record,
    text_hash,
    write_json,
    write_text_atomic,
)

DEFAULT_CHUNK = 16  # clips per recorded unit of work: 16 x 320 x 64 x 4 B = 1.3 MB in flight

# (row within chunk, exception class, message): exceptions travel back from workers as data
ChunkErrors = list[tuple[int, type, str]]


def files_digest(dataset: DcaseDataset) -> str:
    """Hash of every listed clip's name, size and modification time (missing file: -1)."""
    lines = []
    for c in dataset.clips:
        try:
            st = os.stat(dataset.audio_path(c))
            size, mtime = st.st_size, st.st_mtime_ns
        except OSError:
            size, mtime = -1, -1
        lines.append(f"{c.filename}\t{size}\t{mtime}")
    return text_hash("\n".join(lines))


def cache_key(dataset: DcaseDataset, cfg: FeatureConfig, digest: str | None = None) -> str:
    """The KEY subfolder name: hash of the FeatureConfig and the dataset's file list.

    ``digest``: a :func:`files_digest` of the dataset already taken (else taken now).
    """
    digest = files_digest(dataset) if digest is None else digest
    return text_hash("features", str(FORMAT_VERSION), cfg.digest(), digest)


def extract_chunk(paths: Sequence[str], cfg: FeatureConfig) -> tuple[np.ndarray, ChunkErrors]:
    """Decode and featurise files one after another (runs in a worker process).

    Returns:
        (features (len(paths), n_frames, n_mels) float32 with zero rows for failures,
        the failures as (row, exception class, message)).
    """
    out = np.zeros((len(paths), cfg.n_frames, cfg.n_mels), np.float32)
    errors: ChunkErrors = []
    with _one_blas_thread():
        for i, p in enumerate(paths):
            try:
                x, _ = load_audio(p, sr=cfg.sample_rate)
                out[i] = logmel(x, cfg)
            except RgascError as e:
                errors.append((i, type(e), str(e)))
    return out, errors


def _one_blas_thread() -> contextlib.AbstractContextManager[Any]:
    """Run BLAS single-threaded: a multi-threaded sgemm rounds differently, and a cache must
    not depend on how many workers made it (nor oversubscribe the cores they already use)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # scikit-learn's dependency; without it results may differ by ~1e-7
        return contextlib.nullcontext()
    return threadpool_limits(1, user_api="blas")


def _run_chunks(
    chunks: list[np.ndarray], paths: list[str], cfg: FeatureConfig, workers: int
) -> Iterator[tuple[np.ndarray, tuple[np.ndarray, ChunkErrors]]]:
    """Yield (rows, extract_chunk result) in chunk order; at most 2 * workers chunks in flight."""
    if workers <= 0:
        for rows in chunks:
            yield rows, extract_chunk([paths[i] for i in rows], cfg)
        return
    # fork starts workers in milliseconds; they only run numpy/soundfile/soxr, never torch,
    # so forking a parent that has torch loaded is safe.
    methods = mp.get_all_start_methods()
    ctx = mp.get_context("fork" if "fork" in methods else "spawn")
    ex = ProcessPoolExecutor(max_workers=workers, mp_context=ctx)
    try:
        todo = iter(chunks)
        pending: deque[tuple[np.ndarray, Future[Any]]] = deque()

        def submit() -> None:
            rows = next(todo, None)
            if rows is not None:
                pending.append((rows, ex.submit(extract_chunk, [paths[i] for i in rows], cfg)))

        for _ in range(2 * workers):
            submit()
        while pending:
            rows, fut = pending.popleft()
            result = fut.result()
            submit()
            yield rows, result
    finally:
        # an error or interruption in the consumer must not wait for queued chunks
        ex.shutdown(wait=True, cancel_futures=True)


def _ranges(done: np.ndarray) -> list[list[int]]:
    """Boolean row mask -> [[start, stop), ...] runs of True (compact progress record)."""
    edges = np.flatnonzero(np.diff(np.concatenate([[0], done.astype(np.int8), [0]])))
    return [[int(a), int(b)] for a, b in zip(edges[::2], edges[1::2], strict=True)]


def _load_progress(kdir: Path, key: str, shape: tuple[int, int, int]) -> dict[str, Any] | None:
    """The recorded progress of an unfinished run, or None if there is none usable."""
    state = stage_record(kdir / PROGRESS, key)  # None also for a torn write
    if state is None or not (kdir / FEATURES).is_file():
        return None
    try:
        arr = np.load(kdir / FEATURES, mmap_mode="r")
    except (OSError, ValueError):
        return None  # a torn write: start this key afresh
    if list(arr.shape) != list(shape) or arr.dtype != np.float32:
        return None
    return dict(state)


def compute_features(
    dataset: DcaseDataset,
    out: str | os.PathLike[str],
    cfg: FeatureConfig = FeatureConfig(),
    *,
    workers: int = 0,
    skip_bad: bool = False,
    progress: bool = True,
    chunk_size: int = DEFAULT_CHUNK,
) -> FeatureCache:
    """Compute log-mel features of every clip of ``dataset`` into ``out/KEY/``.

    Returns the finished cache at once if one exists for this config and file list; resumes
    an unfinished one. Rows are in meta.csv order.

    Args:
        dataset: the clips to featurise (decoded with :func:`rgasc.audio.load_audio`).
        out: the cache folder (``open_cache(out)`` opens the result).
        cfg: front-end parameters; part of the cache key.
        workers: decoding processes; 0 decodes in this process.
        skip_bad: record undecodable clips in ``bad_clips.csv`` and go on (their rows stay
            zeros and are refused by :meth:`FeatureCache.index`) instead of stopping.
        progress: show a tqdm progress bar.
        chunk_size: clips per recorded unit of work.

    Raises:
        AudioError (an RgascError) naming the first bad clip when ``skip_bad`` is False;
        the chunks finished before it are kept, so a rerun resumes there.
    """
    from tqdm import tqdm

    out = Path(out)
    digest = files_digest(dataset)  # once: the manifest must record what the key hashed
    key = cache_key(dataset, cfg, digest)
    kdir = out / key
    # the manifest is the cache's stamp: written last, it records the key
    if stage_done(kdir / MANIFEST, key):
        write_json(out / LATEST, {"key": key})
        return FeatureCache(kdir)

    n = len(dataset.clips)
    shape = (n, cfg.n_frames, cfg.n_mels)
    state = _load_progress(kdir, key, shape)
    if state is None:
        kdir.mkdir(parents=True, exist_ok=True)
        np.lib.format.open_memmap(kdir / FEATURES, mode="w+", dtype=np.float32, shape=shape).flush()
        state = {"key": key, "done": [], "bad": {}}
        write_json(kdir / PROGRESS, state)
    done = np.zeros(n, bool)
    for a, b in state["done"]:
        done[a:b] = True
    bad: dict[str, str] = dict(state["bad"])

    todo = np.flatnonzero(~done)
    # with workers, at least ~4 chunks each so the last ones do not leave a core idle
    step = max(1, min(chunk_size, -(-todo.size // (4 * workers)) if workers > 0 else chunk_size))
    # split the remaining rows into runs of consecutive rows of at most `step` clips
    breaks = np.flatnonzero(np.diff(todo) != 1) + 1
    runs = [r for r in np.split(todo, breaks) if r.size]
    chunks = [r[i : i + step] for r in runs for i in range(0, r.size, step)]
    paths = [str(dataset.audio_path(c)) for c in dataset.clips]

    feats = np.load(kdir / FEATURES, mmap_mode="r+")
    bar = tqdm(total=n, initial=int(done.sum()), disable=not progress, unit="clip", desc="features")
    try:
        for rows, (arr, errors) in _run_chunks(chunks, paths, cfg, workers):
            if errors and not skip_bad:
                _, cls, msg = errors[0]
                raise cls(f"{msg} (rerun with --skip-bad to record it in {BAD_CLIPS} and go on)")
            for i, _cls, msg in errors:
                bad[dataset.clips[int(rows[i])].filename] = msg
            feats[rows[0] : rows[-1] + 1] = arr
            feats.flush()  # data on disk before the progress record says so
            done[rows] = True
            write_json(kdir / PROGRESS, {"key": key, "done": _ranges(done), "bad": bad})
            bar.update(len(rows))
    finally:
        bar.close()
        del feats

    bad_rows = [
        {"filename": c.filename, "error": bad[c.filename]}
        for c in dataset.clips
        if c.filename in bad
    ]
    if bad_rows:
        buf = io.StringIO()
        w = csv.DictWriter(buf, fieldnames=["filename", "error"])
        w.writeheader()
        w.writerows(bad_rows)
        write_text_atomic(kdir / BAD_CLIPS, buf.getvalue())
    manifest = {
        "format": FORMAT_VERSION,
        "key": key,
        "config": cfg.to_dict(),
        "config_digest": cfg.digest(),
        "files_digest": digest,
        "dataset": str(dataset.root),
        "shape": list(shape),
        "dtype": "float32",
        "names": [c.filename for c in dataset.clips],
        "meta": [clip_to_dict(c) for c in dataset.clips],
        "bad_clips": bad_rows,
        "versions": package_versions(),
        "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }
    write_json(kdir / MANIFEST, manifest)  # last: its presence marks the cache complete
    (kdir / PROGRESS).unlink(missing_ok=True)
    write_json(out / LATEST, {"key": key})
    return FeatureCache(kdir)

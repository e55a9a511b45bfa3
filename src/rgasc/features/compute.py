"""Computing a feature cache: per-clip reuse, resumable chunks, parallel decoding, bad clips.

See :mod:`rgasc.features.cache` for the on-disk layout. A run first decides, clip by clip,
what it can reuse: a row of the last finished state (or of an unfinished update) whose clip
still has the recorded size, mtime *and* content hash (:mod:`rgasc.features.sources`). The
new state gets its own array file; reused rows are copied into it, the rest are computed in
chunks of consecutive clips, each written into the memmap, flushed, and only then recorded
in ``progress.json``. An interrupted run therefore redoes at most the chunk it was in, and,
since every clip's features depend on that clip alone, yields the same bytes as an
uninterrupted run. The resume, bad-clip and flush protocol is the one of
:class:`rgasc.data.clip_job.ClipJob`; this module says what a row is and how the state is
stored.
"""

from __future__ import annotations

import contextlib
import multiprocessing as mp
import os
import time
import uuid
from collections import deque
from collections.abc import Generator, Iterator, Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from rgasc.audio import load_audio
from rgasc.data.clip_job import Bad, ClipJob, skip_bad_hint, write_bad_clips
from rgasc.data.datasets import Clip, DcaseDataset
from rgasc.data.provenance import file_stat, fingerprint, identity
from rgasc.errors import ArtefactError, RgascError
from rgasc.features.cache import (
    BAD_CLIPS,
    FORMAT_VERSION,
    LATEST,
    MANIFEST,
    PROGRESS,
    FeatureCache,
    clip_to_dict,
    warn_short_clips,
)
from rgasc.features.logmel import FeatureConfig, logmel
from rgasc.features.sources import Source, reusable, source
from rgasc.utils import package_versions, read_stamp, text_hash, write_json

DEFAULT_CHUNK = 16  # clips per recorded unit of work: 16 x 320 x 64 x 4 B = 1.3 MB in flight

# (row within chunk, exception class, message): exceptions travel back from workers as data
ChunkErrors = list[tuple[int, type, str]]
# what extract_chunk returns: features, failures, identities
ChunkResult = tuple[np.ndarray, ChunkErrors, list[dict[str, Any] | None]]


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


def cache_key(cfg: FeatureConfig) -> str:
    """The subfolder name: hash of the cache format and the FeatureConfig (not the files:
    rows are reused or recomputed per clip inside it)."""
    return text_hash("features", str(FORMAT_VERSION), cfg.digest())


def state_key(cfg: FeatureConfig, names: Sequence[str], idents: dict[str, Any]) -> str:
    """The key of one state of the cache: the config plus every clip's content."""
    return text_hash(
        cache_key(cfg), *(f"{n}\t{(idents.get(n) or {}).get('sha256', '-')}" for n in names)
    )


def extract_chunk(paths: Sequence[str], cfg: FeatureConfig) -> ChunkResult:
    """Decode, featurise and identify files one after another (runs in a worker process).

    Returns:
        (features (len(paths), n_frames, n_mels) float32 with zero rows for failures,
        the failures as (row, exception class, message), each file's identity).
    """
    from rgasc.audio import check_duration

    out = np.zeros((len(paths), cfg.n_frames, cfg.n_mels), np.float32)
    errors: ChunkErrors = []
    idents: list[dict[str, Any] | None] = []
    with _one_blas_thread():
        for i, p in enumerate(paths):
            try:
                idents.append(identity(p))
            except OSError:
                idents.append(None)
            try:
                x, _ = load_audio(p, sr=cfg.sample_rate)
                check_duration(p, x, cfg.sample_rate, cfg.clip_seconds)
                out[i] = logmel(x, cfg)
                ident = idents[i]
                if ident is not None:  # the decoded length, to tell padded clips apart
                    ident["seconds"] = round(x.shape[-1] / cfg.sample_rate, 4)
            except RgascError as e:
                errors.append((i, type(e), str(e)))
    return out, errors, idents


def _one_blas_thread() -> contextlib.AbstractContextManager[Any]:
    """Run BLAS single-threaded: a multi-threaded sgemm rounds differently, and a cache must
    not depend on how many workers made it (nor oversubscribe the cores they already use)."""
    try:
        from threadpoolctl import threadpool_limits
    except ImportError:  # scikit-learn's dependency; without it results may differ by ~1e-7
        return contextlib.nullcontext()
    return threadpool_limits(1, user_api="blas")


def _run_chunks(
    chunks: list[np.ndarray], paths: Sequence[str], cfg: FeatureConfig, workers: int
) -> Generator[tuple[np.ndarray, ChunkResult], None, None]:
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


def _chunks(todo: Sequence[int], chunk_size: int, workers: int) -> list[np.ndarray]:
    """``todo`` (ascending rows) cut into chunks of consecutive rows, at most ``chunk_size``
    each; with workers, at least ~4 chunks each, so the last ones do not leave a core idle."""
    rows = np.asarray(todo, dtype=np.int64)
    step = max(1, min(chunk_size, -(-rows.size // (4 * workers)) if workers > 0 else chunk_size))
    breaks = np.flatnonzero(np.diff(rows) != 1) + 1
    runs = [r for r in np.split(rows, breaks) if r.size]
    return [r[i : i + step] for r in runs for i in range(0, r.size, step)]


#: One computed row: its features (n_frames, n_mels) and its clip's identity (None: missing).
Row = tuple[np.ndarray, dict[str, Any] | None]


def _outcomes(
    todo: list[int], paths: Sequence[str], cfg: FeatureConfig, workers: int, chunk_size: int
) -> Iterator[list[tuple[int, Row | Bad]]]:
    """Each chunk of ``todo``'s rows as computed by :func:`extract_chunk`, in chunk order;
    a clip that failed is :class:`Bad`, with its identity kept for the bad-clip record."""
    chunks = _run_chunks(_chunks(todo, chunk_size, workers), paths, cfg, workers)
    with contextlib.closing(chunks):  # stopped early: no queued chunk is started
        for rows, (arr, errors, idents) in chunks:
            failed = {j: cls(msg) for j, cls, msg in errors}
            yield [
                (int(row), Bad(failed[j], idents[j]) if j in failed else (arr[j], idents[j]))
                for j, row in enumerate(rows)
            ]


class _NewState:
    """The state being written: its own array file and, in ``progress.json``, the rows it
    holds so far (identities and bad clips), recorded only once those rows are on disk.

    The array is never the finished state's file (that one stays servable, and open
    memmaps of it stay valid); an unfinished run for the same clips is continued in place.
    """

    def __init__(
        self, kdir: Path, cfg: FeatureConfig, names: list[str], partial: Source | None
    ) -> None:
        self.kdir, self.cfg, self.names = kdir, cfg, names
        self.clips: dict[str, dict[str, Any]] = {}  # name -> identity, rows with features
        self.bad: dict[str, dict[str, Any]] = {}  # name -> {"error", "identity"}
        if partial is not None and partial.names == names:
            self.file = partial.file
            self.feats: np.memmap = np.load(self.file, mmap_mode="r+")
        else:
            kdir.mkdir(parents=True, exist_ok=True)
            self.file = kdir / f"features-{uuid.uuid4().hex[:12]}.npy"
            self.feats = np.lib.format.open_memmap(
                self.file, mode="w+", dtype=np.float32, shape=self.shape
            )

    @property
    def shape(self) -> tuple[int, int, int]:
        return (len(self.names), self.cfg.n_frames, self.cfg.n_mels)

    def copy(self, plan: list[tuple[Source, str] | None], sources: list[Source]) -> None:
        """Take the reusable rows and bad records of ``plan`` from their sources, and record."""
        arrays = {s.file: np.load(s.file, mmap_mode="r") for s in sources if s.file != self.file}
        for i, p in enumerate(plan):
            if p is None:
                continue
            src, how = p
            name = self.names[i]
            if how == "bad":
                self.bad[name] = src.bad[name]
                self.feats[i] = 0.0
                continue
            if src.file != self.file or src.rows[name] != i:
                self.feats[i] = arrays[src.file][src.rows[name]]
            self.clips[name] = src.clips[name]
        del arrays
        self.flush()

    def store(self, row: int, value: Row | Bad) -> None:
        """Put one computed row (or a bad clip's zero row) into the array (the job's sink)."""
        name = self.names[row]
        if isinstance(value, Bad):
            self.bad[name] = {"error": value.message, "identity": value.detail}
            self.feats[row] = 0.0  # a continued array may hold an unrecorded older row there
            return
        features, ident = value
        self.feats[row] = features
        if ident is not None:
            self.clips[name] = ident

    def flush(self) -> None:
        """The rows on disk first, then the atomic record that says they are there."""
        self.feats.flush()
        write_json(
            self.kdir / PROGRESS,
            {
                "format": FORMAT_VERSION,
                "config": self.cfg.to_dict(),
                "file": self.file.name,
                "names": self.names,
                "clips": self.clips,
                "bad": self.bad,
            },
        )

    def close(self) -> None:
        del self.feats

    def bad_rows(self) -> list[dict[str, str]]:
        """{"filename", "error"} of the bad clips, in row order."""
        return [{"filename": n, "error": self.bad[n]["error"]} for n in self.names if n in self.bad]

    def manifest(self, dataset: DcaseDataset, listed: Sequence[Clip]) -> dict[str, Any]:
        """The finished state's manifest (see :mod:`rgasc.features.cache`)."""
        names, bad = self.names, self.bad
        idents_all = {nm: self.clips.get(nm) or bad[nm].get("identity") for nm in names}
        return {
            "format": FORMAT_VERSION,
            "key": state_key(self.cfg, names, idents_all),
            "config": self.cfg.to_dict(),
            "config_digest": self.cfg.digest(),
            "files_digest": files_digest(dataset),
            "dataset": str(dataset.root),
            "provenance": fingerprint(dataset.root, names),
            "file": self.file.name,
            "shape": list(self.shape),
            "dtype": "float32",
            "names": names,
            "meta": [clip_to_dict(c) for c in listed],
            "clips": idents_all,
            "bad": bad,
            "bad_clips": self.bad_rows(),
            "versions": package_versions(),
            "created": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        }


def _remove_superseded(kdir: Path, keep: str) -> None:
    """Delete the array files of ``kdir`` that no finished state needs any more."""
    for f in kdir.glob("features*.npy"):
        if f.name != keep:
            f.unlink(missing_ok=True)


def _refuse_lost(names: list[str], paths: list[str], plan: list[Any]) -> None:
    """Raise when a clip is in no source with the content it has now (a merge of shards)."""
    # (a missing file is not lost: it fails at once, as a bad clip, exactly as in one process)
    lost = [nm for nm, p, f in zip(names, plan, paths, strict=True) if p is None and file_stat(f)]
    if lost:
        raise ArtefactError(
            f"{len(lost)} clip(s) are in no shard with the content they have now, e.g. "
            f"{lost[:3]}: the ranks read different files, or the audio changed during the run; "
            "rerun the same command (the shards are kept and checked clip by clip)"
        )


def compute_features(
    dataset: DcaseDataset,
    out: str | os.PathLike[str],
    cfg: FeatureConfig = FeatureConfig(),
    *,
    workers: int = 0,
    skip_bad: bool = False,
    progress: bool = True,
    chunk_size: int = DEFAULT_CHUNK,
    skip_bad_command: str | None = None,
    warn_short: bool = True,
) -> FeatureCache:
    """Bring the features of every clip of ``dataset`` in ``out/SUB/`` up to date.

    Clips whose audio is unchanged (same size, mtime and content hash as when their row was
    made) are reused, from the finished cache or from an interrupted run; the others are
    computed. Rows are in meta.csv order. The returned cache's ``reused`` and ``computed``
    say how many clips were reused and computed by this call (:meth:`FeatureCache.summary`
    counts good and bad clips apart).

    Args:
        dataset: the clips to featurise (decoded with :func:`rgasc.audio.load_audio`).
        out: the cache folder (``open_cache(out)`` opens the result).
        cfg: front-end parameters; they key the subfolder.
        workers: decoding processes; 0 decodes in this process.
        skip_bad: record undecodable, truncated or too short clips in ``bad_clips.csv`` and
            go on (their rows stay zeros and are refused by :meth:`FeatureCache.index`)
            instead of failing.
        progress: show a tqdm progress bar.
        chunk_size: clips per recorded unit of work.
        skip_bad_command: the command that reruns this stage with --skip-bad, for the end
            of the bad-clips error (default: the flag alone).
        warn_short: warn (:func:`~rgasc.features.cache.warn_short_clips`) when clips are
            shorter than ``cfg.clip_seconds`` and so zero-padded; off where the length was
            chosen on purpose.

    Raises:
        AudioError (an RgascError) when ``skip_bad`` is False and clips are bad: raised once
        every clip was tried, it counts them, names the first few and the list in
        ``bad_clips.csv``; Interrupted on Ctrl-C. The good clips' features are kept either
        way, so a rerun computes only what is left.
    """
    cache = update_cache(
        dataset,
        out,
        cfg,
        workers=workers,
        skip_bad=skip_bad,
        progress=progress,
        chunk_size=chunk_size,
        skip_bad_command=skip_bad_command,
    )
    if warn_short:
        warn_short_clips(cache)
    return cache


def update_cache(
    dataset: DcaseDataset,
    out: str | os.PathLike[str],
    cfg: FeatureConfig,
    *,
    clips: Sequence[Clip] | None = None,
    reuse: Sequence[Path] = (),
    only_reuse: bool = False,
    workers: int = 0,
    skip_bad: bool = False,
    progress: bool = True,
    chunk_size: int = DEFAULT_CHUNK,
    skip_bad_command: str | None = None,
) -> FeatureCache:
    """:func:`compute_features` of ``clips`` only, with more sources of rows to reuse.

    The building block of the multi-process run (:mod:`rgasc.features.sharded`): each rank
    updates a cache of its shard of the clips, and rank 0 merges the shards' caches into
    ``out`` by this same update, with nothing left to compute.

    Args:
        dataset, out, cfg, workers, skip_bad, progress, chunk_size, skip_bad_command: as
            for :func:`compute_features`.
        clips: the clips of the cache, in its row order (default: every clip of ``dataset``).
        reuse: more KEY folders whose states (finished or not) hold reusable rows; a row is
            copied after the same per-clip checks (size, mtime, content hash) as any other.
        only_reuse: compute nothing: every clip must be reusable from a source.

    Raises:
        as :func:`compute_features`; with ``only_reuse``, ArtefactError naming the clips that
        no source holds with the content they have now.
    """
    out = Path(out)
    kdir = out / cache_key(cfg)
    listed = list(dataset.clips if clips is None else clips)
    names = [c.filename for c in listed]
    paths = [str(dataset.audio_path(c)) for c in listed]
    finished = source(kdir, read_stamp(kdir / MANIFEST), cfg)
    partial = source(kdir, read_stamp(kdir / PROGRESS), cfg)
    extra = [source(d, read_stamp(d / f), cfg) for d in reuse for f in (PROGRESS, MANIFEST)]
    sources = [s for s in (partial, finished, *extra) if s is not None]
    plan = reusable(names, paths, sources, max(4, workers))
    reused = sum(p is not None for p in plan)
    if only_reuse:
        _refuse_lost(names, paths, plan)

    if (
        finished is not None
        and finished.names == names
        and all(p is not None and p[0] is finished for p in plan)
    ):  # the finished cache is this dataset's: nothing to do
        (kdir / PROGRESS).unlink(missing_ok=True)
        _remove_superseded(kdir, keep=finished.file.name)
        write_json(out / LATEST, {"key": kdir.name})
        return _opened(kdir, reused, 0)

    state = _NewState(kdir, cfg, names, partial)
    try:
        state.copy(plan, sources)
        job: ClipJob[int, Row] = ClipJob(
            lambda todo: _outcomes(todo, paths, cfg, workers, chunk_size),
            state.store,
            state.flush,
            skip_bad=skip_bad,
            hint=skip_bad_hint(skip_bad_command),
            bad_list=lambda bad: _list_bad(kdir / BAD_CLIPS, names, bad),
            stopped=lambda kept, total: (
                f"{kdir}: stopped with {kept} of {total} clips done; they are kept ({PROGRESS})"
            ),
            desc="features",
            progress=progress,
        )
        done = job.run(range(len(names)), done={i for i, p in enumerate(plan) if p is not None})
    finally:
        state.close()

    write_bad_clips(kdir / BAD_CLIPS, {r["filename"]: r["error"] for r in state.bad_rows()})
    write_json(kdir / MANIFEST, state.manifest(dataset, listed))  # last: the commit point
    (kdir / PROGRESS).unlink(missing_ok=True)
    _remove_superseded(kdir, keep=state.file.name)
    write_json(out / LATEST, {"key": kdir.name})
    return _opened(kdir, reused, len(done.done))


def _list_bad(path: Path, names: Sequence[str], bad: Sequence[tuple[int, Bad]]) -> Path:
    """Write the bad clips (rows of ``names``) a failing run found; returns ``path``. A later
    finished run rewrites (or removes) the list, so it always says what the last run found."""
    write_bad_clips(path, {names[row]: b.message for row, b in bad})
    return path


def _opened(kdir: Path, reused: int, computed: int) -> FeatureCache:
    cache = FeatureCache(kdir)
    cache.reused, cache.computed = reused, computed
    return cache

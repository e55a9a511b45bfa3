"""Tag every clip of a dataset with a teacher: the pseudo-label file of ``rgasc tag``.

Layers, so a user can enter at any of them: :meth:`Teacher.tag` (waveforms -> probabilities),
:func:`tag_dataset` (dataset -> :class:`~rgasc.labels.files.PseudoLabels` file).

Clips are decoded on a background thread while the model runs, batched with clips of the
same length (no padding between clips, so a clip's probabilities never depend on its batch
mates), and the results so far are flushed every few batches to ``<out>.partial.npz``. That
file is keyed by the teacher, its checkpoint and the clip list: a rerun of the same command
continues where the interrupted one stopped; any other run starts afresh. A rerun after a
finished run reuses the rows of ``<out>`` that it would compute identically (same teacher,
options and versions, same audio content: :mod:`rgasc.labels.reuse`). That resume,
bad-clip and flush protocol is :class:`rgasc.data.clip_job.ClipJob`'s (shared with
``rgasc features``); this module says how clips are tagged and how results are stored.
"""

from __future__ import annotations

import json
import os
from collections.abc import Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from rgasc import __version__
from rgasc.artefacts import BAD_CLIPS_FILE
from rgasc.audio import check_duration, load_audio
from rgasc.data.clip_job import Bad, ClipJob, skip_bad_hint, write_bad_clips
from rgasc.data.datasets import Clip, DcaseDataset
from rgasc.data.provenance import clip_list_hash, content_hash
from rgasc.errors import ArtefactError, AudioError, AudioMissingError, TeacherError
from rgasc.labels.files import PseudoLabels, read_strings, write_labels
from rgasc.labels.reuse import made_with, reusable_rows
from rgasc.teachers.base import NameTeacher, Teacher
from rgasc.utils import atomic_path, text_hash

FLUSH_EVERY = 4  # batches between partial-result flushes (a flush rewrites the .npz)
PREFETCH = 16  # clips decoded ahead of the model, bounding memory to a few clips


def partial_path(out: Path) -> Path:
    """Where the partial results of ``out`` are kept while tagging."""
    return out.with_name(out.name + ".partial.npz")


def bad_clips_path(out: Path) -> Path:
    """Where the clips left out of ``out`` are listed: ``<out>.bad_clips.csv``, one list per
    label file (a fixed name beside it would be overwritten by the next run)."""
    return out.with_name(f"{out.name}.{BAD_CLIPS_FILE}")


def tag_command(dataset: str | os.PathLike[str], teacher: str, out: str | os.PathLike[str]) -> str:
    """The ``rgasc tag`` command that (re)makes the label file ``out``."""
    import shlex

    return shlex.join(
        ["rgasc", "tag", "--dataset", str(dataset), "--teacher", teacher, "--out", str(out)]
    )


def tag_run_key(teacher: Teacher, dataset: DcaseDataset, clips: Sequence[Clip], emb: bool) -> str:
    """The identity of a tagging run: teacher, weights, options, dataset, clip list, and
    whether embeddings are kept.

    A partial file (or, for ``--devices``, a finished shard) recorded under any other key
    belongs to another run: it is never resumed, so labels of two runs cannot mix.
    """
    options = getattr(teacher, "options", {})
    return text_hash(
        teacher.name,
        teacher.checkpoint_sha256 or "",
        str(sorted(options.items())),
        str(dataset.root.resolve()),
        "\n".join(c.filename for c in clips),
        str(emb),
        n=32,
    )


#: One tagged clip: probabilities [E], its embedding [D] (if kept), its audio's content hash
#: (None when tagged by name).
Tagged = tuple[np.ndarray, np.ndarray | None, str | None]


class _Progress:
    """Results gathered so far: probabilities (and embeddings) per clip name, bad clips."""

    def __init__(self) -> None:
        self.probs: dict[str, np.ndarray] = {}
        self.emb: dict[str, np.ndarray] = {}
        self.bad: dict[str, str] = {}
        self.hashes: dict[str, str] = {}  # content hash of each tagged clip's audio

    def store(self, clip: Clip, value: Tagged | Bad) -> None:
        """Keep one clip's outcome (the :class:`ClipJob`'s sink)."""
        if isinstance(value, Bad):
            self.bad[clip.filename] = value.message
            return
        probs, emb, content = value
        self.probs[clip.filename] = probs
        if emb is not None:
            self.emb[clip.filename] = emb
        if content is not None:
            self.hashes[clip.filename] = content

    def save(self, path: Path, key: str) -> None:
        names = list(self.probs)
        arrays: dict[str, Any] = {
            "key": np.array(key),
            "names": np.array(names, dtype=str),
            "hashes": np.array([self.hashes.get(n, "") for n in names], dtype=str),
            "probs": np.stack([self.probs[n] for n in names]) if names else np.zeros((0, 0)),
            "bad_names": np.array(list(self.bad), dtype=str),
            "bad_errors": np.array(list(self.bad.values()), dtype=str),
        }
        if self.emb:
            arrays["emb"] = np.stack([self.emb[n] for n in names])
        with atomic_path(path) as tmp, open(tmp, "wb") as f:
            np.savez(f, **arrays)

    @classmethod
    def load(cls, path: Path, key: str) -> _Progress | None:
        """The saved progress if it belongs to this run, else ``None`` (start afresh)."""
        try:
            with np.load(path, allow_pickle=False) as z:
                if str(z["key"]) != key:
                    return None
                p = cls()
                names = [str(n) for n in z["names"]]
                p.probs = dict(zip(names, z["probs"], strict=True))
                if "hashes" in z:
                    p.hashes = {n: str(h) for n, h in zip(names, z["hashes"], strict=True) if h}
                if "emb" in z:
                    p.emb = dict(zip(names, z["emb"], strict=True))
                p.bad = dict(zip(map(str, z["bad_names"]), map(str, z["bad_errors"]), strict=True))
                return p
        except (OSError, ValueError, KeyError):
            return None  # unreadable (e.g. killed mid-write): redo the work


Loaded = tuple[np.ndarray, str] | AudioError  # (waveform, content hash) or why not


def typical_seconds(dataset: DcaseDataset, clips: Sequence[Clip]) -> float | None:
    """The median duration the clips' headers declare (the dataset's clip length), or None."""
    import soundfile as sf

    seconds = []
    for c in clips:
        try:
            info = sf.info(str(dataset.audio_path(c)))
        except (RuntimeError, OSError):  # unreadable: its decode will say why
            continue
        if info.samplerate > 0 and info.frames > 0:
            seconds.append(info.frames / info.samplerate)
    return float(np.median(seconds)) if seconds else None


def _prefetch(
    dataset: DcaseDataset, clips: Sequence[Clip], sr: int, window: float | None
) -> Iterator[tuple[Clip, Loaded]]:
    """Yield (clip, (waveform, hash) or the AudioError it raised), PREFETCH clips ahead.

    ``window``: the clip length of the dataset; a clip far shorter is an AudioTooShortError.
    """

    def load(c: Clip) -> Loaded:
        path = dataset.audio_path(c)
        try:
            x = load_audio(path, sr=sr)[0]
            if window is not None:
                check_duration(path, x, sr, window)
            return x, content_hash(path)
        except AudioError as e:
            return e
        except OSError as e:  # vanished between decode and hash
            return AudioMissingError(f"{path}: cannot be read ({e})")

    with ThreadPoolExecutor(max_workers=1) as pool:
        pending: list[tuple[Clip, Future[Loaded]]] = []
        it = iter(clips)
        for c in it:
            pending.append((c, pool.submit(load, c)))
            if len(pending) >= PREFETCH:
                break
        while pending:
            c, fut = pending.pop(0)
            nxt = next(it, None)
            if nxt is not None:
                pending.append((nxt, pool.submit(load, nxt)))
            yield c, fut.result()


def _predict(
    teacher: Teacher, batch: np.ndarray, embeddings: bool
) -> tuple[np.ndarray, np.ndarray | None]:
    """(B, samples) -> probabilities (B, E) and, if asked, embeddings (B, D)."""
    both = getattr(teacher, "tag_and_embed", None)
    if embeddings and callable(both):
        probs, emb = both(batch)
        return probs, emb
    probs = teacher.tag(batch)
    if not embeddings:
        return probs, None
    emb = teacher.embed(batch)
    if emb is None:
        raise TeacherError(f"teacher {teacher.name!r} has no embedding; drop --embeddings")
    return probs, emb


def tag_dataset(
    dataset: DcaseDataset,
    teacher: Teacher,
    out: str | os.PathLike[str],
    *,
    batch_size: int = 8,
    device: str = "cpu",
    skip_bad: bool = False,
    progress: bool = True,
    clips: Sequence[Clip] | None = None,
    embeddings: bool = False,
    clip_seconds: float | None = None,
    skip_bad_command: str | None = None,
) -> PseudoLabels:
    """Tag clips with ``teacher`` and write the pseudo-label file ``out`` (.h5 or .csv).

    Args:
        dataset: the dataset; its clips are read with :func:`rgasc.audio.load_audio`,
            resampled to ``teacher.sample_rate`` (full length, no crop).
        teacher: any :class:`Teacher`; a :class:`NameTeacher` is asked by clip name instead.
        out: output path; the format follows the suffix.
        batch_size: clips per model call.
        device: where the model runs ("cpu", "cuda").
        skip_bad: leave out clips that cannot be decoded, are truncated or too short, and
            list them in ``<out>.bad_clips.csv`` (and the file's ``bad_clips`` attribute);
            otherwise, once every clip was tried, one :class:`AudioError` lists them.
        progress: show a tqdm bar.
        clips: the clips to tag; default every clip of meta.csv.
        embeddings: also store the model's clip embeddings ([clips, D] dataset ``embedding``,
            .h5 only; read back with :func:`read_embeddings`).
        clip_seconds: the dataset's clip length, for the too-short rule of
            :mod:`rgasc.audio` (default: the median duration the clips' headers declare).
        skip_bad_command: the command that reruns this stage with --skip-bad, for the end
            of the bad-clips error (default: the flag alone).

    Raises:
        AudioError listing the bad clips (without ``skip_bad``; the list is written to
        ``<out>.bad_clips.csv``); Interrupted on Ctrl-C. In both cases the clips tagged so
        far are kept in ``<out>.partial.npz``: a rerun tags only the others.

    Returns:
        the pseudo-labels written (rows in ``clips`` order, bad clips left out); their
        ``reused`` says how many rows were reused from the label file ``out`` already held
        (see :mod:`rgasc.labels.reuse`: only rows this run would compute identically).
    """
    out = Path(out)
    if out.suffix.lower() not in (".h5", ".hdf5", ".csv"):
        raise ArtefactError(f"{out}: unknown label format; use a .h5 or .csv suffix")
    if embeddings and out.suffix.lower() == ".csv":
        raise ArtefactError(f"{out}: --embeddings needs an .h5 output")
    if batch_size < 1:
        raise ValueError(f"batch_size must be >= 1, got {batch_size}")
    clips = list(dataset.clips if clips is None else clips)
    if isinstance(teacher, NameTeacher) and embeddings:
        raise TeacherError(f"teacher {teacher.name!r} has no embedding; drop --embeddings")
    teacher.to(device)

    key = tag_run_key(teacher, dataset, clips, embeddings)
    part = partial_path(out)
    state = (_Progress.load(part, key) if part.is_file() else None) or _Progress()
    # rows of a finished OUT that this run would compute identically (same teacher, options
    # and versions; same audio by content hash): a rerun reuses them
    reusable = reusable_rows(out, teacher, dataset, clips, embeddings)
    for c in clips:
        if c.filename in reusable and c.filename not in state.probs:
            state.store(c, reusable[c.filename])

    def compute(todo: list[Clip]) -> Iterator[list[tuple[Clip, Tagged | Bad]]]:
        if isinstance(teacher, NameTeacher):
            return _tag_names(teacher, todo, batch_size)
        return _tag_audio(teacher, dataset, todo, batch_size, embeddings, clip_seconds)

    job: ClipJob[Clip, Tagged] = ClipJob(
        compute,
        state.store,
        lambda: state.save(part, key),
        skip_bad=skip_bad,
        hint=skip_bad_hint(skip_bad_command),
        bad_list=lambda bad: _list_bad(bad_clips_path(out), bad),
        stopped=lambda kept, total: (
            f"{out}: stopped with {kept} of {total} clips tagged; they are kept in {part}"
        ),
        flush_every=FLUSH_EVERY,
        desc=f"tag {teacher.name}",
        progress=progress,
    )
    job.run(clips, done={c for c in clips if c.filename in state.probs or c.filename in state.bad})

    done = [c for c in clips if c.filename in state.probs]
    if not done:
        raise ArtefactError(f"{dataset.root}: no clip could be tagged (see {bad_clips_path(out)})")
    pl = _pseudo_labels(state, teacher, dataset, clips, done)
    write_labels(out, pl, np.stack([state.emb[c.filename] for c in done]) if embeddings else None)
    write_bad_clips(bad_clips_path(out), state.bad)  # or remove an earlier run's list
    part.unlink(missing_ok=True)
    pl.reused = sum(c.filename in reusable for c in done)
    return pl


def _list_bad(path: Path, bad: Sequence[tuple[Clip, Bad]]) -> Path:
    """Write the bad clips a failing run found; returns ``path`` (the finished run's own
    list replaces it, or removes it when no clip is bad)."""
    write_bad_clips(path, {c.filename: b.message for c, b in bad})
    return path


def _tag_audio(
    teacher: Teacher,
    dataset: DcaseDataset,
    todo: Sequence[Clip],
    batch_size: int,
    embeddings: bool,
    clip_seconds: float | None,
) -> Iterator[list[tuple[Clip, Tagged | Bad]]]:
    """Decode ``todo`` ahead of the model and tag it in batches of equal-length waveforms.

    A batch runs when full or, while many lengths are pending, the largest one runs early
    to bound memory. Undecodable clips come out at once, one per batch.
    """
    window = clip_seconds or typical_seconds(dataset, dataset.clips)
    buckets: dict[int, list[tuple[Clip, np.ndarray, str]]] = {}
    for c, loaded in _prefetch(dataset, todo, teacher.sample_rate, window):
        if isinstance(loaded, AudioError):
            yield [(c, Bad(loaded))]
            continue
        wav, content = loaded
        bucket = buckets.setdefault(wav.shape[-1], [])
        bucket.append((c, wav, content))
        if len(bucket) >= batch_size:
            yield _tag_batch(teacher, buckets.pop(wav.shape[-1]), embeddings)
        elif sum(map(len, buckets.values())) >= 4 * batch_size:
            largest = max(buckets, key=lambda n: len(buckets[n]))
            yield _tag_batch(teacher, buckets.pop(largest), embeddings)
    for n in list(buckets):
        yield _tag_batch(teacher, buckets.pop(n), embeddings)


def _tag_batch(
    teacher: Teacher, batch: list[tuple[Clip, np.ndarray, str]], embeddings: bool
) -> list[tuple[Clip, Tagged | Bad]]:
    probs, emb = _predict(teacher, np.stack([w for _, w, _ in batch]), embeddings)
    return [
        (
            c,
            (
                np.asarray(probs[i], np.float32),
                None if emb is None else np.asarray(emb[i], np.float32),
                content,
            ),
        )
        for i, (c, _, content) in enumerate(batch)
    ]


def _tag_names(
    teacher: NameTeacher, todo: Sequence[Clip], batch_size: int
) -> Iterator[list[tuple[Clip, Tagged | Bad]]]:
    """Tag ``todo`` by clip name (no audio is read, so no clip is bad)."""
    for i in range(0, len(todo), batch_size):
        chunk = todo[i : i + batch_size]
        rows = teacher.tag_names([c.filename for c in chunk])
        yield [
            (c, (np.asarray(r, np.float32), None, None)) for c, r in zip(chunk, rows, strict=True)
        ]


def _pseudo_labels(
    state: _Progress,
    teacher: Teacher,
    dataset: DcaseDataset,
    clips: Sequence[Clip],
    done: Sequence[Clip],
) -> PseudoLabels:
    """The label file's contents: the ``done`` clips' rows and the run's provenance."""
    return PseudoLabels(
        filenames=[c.filename for c in done],
        probs=np.stack([state.probs[c.filename] for c in done]),
        labels=list(teacher.labels),
        attrs={
            **made_with(teacher),  # teacher, weights, options, sample rate, versions
            "rgasc_version": __version__,
            "dataset_root": str(dataset.root.resolve()),
            "dataset_clips": clip_list_hash(c.filename for c in clips),
            "n_bad_clips": len(state.bad),
            "bad_clips": json.dumps(sorted(state.bad)),
        },
        hashes=[state.hashes.get(c.filename, "") for c in done] if state.hashes else None,
    )


def read_embeddings(path: str | os.PathLike[str]) -> tuple[list[str], np.ndarray]:
    """The clip embeddings stored by ``tag_dataset(..., embeddings=True)``.

    Returns:
        (file names, float32 array [clips, D]) in the file's row order.

    Raises:
        ArtefactError: not an .h5 label file, or one written without embeddings.
    """
    path = Path(path)
    if not path.is_file():
        raise ArtefactError(f"{path}: no such label file; make one with `rgasc tag`")
    if path.suffix.lower() not in (".h5", ".hdf5"):
        raise ArtefactError(f"{path}: embeddings are stored only in .h5 label files")
    import h5py

    with h5py.File(path, "r") as f:
        if "embedding" not in f:
            raise ArtefactError(f"{path}: holds no embeddings; re-run `rgasc tag ... --embeddings`")
        names = read_strings(f["filename"], path)
        emb = np.asarray(f["embedding"][()], dtype=np.float32)
    return names, emb

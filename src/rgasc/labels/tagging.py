"""Tag every clip of a dataset with a teacher: the pseudo-label file of ``rgasc tag``.

Layers, so a user can enter at any of them: :meth:`Teacher.tag` (waveforms -> probabilities),
:func:`tag_dataset` (dataset -> :class:`~rgasc.labels.files.PseudoLabels` file).

Clips are decoded on a background thread while the model runs, batched with clips of the
same length (no padding between clips, so a clip's probabilities never depend on its batch
mates), and the results so far are flushed every few batches to ``<out>.partial.npz``. That
file is keyed by the teacher, its checkpoint and the clip list: a rerun of the same command
continues where the interrupted one stopped; any other run starts afresh.
"""

from __future__ import annotations

import csv
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
from rgasc.data.datasets import Clip, DcaseDataset
from rgasc.data.provenance import clip_list_hash, content_hash
from rgasc.errors import ArtefactError, AudioError, AudioMissingError, Interrupted, TeacherError
from rgasc.labels.files import PseudoLabels, read_strings, write_labels
from rgasc.teachers.base import NameTeacher, Teacher
from rgasc.utils import atomic_path, installed_versions, package_versions, text_hash

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

    return shlex.join(["rgasc", "tag", str(dataset), "--teacher", teacher, "--out", str(out)])


def _run_key(teacher: Teacher, dataset: DcaseDataset, clips: Sequence[Clip], emb: bool) -> str:
    """Identity of a run: a partial file made by any other run must not be resumed."""
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


class _Progress:
    """Results gathered so far: probabilities (and embeddings) per clip name, bad clips."""

    def __init__(self) -> None:
        self.probs: dict[str, np.ndarray] = {}
        self.emb: dict[str, np.ndarray] = {}
        self.bad: dict[str, str] = {}
        self.hashes: dict[str, str] = {}  # content hash of each tagged clip's audio

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
            otherwise the first bad clip raises its :class:`AudioError`.
        progress: show a tqdm bar.
        clips: the clips to tag; default every clip of meta.csv.
        embeddings: also store the model's clip embeddings ([clips, D] dataset ``embedding``,
            .h5 only; read back with :func:`read_embeddings`).
        clip_seconds: the dataset's clip length, for the too-short rule of
            :mod:`rgasc.audio` (default: the median duration the clips' headers declare).

    Raises:
        AudioError for a bad clip (without ``skip_bad``); Interrupted on Ctrl-C (the clips
        done so far are kept in ``<out>.partial.npz``: the same command continues).

    Returns:
        the pseudo-labels written (rows in ``clips`` order, bad clips left out).
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

    key = _run_key(teacher, dataset, clips, embeddings)
    part = partial_path(out)
    state = (_Progress.load(part, key) if part.is_file() else None) or _Progress()
    todo = [c for c in clips if c.filename not in state.probs and c.filename not in state.bad]

    from tqdm.auto import tqdm

    bar = tqdm(
        total=len(clips),
        initial=len(clips) - len(todo),
        unit="clip",
        desc=f"tag {teacher.name}",
        disable=not progress,
    )
    batches_since_flush = 0

    def run(batch: list[tuple[Clip, np.ndarray]]) -> None:
        nonlocal batches_since_flush
        probs, emb = _predict(teacher, np.stack([w for _, w in batch]), embeddings)
        for i, (c, _) in enumerate(batch):
            state.probs[c.filename] = np.asarray(probs[i], dtype=np.float32)
            if emb is not None:
                state.emb[c.filename] = np.asarray(emb[i], dtype=np.float32)
        bar.update(len(batch))
        batches_since_flush += 1
        if batches_since_flush >= FLUSH_EVERY:
            state.save(part, key)
            batches_since_flush = 0

    try:
        if isinstance(teacher, NameTeacher):
            for i in range(0, len(todo), batch_size):
                chunk = todo[i : i + batch_size]
                rows = teacher.tag_names([c.filename for c in chunk])
                for c, r in zip(chunk, rows, strict=True):
                    state.probs[c.filename] = np.asarray(r, dtype=np.float32)
                bar.update(len(chunk))
        else:
            # buckets of equal-length waveforms; a bucket runs when full, or (if many
            # lengths are pending) the largest one runs early to bound memory
            buckets: dict[int, list[tuple[Clip, np.ndarray]]] = {}
            window = clip_seconds or typical_seconds(dataset, dataset.clips)
            for c, loaded in _prefetch(dataset, todo, teacher.sample_rate, window):
                if isinstance(loaded, AudioError):
                    if not skip_bad:
                        raise type(loaded)(
                            f"{loaded} (rerun with --skip-bad to leave it out and go on)"
                        ) from loaded
                    state.bad[c.filename] = str(loaded)
                    bar.update(1)
                    continue
                wav, state.hashes[c.filename] = loaded
                bucket = buckets.setdefault(wav.shape[-1], [])
                bucket.append((c, wav))
                if len(bucket) >= batch_size:
                    run(buckets.pop(wav.shape[-1]))
                elif sum(map(len, buckets.values())) >= 4 * batch_size:
                    run(buckets.pop(max(buckets, key=lambda n: len(buckets[n]))))
            for n in list(buckets):
                run(buckets.pop(n))
    except KeyboardInterrupt as e:
        state.save(part, key)  # keep what is done, so a rerun resumes here
        bar.close()
        raise Interrupted(
            f"{out}: stopped with {len(state.probs) + len(state.bad)} of {len(clips)} clips "
            f"tagged; they are kept in {part}",
            same_command=True,
        ) from e
    except BaseException:
        state.save(part, key)  # keep what is done, so a rerun resumes here
        bar.close()
        raise
    bar.close()

    done = [c for c in clips if c.filename in state.probs]
    if not done:
        raise ArtefactError(f"{dataset.root}: no clip could be tagged (see {bad_clips_path(out)})")
    pl = PseudoLabels(
        filenames=[c.filename for c in done],
        probs=np.stack([state.probs[c.filename] for c in done]),
        labels=list(teacher.labels),
        attrs={
            "teacher": teacher.name,
            "checkpoint_sha256": teacher.checkpoint_sha256 or "",
            "sample_rate": int(teacher.sample_rate),
            "rgasc_version": __version__,
            # a teacher's outputs move with its runtime's version (int8 YAMNet under another
            # onnxruntime): recorded, so two label files that differ can be told apart
            "versions": json.dumps({**package_versions(), **installed_versions()}, sort_keys=True),
            "dataset_root": str(dataset.root.resolve()),
            "dataset_clips": clip_list_hash(c.filename for c in clips),
            "n_bad_clips": len(state.bad),
            "bad_clips": json.dumps(sorted(state.bad)),
        },
        hashes=[state.hashes.get(c.filename, "") for c in done] if state.hashes else None,
    )
    emb_rows = np.stack([state.emb[c.filename] for c in done]) if embeddings else None
    _write(out, pl, emb_rows)
    bad_file = bad_clips_path(out)
    if state.bad:
        _write_bad(bad_file, state.bad)
    else:
        bad_file.unlink(missing_ok=True)  # no stale list of an earlier run
    part.unlink(missing_ok=True)
    return pl


def _write(out: Path, pl: PseudoLabels, emb: np.ndarray | None) -> None:
    """Write the label file; with embeddings, add them before the file gets its final name."""
    if emb is None:
        write_labels(out, pl)
        return
    import h5py

    tmp = out.with_name(f".{out.stem}.{os.getpid()}.writing{out.suffix}")
    try:
        write_labels(tmp, pl)
        with h5py.File(tmp, "a") as f:
            f.create_dataset("embedding", data=emb.astype(np.float32))
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)


def _write_bad(path: Path, bad: dict[str, str]) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["filename", "error"])
        for name, err in bad.items():
            w.writerow([name, err])


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

"""Reusing a finished pseudo-label file: what a rerun of ``rgasc tag`` need not compute.

A row of the label file ``OUT`` is reused for a clip only when it is exactly what the run
would compute now, as the feature cache reuses its rows (:mod:`rgasc.features.compute`):

- the file was made *with* the same teacher, weights, options (pooling, engine, gain...),
  sample rate and library versions (:func:`made_with`: the attributes ``rgasc tag`` records),
  with the same event labels, and holds embeddings when they are asked for;
- a teacher that listens: the clip's audio has the content hash recorded for its row (so a
  re-exported clip is tagged again, whatever its name, size or modification time);
- a teacher that reads names (annotations): its annotation file's hash is the recorded
  checkpoint hash, and the row is the clip's by name (its labels depend on nothing else).

Clips the file left out as bad are never reused: they are tried again (they fail fast).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from rgasc.data.datasets import Clip, DcaseDataset
from rgasc.data.provenance import content_hash
from rgasc.errors import ArtefactError
from rgasc.labels.files import PseudoLabels, read_labels, read_strings
from rgasc.teachers.base import NameTeacher, Teacher
from rgasc.utils import installed_versions, package_versions

#: One reusable row: probabilities [E], embedding [D] (or None), the audio's content hash
#: (None for a teacher that reads names).
Row = tuple[np.ndarray, np.ndarray | None, str | None]
#: Threads hashing audio (I/O bound).
HASH_THREADS = 4


def made_with(teacher: Teacher) -> dict[str, Any]:
    """The attributes of a label file that say how its probabilities were made."""
    return {
        "teacher": teacher.name,
        "checkpoint_sha256": teacher.checkpoint_sha256 or "",
        # how the teacher ran (pooling, engine...): another setting, other probabilities
        "teacher_options": json.dumps(getattr(teacher, "options", {}), sort_keys=True),
        "sample_rate": int(teacher.sample_rate),
        # a teacher's outputs move with its runtime's version (int8 YAMNet under another
        # onnxruntime): recorded, so two label files that differ can be told apart
        "versions": json.dumps({**package_versions(), **installed_versions()}, sort_keys=True),
    }


def _same_run(old: PseudoLabels, teacher: Teacher) -> bool:
    want = made_with(teacher)
    return list(old.labels) == list(teacher.labels) and all(
        str(old.attrs.get(k, "")) == str(v) for k, v in want.items()
    )


def _embeddings(out: Path, n: int) -> np.ndarray | None:
    """The file's embedding rows [n, D], or None when it holds none (or unreadable ones)."""
    if out.suffix.lower() not in (".h5", ".hdf5"):
        return None
    import h5py

    try:
        with h5py.File(out, "r") as f:
            if "embedding" not in f or len(read_strings(f["filename"], out)) != n:
                return None
            return np.asarray(f["embedding"][()], dtype=np.float32)
    except (OSError, ArtefactError):
        return None


def _hashes(paths: Sequence[Path]) -> list[str | None]:
    """Content hashes of ``paths`` (None for a file that cannot be read)."""

    def one(p: Path) -> str | None:
        try:
            return content_hash(p)
        except OSError:
            return None

    if len(paths) < 2:
        return [one(p) for p in paths]
    with ThreadPoolExecutor(max_workers=HASH_THREADS) as pool:
        return list(pool.map(one, paths))


def reusable_rows(
    out: str | Path,
    teacher: Teacher,
    dataset: DcaseDataset,
    clips: Sequence[Clip],
    embeddings: bool,
) -> dict[str, Row]:
    """Rows of the finished label file ``out`` that this run would compute identically.

    Args:
        out: the label file the run writes (nothing is reused when it does not exist, is
            unreadable, or was made otherwise: see the module's docstring).
        teacher, dataset, clips, embeddings: the run.

    Returns:
        clip file name -> its reusable row, for the clips of ``clips`` that have one.
    """
    out = Path(out)
    if not out.is_file():
        return {}
    try:
        old = read_labels(out)
    except (ArtefactError, OSError, ValueError):
        return {}  # torn or foreign: tag afresh (and overwrite it)
    if not _same_run(old, teacher):
        return {}
    emb = _embeddings(out, len(old.filenames)) if embeddings else None
    if embeddings and emb is None:
        return {}
    rows = {k: i for i, k in enumerate(old.keys())}
    recorded = old.hashes or [""] * len(old.filenames)
    by_name = isinstance(teacher, NameTeacher)
    candidates = [c for c in clips if c.key in rows and (by_name or recorded[rows[c.key]])]
    now = (
        [None] * len(candidates)
        if by_name
        else _hashes([dataset.audio_path(c) for c in candidates])
    )
    found: dict[str, Row] = {}
    for c, h in zip(candidates, now, strict=True):
        i = rows[c.key]
        if by_name or (h is not None and h == recorded[i]):
            found[c.filename] = (old.probs[i], None if emb is None else emb[i], h)
    return found

"""AudioSet's class label file (``class_labels_indices.csv``): fetch, validate, read.

The PANNs checkpoints output 527 AudioSet classes in the order of this file. Copies of the
file differ in quoting, so it is validated by its shape (header ``index,mid,display_name``,
527 rows, indices 0..526 in order), not by a checksum.
"""

from __future__ import annotations

import csv
import os
from pathlib import Path

from rgasc.errors import TeacherError
from rgasc.teachers.base import resolve_file

AUDIOSET_LABELS_URL = (
    "http://storage.googleapis.com/us_audioset/youtube_corpus/v1/csv/class_labels_indices.csv"
)
AUDIOSET_LABELS_FILE = "class_labels_indices.csv"
AUDIOSET_CLASSES = 527

LABELS_HINT = (
    "pass `--class-labels PATH` (Python: labels=PATH) with AudioSet's class_labels_indices.csv "
    f"(527 rows, header index,mid,display_name), from {AUDIOSET_LABELS_URL} or the PANNs "
    "repository's metadata/class_labels_indices.csv"
)


def read_class_map(
    path: str | os.PathLike[str], n_classes: int | None = None
) -> tuple[list[str], list[str]]:
    """Read an ``index,mid,display_name`` CSV (AudioSet's or YAMNet's class map).

    Args:
        path: the CSV.
        n_classes: required number of rows, or ``None`` for any.

    Returns:
        (mids, display names), each of length ``n_classes``, in index order.

    Raises:
        TeacherError: wrong header, row count, or index order; names the file.
    """
    path = Path(path)
    try:
        with open(path, newline="", encoding="utf-8") as f:
            rows = [r for r in csv.reader(f) if r]
    except OSError as e:
        raise TeacherError(f"{path}: cannot read the class label file ({e})") from e
    except UnicodeDecodeError as e:
        raise TeacherError(f"{path}: not a UTF-8 text CSV ({e})") from e
    header = [h.strip().lower() for h in rows[0]] if rows else []
    if header[:3] != ["index", "mid", "display_name"]:
        raise TeacherError(
            f"{path}: expected the header 'index,mid,display_name', got {rows[0] if rows else []}"
        )
    body = rows[1:]
    if n_classes is not None and len(body) != n_classes:
        raise TeacherError(
            f"{path}: {len(body)} classes, expected {n_classes}; this is not the label file "
            "of this model"
        )
    mids, names = [], []
    for i, r in enumerate(body):
        if len(r) < 3 or r[0].strip() != str(i):
            raise TeacherError(f"{path}: row {i + 2} should start with index {i}, got {r[:1]}")
        mids.append(r[1].strip())
        names.append(r[2].strip())
    return mids, names


def audioset_labels(path: str | os.PathLike[str] | None = None) -> tuple[list[str], list[str]]:
    """AudioSet's 527 (mids, display names): from ``path``, or downloaded once and cached.

    Raises:
        TeacherError: offline without ``path`` (saying what to pass), or a malformed file.
    """
    file, _ = resolve_file(path, AUDIOSET_LABELS_URL, AUDIOSET_LABELS_FILE, LABELS_HINT)
    return read_class_map(file, AUDIOSET_CLASSES)

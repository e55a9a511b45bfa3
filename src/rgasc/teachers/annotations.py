"""Ground-truth event annotations as a teacher: multi-hot presence from ``events.csv``.

With annotations as the teacher, the pseudo-labels are exact, which separates the quality of
the teacher from the method itself. ``events.csv`` (written by ``rgasc synth``) lives in the
dataset root and is tab-separated with a header::

    filename<TAB>event_label<TAB>onset<TAB>offset

A clip with no events may appear with an empty ``event_label`` or not at all; its target is
all zeros. Optional label noise flips each (clip, event) entry with probability ``noise``,
seeded per clip, to mimic an imperfect tagger in demos.
"""

from __future__ import annotations

import csv
import os
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rgasc.artefacts import EVENTS_FILE
from rgasc.data.datasets import clip_key
from rgasc.errors import TeacherError
from rgasc.teachers.base import register_teacher
from rgasc.utils import file_hash


def read_events(path: str | os.PathLike[str]) -> dict[str, set[str]]:
    """``events.csv`` -> {clip key: set of event labels present}.

    Raises:
        TeacherError: missing file or no ``filename``/``event_label`` columns.
    """
    path = Path(path)
    if not path.is_file():
        raise TeacherError(
            f"{path}: no events.csv; the annotations teacher needs a dataset with event "
            "annotations (e.g. one made by `rgasc synth`), or use a model teacher "
            "(--teacher yamnet / panns-cnn14-16k)"
        )
    with open(path, newline="", encoding="utf-8") as f:
        rows = [r for r in csv.reader(f, delimiter="\t") if r]
    header = [h.strip() for h in rows[0]] if rows else []
    if "filename" not in header or "event_label" not in header:
        raise TeacherError(
            f"{path}: header must be tab-separated and contain 'filename' and 'event_label' "
            f"(got {rows[0] if rows else []!r})"
        )
    fi, ei = header.index("filename"), header.index("event_label")
    events: dict[str, set[str]] = {}
    for r in rows[1:]:
        # a clip listed with no event still counts as annotated (all-zero target)
        present = events.setdefault(clip_key(r[fi].strip()), set())
        label = r[ei].strip() if len(r) > ei else ""
        if label:
            present.add(label)
    return events


class AnnotationTeacher:
    """Multi-hot targets from annotations; works on clip names (:meth:`tag_names`).

    Args:
        events: path of ``events.csv``.
        noise: probability of flipping each label, in [0, 0.5]; 0 = exact labels.
        seed: seed of the label noise (the flips of a clip depend only on seed and clip name,
            not on batching or order).
    """

    sample_rate = 0  # reads no audio

    def __init__(self, events: str | os.PathLike[str], noise: float = 0.0, seed: int = 0) -> None:
        if not 0.0 <= noise <= 0.5:
            raise TeacherError(f"noise must be in [0, 0.5] (flip probability), got {noise}")
        self.events_path = Path(events)
        self._events = read_events(self.events_path)
        self.labels: list[str] = sorted({e for evs in self._events.values() for e in evs})
        if not self.labels:
            raise TeacherError(f"{self.events_path}: no event labels found")
        self.mids: list[str] | None = None
        self.name = "annotations"
        self.noise = float(noise)
        self.seed = int(seed)
        self.checkpoint_sha256: str | None = file_hash(self.events_path, "sha256")
        self.options: dict[str, Any] = {"noise": self.noise, "seed": self.seed}
        self._index = {e: i for i, e in enumerate(self.labels)}

    def tag_names(self, names: Sequence[str]) -> np.ndarray:
        """Clip names -> multi-hot float32 [N, E] (rows of unannotated clips are zeros).

        Raises:
            TeacherError: none of the names is in events.csv (wrong dataset).
        """
        keys = [clip_key(n) for n in names]
        if keys and not any(k in self._events for k in keys):
            raise TeacherError(
                f"{self.events_path}: none of the {len(keys)} clips (e.g. {keys[:2]}) is "
                "annotated; the events file belongs to another dataset"
            )
        out = np.zeros((len(keys), len(self.labels)), dtype=np.float32)
        for row, k in enumerate(keys):
            for e in self._events.get(k, ()):
                out[row, self._index[e]] = 1.0
            if self.noise > 0:
                # per-clip seed: crc32 is stable across runs (unlike hash())
                rng = np.random.default_rng([self.seed, zlib.crc32(k.encode())])
                flip = rng.random(len(self.labels)) < self.noise
                out[row, flip] = 1.0 - out[row, flip]
        return out

    def tag(self, waveforms: np.ndarray) -> np.ndarray:
        raise TeacherError(
            "the annotations teacher labels clips by name (tag_names), not waveforms"
        )

    def embed(self, waveforms: np.ndarray) -> np.ndarray | None:
        return None

    def to(self, device: str) -> AnnotationTeacher:
        return self


@register_teacher("annotations")
def annotations_teacher(
    dataset: str | os.PathLike[str] | Any = None,
    checkpoint: str | os.PathLike[str] | None = None,
    noise: float = 0.0,
    seed: int = 0,
) -> AnnotationTeacher:
    """Teacher from ``<dataset>/events.csv`` (or an events file given as ``checkpoint``)."""
    if checkpoint is not None:
        return AnnotationTeacher(checkpoint, noise=noise, seed=seed)
    if dataset is None:
        raise TeacherError(
            "the annotations teacher needs the dataset root (holding events.csv): "
            "get_teacher('annotations', dataset=ROOT)"
        )
    # a DcaseDataset or its root folder (Path has a .root attribute too: test for the path)
    root = Path(dataset) if isinstance(dataset, str | os.PathLike) else Path(dataset.root)
    return AnnotationTeacher(root / EVENTS_FILE, noise=noise, seed=seed)

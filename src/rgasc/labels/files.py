"""The pseudo-label file written by ``rgasc tag`` and read by relation and training.

Two formats, chosen by suffix:

- ``.h5``: datasets ``filename`` (str), ``probs`` float32 [clips, events], ``labels`` (str),
  and attributes (teacher name, checkpoint sha256, sample rate, package version...).
- ``.csv``: column ``filename``, then one column per event label.

File names are joined to datasets by :func:`rgasc.data.clip_key`, so ``audio/x.wav``,
``x.wav`` and ``x`` name the same clip.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rgasc.data.datasets import clip_key
from rgasc.errors import ArtefactError, LabelSpaceError
from rgasc.utils import atomic_path, json_safe


@dataclasses.dataclass
class PseudoLabels:
    """Event probabilities per clip.

    Attributes:
        filenames: clip names, length N.
        probs: float32 array [N, E] in [0, 1].
        labels: event label names, length E.
        attrs: provenance (teacher, checkpoint_sha256, sample_rate, rgasc_version,
            dataset_root, dataset_clips (hash of the dataset's clip list), bad_clips...).
        hashes: content hash of each clip's audio when tagged (``clip_sha256`` in the .h5;
            None when unknown: CSV files, name-based teachers), for provenance checks.
    """

    filenames: list[str]
    probs: np.ndarray
    labels: list[str]
    attrs: dict[str, Any] = dataclasses.field(default_factory=dict)
    hashes: list[str] | None = None
    #: set by :func:`rgasc.labels.tagging.tag_dataset`: rows reused from the file it
    #: replaced (not stored)
    reused: int | None = dataclasses.field(default=None, compare=False, repr=False)

    def __post_init__(self) -> None:
        self.probs = np.asarray(self.probs, dtype=np.float32)
        if self.probs.ndim != 2 or self.probs.shape != (len(self.filenames), len(self.labels)):
            raise ValueError(
                f"probs shape {self.probs.shape} != (clips={len(self.filenames)}, "
                f"events={len(self.labels)})"
            )

    def keys(self) -> list[str]:
        return [clip_key(f) for f in self.filenames]

    def digest(self) -> str:
        """Hash of the content (clip keys, event names, probabilities), not of the file's bytes:
        the same labels written again, or as CSV instead of .h5, keep it."""
        import hashlib

        h = hashlib.sha256()
        for part in ("\n".join(self.keys()), "\n".join(self.labels)):
            h.update(part.encode())
            h.update(b"\0")
        h.update(np.ascontiguousarray(self.probs, dtype=np.float32).tobytes())
        return h.hexdigest()[:32]

    def hash_map(self) -> dict[str, str]:
        """clip key -> content hash of the audio it was tagged from ({} when unknown)."""
        if not self.hashes:
            return {}
        return {k: h for k, h in zip(self.keys(), self.hashes, strict=True) if h}

    def select(self, names: Sequence[str], source: str = "label file") -> np.ndarray:
        """Rows for ``names`` (any form of clip name), in that order.

        Raises:
            LabelSpaceError naming the clips the file lacks.
        """
        index = {k: i for i, k in enumerate(self.keys())}
        missing = [n for n in names if clip_key(n) not in index]
        if missing:
            raise LabelSpaceError(
                f"{source}: no pseudo-labels for {len(missing)} clip(s), e.g. {missing[:3]}; "
                "re-run `rgasc tag` on this dataset"
            )
        return self.probs[[index[clip_key(n)] for n in names]]


def write_labels(
    path: str | os.PathLike[str], pl: PseudoLabels, embeddings: np.ndarray | None = None
) -> None:
    """Write atomically; the format follows the suffix (.h5/.hdf5 or .csv).

    ``embeddings``: the clips' embeddings [clips, D], stored as the float32 dataset
    ``embedding`` of an .h5 file (read back by :func:`rgasc.labels.tagging.read_embeddings`);
    they are added before the file gets its final name, so a label file that promises
    embeddings always holds them.
    """
    if embeddings is None:
        _write_labels(path, pl)
        return
    path = Path(path)
    if path.suffix.lower() not in (".h5", ".hdf5"):
        raise ArtefactError(f"{path}: embeddings are stored only in .h5 label files")
    import h5py

    tmp = path.with_name(f".{path.stem}.{os.getpid()}.writing{path.suffix}")
    try:
        _write_labels(tmp, pl)
        with h5py.File(tmp, "a") as f:
            f.create_dataset("embedding", data=embeddings.astype(np.float32))
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _write_labels(path: str | os.PathLike[str], pl: PseudoLabels) -> None:
    path = Path(path)
    suffix = path.suffix.lower()
    with atomic_path(path) as tmp:
        if suffix in (".h5", ".hdf5"):
            import h5py

            with h5py.File(tmp, "w") as f:
                str_dt = h5py.string_dtype()
                f.create_dataset(
                    "filename", data=np.array(pl.filenames, dtype=object), dtype=str_dt
                )
                f.create_dataset("probs", data=pl.probs, dtype="float32")
                f.create_dataset("labels", data=np.array(pl.labels, dtype=object), dtype=str_dt)
                if pl.hashes is not None:
                    f.create_dataset(
                        "clip_sha256", data=np.array(pl.hashes, dtype=object), dtype=str_dt
                    )
                for k, v in pl.attrs.items():
                    f.attrs[k] = attr_value(v)
        elif suffix == ".csv":
            with open(tmp, "w", newline="") as f:
                w = csv.writer(f)
                w.writerow(["filename", *pl.labels])
                for name, row in zip(pl.filenames, pl.probs, strict=True):
                    w.writerow([name, *(f"{v:.6g}" for v in row)])
        else:
            raise ArtefactError(f"{path}: unknown label format; use a .h5 or .csv suffix")


def attr_value(value: Any) -> int | float | str:
    """An attribute as HDF5 stores it: numbers (numpy's too) and text as they are, anything
    else (a dict of options, a list, None) as JSON text, never a Python repr that no reader
    can parse."""
    plain = json_safe(value)
    if isinstance(plain, int | float | str):
        return plain
    return json.dumps(plain, sort_keys=True, default=str)


def read_labels(path: str | os.PathLike[str]) -> PseudoLabels:
    """Read a file written by :func:`write_labels` (or any CSV in that format)."""
    path = Path(path)
    if not path.is_file():
        raise ArtefactError(f"{path}: no such label file; make one with `rgasc tag`")
    suffix = path.suffix.lower()
    if suffix in (".h5", ".hdf5"):
        import h5py

        with h5py.File(path, "r") as f:
            for k in ("filename", "probs", "labels"):
                if k not in f:
                    raise ArtefactError(f"{path}: not an rgasc label file (no '{k}' dataset)")
            names = read_strings(f["filename"], path)
            labels = read_strings(f["labels"], path)
            probs = np.asarray(f["probs"][()], dtype=np.float32)
            attrs = {k: (v.item() if hasattr(v, "item") else v) for k, v in f.attrs.items()}
            hashes = read_strings(f["clip_sha256"], path) if "clip_sha256" in f else None
        return PseudoLabels(names, probs, labels, attrs, hashes)
    if suffix == ".csv":
        with open(path, newline="") as f:
            rows = list(csv.reader(f))
        if not rows or rows[0][0].strip() != "filename":
            raise ArtefactError(f"{path}: a label CSV starts with a 'filename' column header")
        labels = rows[0][1:]
        body = [r for r in rows[1:] if r]
        try:
            probs = np.array([[float(v) for v in r[1:]] for r in body], dtype=np.float32)
        except ValueError as e:
            raise ArtefactError(f"{path}: non-numeric probability ({e})") from e
        probs = probs.reshape(len(body), len(labels))
        return PseudoLabels([r[0] for r in body], probs, labels, {"source": str(path)})
    raise ArtefactError(f"{path}: unknown label format; use a .h5 or .csv file")


def read_strings(dataset: Any, path: str | os.PathLike[str]) -> list[str]:
    """A 1-D HDF5 string dataset (variable or fixed length) as Python strings (UTF-8).

    Raises:
        ArtefactError: the dataset does not hold strings.
    """
    try:
        # UTF-8 even where the datatype says ASCII (numpy "S" arrays written by other tools
        # are tagged ASCII but may hold UTF-8 bytes); ASCII is a subset, so nothing is lost
        return list(dataset.asstr("utf-8")[()])
    except TypeError as e:  # h5py: asstr() of a non-string datatype
        raise ArtefactError(f"{path}: dataset '{dataset.name}' does not hold strings ({e})") from e


def as_labels(labels: PseudoLabels | str | os.PathLike[str]) -> tuple[PseudoLabels, str]:
    """``labels`` as PseudoLabels plus a name for messages (its file, or its recorded source)."""
    if isinstance(labels, PseudoLabels):
        return labels, str(labels.attrs.get("source", "<in-memory labels>"))
    return read_labels(labels), str(labels)

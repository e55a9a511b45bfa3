"""The teacher protocol, the registry of teachers, and checksum-recorded downloads.

A *teacher* is a pretrained event tagger whose clip-level probabilities become the
pseudo-labels of the RGASC method. Every teacher says which sample rate it expects and what
its event labels are, so :func:`rgasc.labels.tagging.tag_dataset` can resample and label its output
without knowing the model.

Teachers are built by name::

    teacher = get_teacher("panns-cnn14-16k", checkpoint="Cnn14_16k_mAP=0.438.pth")
    probs = teacher.tag(waveforms)          # (batch, samples) -> (batch, events)

Built-in teachers live in modules that are imported only when their name is asked for, so
``rgasc --help`` never imports torch or onnxruntime.
"""

from __future__ import annotations

import importlib
import inspect
import os
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Protocol, TypeVar, runtime_checkable

import numpy as np

from rgasc.errors import TeacherError
from rgasc.utils import cache_dir, file_hash, read_json, write_json


@runtime_checkable
class Teacher(Protocol):
    """What :func:`rgasc.labels.tagging.tag_dataset` needs from a tagger.

    Attributes:
        name: registry name, e.g. ``"panns-cnn14-16k"``.
        sample_rate: Hz of the waveforms :meth:`tag` expects (0 for teachers that read
            annotations instead of audio).
        labels: display names of the E events, in output column order.
        mids: AudioSet machine ids of the events where known, else ``None``.
        checkpoint_sha256: sha256 of the weight file (provenance), ``None`` if not applicable.
    """

    name: str
    sample_rate: int
    labels: list[str]
    mids: list[str] | None
    checkpoint_sha256: str | None

    def tag(self, waveforms: np.ndarray) -> np.ndarray:
        """(batch, samples) float32 mono at :attr:`sample_rate` -> (batch, E) float32 in [0, 1]."""
        ...

    def embed(self, waveforms: np.ndarray) -> np.ndarray | None:
        """(batch, samples) -> (batch, D) float32 embeddings; ``None`` if the model has none."""
        ...

    def to(self, device: str) -> Teacher:
        """Move the model to ``device`` ("cpu", "cuda", "cuda:1"); returns self."""
        ...


@runtime_checkable
class NameTeacher(Protocol):
    """A teacher that labels clips by name (ground-truth annotations), not by audio."""

    def tag_names(self, names: Sequence[str]) -> np.ndarray:
        """Clip names (any form, see :func:`rgasc.data.clip_key`) -> (N, E) float32."""
        ...


# --- registry -----------------------------------------------------------------------------
TeacherFactory = Callable[..., Teacher]
F = TypeVar("F", bound=Callable[..., Any])

_REGISTRY: dict[str, TeacherFactory] = {}
# Built-in teachers: name -> module that registers it on import. Imported lazily because the
# modules pull torch (PANNs) or onnxruntime (YAMNet).
_BUILTIN: dict[str, str] = {
    "panns-cnn14-16k": "rgasc.teachers.panns",
    "panns-cnn14": "rgasc.teachers.panns",
    "yamnet": "rgasc.teachers.yamnet",
    "annotations": "rgasc.teachers.annotations",
}
# Options every caller may pass whatever the teacher (the CLI always knows them); a teacher
# that does not use one ignores it. Any other option a teacher does not take is an error.
_CONTEXT_OPTIONS = frozenset({"dataset", "device", "gain"})


def register_teacher(name: str) -> Callable[[F], F]:
    """Decorator: register a factory ``(**options) -> Teacher`` under ``name``."""

    def deco(factory: F) -> F:
        _REGISTRY[name] = factory
        return factory

    return deco


def available_teachers() -> list[str]:
    """Names :func:`get_teacher` accepts (built-in and registered)."""
    return sorted(set(_REGISTRY) | set(_BUILTIN))


def get_teacher(name: str, **options: Any) -> Teacher:
    """Build the teacher registered as ``name``.

    Args:
        name: one of :func:`available_teachers`.
        **options: ``checkpoint`` (path), ``labels`` (path), ``device``, ``dataset`` (root
            folder, for ``annotations``), ``gain`` (a :class:`rgasc.teachers.gain.Gain` rule
            such as ``"rms:-20"``: the teacher then hears every clip through it and records
            it in its options; teachers that read annotations ignore it), and
            teacher-specific ones (``noise``, ``pooling``). ``None`` values are dropped, so a
            CLI can pass every option it has.

    Raises:
        TeacherError: unknown name, or an option this teacher does not take.
    """
    if name not in _REGISTRY and name in _BUILTIN:
        importlib.import_module(_BUILTIN[name])
    if name not in _REGISTRY:
        raise TeacherError(
            f"unknown teacher {name!r}; choose one of {', '.join(available_teachers())}"
        )
    factory = _REGISTRY[name]
    given = {k: v for k, v in options.items() if v is not None}
    # applied around any teacher, not by it; parsed first, so a typo fails before a download
    gain = given.pop("gain", None)
    if gain is not None:
        from rgasc.teachers.gain import Gain

        gain = Gain.parse(gain)
    params = inspect.signature(factory).parameters
    takes_any = any(p.kind is inspect.Parameter.VAR_KEYWORD for p in params.values())
    if not takes_any:
        unknown = sorted(k for k in given if k not in params and k not in _CONTEXT_OPTIONS)
        if unknown:
            raise TeacherError(
                f"teacher {name!r} does not take option(s) {unknown}; it takes {sorted(params)}"
            )
        given = {k: v for k, v in given.items() if k in params}
    teacher = factory(**given)
    if gain is None or isinstance(teacher, NameTeacher):
        return teacher
    from rgasc.teachers.gain import GainTeacher

    return GainTeacher(teacher, gain)  # type: ignore[return-value]


# --- downloads with a recorded sha256 --------------------------------------------------------
def teachers_cache() -> Path:
    """``$RGASC_CACHE/teachers``: where downloaded weights and label files are kept."""
    return cache_dir() / "teachers"


def _sidecar(path: Path) -> Path:
    return path.with_name(path.name + ".sha256.json")


def _download(url: str, dest: Path) -> None:
    """Fetch ``url`` to ``dest`` with a progress bar (pooch writes a temp file, then renames).

    A module-level function so tests can replace it and never touch the network.
    """
    import pooch

    pooch.retrieve(url, known_hash=None, fname=dest.name, path=dest.parent, progressbar=True)


def fetch_recorded(url: str, filename: str, offline_hint: str) -> tuple[Path, str]:
    """Return a cached copy of ``url``, downloading it on first use; verify it on every use.

    No checksum is published for these files, so the sha256 of the first download is
    recorded in ``<file>.sha256.json`` and every later use must match it (trust on first
    use): a file corrupted or swapped in the cache is caught instead of silently used.

    Args:
        url: where to fetch it.
        filename: name in :func:`teachers_cache`.
        offline_hint: what the user can pass instead (e.g. ``--checkpoint PATH``), quoted in
            the error when the download fails.

    Returns:
        (path of the cached file, its sha256).

    Raises:
        TeacherError: download failed (with ``offline_hint``), or checksum mismatch.
    """
    dest = teachers_cache() / filename
    if not dest.is_file():
        dest.parent.mkdir(parents=True, exist_ok=True)
        try:
            _download(url, dest)
        except Exception as e:  # network errors come from requests, urllib, pooch...
            raise TeacherError(
                f"cannot download {url} ({type(e).__name__}: {e}). Offline? {offline_hint}"
            ) from e
        if not dest.is_file():
            raise TeacherError(f"download of {url} produced no file {dest}. {offline_hint}")
    return dest, verify_recorded(dest, url)


def verify_recorded(path: Path, url: str = "") -> str:
    """Check ``path`` against its recorded sha256 (recording it if there is none yet).

    Returns:
        the file's sha256 hex digest.

    Raises:
        TeacherError: the file does not match the digest recorded at first download.
    """
    digest = file_hash(path, "sha256")
    side = _sidecar(path)
    if side.is_file():
        recorded = read_json(side).get("sha256")
        if recorded != digest:
            raise TeacherError(
                f"{path}: sha256 {digest} does not match {recorded} recorded in {side} at "
                f"first download; the file is corrupt or was replaced. Delete both files to "
                "download it again, or pass the file explicitly"
            )
    else:
        write_json(
            side,
            {
                "file": path.name,
                "url": url,
                "sha256": digest,
                "bytes": path.stat().st_size,
                "recorded": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
            },
        )
    return digest


def resolve_file(
    given: str | os.PathLike[str] | None, url: str, filename: str, offline_hint: str
) -> tuple[Path, str]:
    """A user-given file (must exist) or the recorded download; returns (path, sha256)."""
    if given is not None:
        path = Path(given).expanduser()
        if not path.is_file():
            raise TeacherError(f"{path}: no such file. {offline_hint}")
        return path, file_hash(path, "sha256")
    return fetch_recorded(url, filename, offline_hint)

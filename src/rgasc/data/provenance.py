"""What an artefact was made from: per-clip file identities and dataset fingerprints.

Every artefact made from a dataset records where it came from, so a later stage can refuse
inputs that do not belong together (features computed before the audio changed, labels or
R_SE of another corpus whose file names match):

- a clip's *identity*: ``{"size", "mtime_ns", "sha256"}`` of its audio file. Size and
  modification time are a cheap "unchanged?" test; the content hash decides whenever
  something is to be *reused* (a file restored to the same size and mtime with other bytes is
  caught by it);
- a dataset *fingerprint*: its root, the number of clips and a hash of their names in order.

The checks chain the artefacts: dataset -> features (per-clip size and mtime, checked at
training time without reading audio) -> pseudo-labels (per-clip content hashes against the
features') -> R_SE (the hash of the label file it was built from).
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

from rgasc.utils import file_hash, text_hash

#: Hex digits kept of a clip's sha256 (128 bits: collisions are not a concern).
HASH_CHARS = 32


def content_hash(path: str | os.PathLike[str]) -> str:
    """Truncated sha256 of a file's bytes."""
    return file_hash(path, "sha256")[:HASH_CHARS]


def file_stat(path: str | os.PathLike[str]) -> tuple[int, int] | None:
    """(size, mtime_ns) of a file, None when it does not exist."""
    try:
        st = os.stat(path)
    except OSError:
        return None
    return int(st.st_size), int(st.st_mtime_ns)


def identity(path: str | os.PathLike[str], sha256: str | None = None) -> dict[str, Any] | None:
    """A clip's identity (None for a missing file); ``sha256`` when already computed."""
    st = file_stat(path)
    if st is None:
        return None
    return {"size": st[0], "mtime_ns": st[1], "sha256": sha256 or content_hash(path)}


def same_stat(recorded: Mapping[str, Any] | None, path: str | os.PathLike[str]) -> bool:
    """True when ``path`` still has the recorded size and mtime (cheap; no read)."""
    st = file_stat(path)
    return (
        recorded is not None
        and st is not None
        and (int(recorded.get("size", -1)), int(recorded.get("mtime_ns", -1))) == st
    )


def clip_list_hash(names: Iterable[str]) -> str:
    """Hash of clip names in order."""
    return text_hash("clips", *names)


def fingerprint(root: str | os.PathLike[str], names: Sequence[str]) -> dict[str, Any]:
    """{"root", "clips", "clip_list"}: which dataset, and which clips of it in which order."""
    return {
        "root": str(Path(root).resolve()),
        "clips": len(names),
        "clip_list": clip_list_hash(names),
    }

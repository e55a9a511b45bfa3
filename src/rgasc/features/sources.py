"""The states of a feature cache whose rows a run may reuse, and what each clip can take
from them (see :mod:`rgasc.features.compute`): a row (or a bad-clip record) is reused only
while its clip's audio has the recorded size, mtime *and* content hash."""

from __future__ import annotations

import dataclasses
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import numpy as np

from rgasc.data.provenance import content_hash, same_stat
from rgasc.features.cache import FORMAT_VERSION
from rgasc.features.logmel import FeatureConfig


@dataclasses.dataclass
class Source:
    """A state of the cache whose rows may be copied: the finished one or an unfinished one."""

    file: Path
    rows: dict[str, int]  # name -> row
    clips: dict[str, dict[str, Any]]  # name -> identity, for rows that hold valid features
    bad: dict[str, dict[str, Any]]  # name -> {"error", "identity"}
    names: list[str]


def source(kdir: Path, rec: dict[str, Any] | None, cfg: FeatureConfig) -> Source | None:
    """The reusable rows a manifest or progress record describes (None if unusable)."""
    if rec is None or rec.get("format") != FORMAT_VERSION or rec.get("config") != cfg.to_dict():
        return None
    file = kdir / str(rec.get("file", ""))
    names = [str(n) for n in rec.get("names", [])]
    try:
        arr = np.load(file, mmap_mode="r")
    except (OSError, ValueError):
        return None  # missing or torn: nothing to reuse from it
    if arr.shape != (len(names), cfg.n_frames, cfg.n_mels) or arr.dtype != np.float32:
        return None
    bad = {str(k): dict(v) for k, v in rec.get("bad", {}).items()}
    clips = {str(k): dict(v) for k, v in rec.get("clips", {}).items() if v and k not in bad}
    return Source(file, {n: i for i, n in enumerate(names)}, clips, bad, names)


def reusable(
    names: list[str], paths: list[str], sources: list[Source], threads: int
) -> list[tuple[Source, str] | None]:
    """Per clip, the source whose row (or bad record) still matches its audio, and how
    ("row" or "bad"); None: compute it. Size and mtime first, then the content hash
    decides: a clip restored to the same size and mtime with other bytes is recomputed."""

    def decide(i: int) -> tuple[Source, str] | None:
        name, path = names[i], paths[i]
        candidates: list[tuple[Source, str, dict[str, Any] | None]] = [
            (s, "row", s.clips[name]) for s in sources if name in s.clips
        ]
        candidates += [(s, "bad", s.bad[name].get("identity")) for s in sources if name in s.bad]
        candidates = [c for c in candidates if c[2] and same_stat(c[2], path)]
        if not candidates:
            return None
        try:
            h = content_hash(path)
        except OSError:
            return None
        return next(((s, how) for s, how, rec in candidates if rec and rec["sha256"] == h), None)

    if threads <= 1 or len(names) < 2:
        return [decide(i) for i in range(len(names))]
    with ThreadPoolExecutor(max_workers=threads) as pool:  # hashing is I/O: threads suffice
        return list(pool.map(decide, range(len(names))))

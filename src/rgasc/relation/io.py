"""The R_SE artefact: :class:`Relation` (matrix, names, provenance), saved and loaded.

Files in a relation folder: relation.npy (float32 [K, E]), relation.json (names and meta),
relation.csv, top_events.csv and relation.png (for people).
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
from pathlib import Path
from typing import Any

import numpy as np

from rgasc.errors import ArtefactError
from rgasc.relation.matrix import top_events
from rgasc.utils import atomic_path, write_json

FILES = ("relation.npy", "relation.json", "relation.csv", "top_events.csv", "relation.png")
# Columns in relation.png: enough to show each scene's distinctive events, few enough that
# the event names stay legible.
FIGURE_EVENTS = 30


# --- the artefact --------------------------------------------------------------------------
@dataclasses.dataclass
class Relation:
    """A relation matrix with its names and provenance.

    Attributes:
        matrix: float32 [K, E].
        scenes: K scene names (dataset order); events: E event names (label file order).
        meta: split, binarize, label file, teacher attributes, clips per scene, dataset root.
        clips: the clips R was computed from (file names), so a run can refuse an R_SE that
            saw its validation or test clips; None for files written before it was recorded.
        clip_sha256: the content hash of each of ``clips``' audio as the label file recorded
            it ("" where unknown), or None when the label file recorded none.
    """

    matrix: np.ndarray
    scenes: list[str]
    events: list[str]
    meta: dict[str, Any] = dataclasses.field(default_factory=dict)
    clips: list[str] | None = None
    clip_sha256: list[str] | None = None

    def __post_init__(self) -> None:
        self.matrix = np.asarray(self.matrix, dtype=np.float32)
        shape = (len(self.scenes), len(self.events))
        if self.matrix.shape != shape:
            raise ValueError(f"matrix shape {self.matrix.shape} != (scenes, events) {shape}")
        if self.clip_sha256 is not None and len(self.clip_sha256) != len(self.clips or []):
            raise ValueError(
                f"{len(self.clip_sha256)} clip hashes for {len(self.clips or [])} clips"
            )


def save_relation(out_dir: str | os.PathLike[str], rel: Relation, top_k: int = 10) -> list[Path]:
    """Write relation.npy/.json/.csv, top_events.csv and relation.png into ``out_dir``.

    Every file is written atomically. Returns the paths written.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    with atomic_path(out / "relation.npy") as tmp, open(tmp, "wb") as f:
        np.save(f, rel.matrix)
    info: dict[str, Any] = {
        "shape": list(rel.matrix.shape),
        "scenes": rel.scenes,
        "events": rel.events,
        "meta": rel.meta,
    }
    if rel.clips is not None:  # beside meta, which run configs copy: the list may be long
        info["clips"] = rel.clips
        info["clip_sha256"] = rel.clip_sha256
    write_json(out / "relation.json", info)
    with atomic_path(out / "relation.csv") as tmp, open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["scene", *rel.events])
        for scene, row in zip(rel.scenes, rel.matrix, strict=True):
            w.writerow([scene, *(f"{v:.6g}" for v in row)])
    with atomic_path(out / "top_events.csv") as tmp, open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["scene", "rank", "event", "value"])
        for scene, tops in zip(rel.scenes, top_events(rel.matrix, rel.events, top_k), strict=True):
            for rank, (event, value) in enumerate(tops, start=1):
                w.writerow([scene, rank, event, f"{value:.6g}"])

    from rgasc.relation.figure import relation_figure
    from rgasc.scoring.plots import save_figure

    binarized = rel.meta.get("binarize") is not None
    fig = relation_figure(
        rel.matrix,
        rel.scenes,
        rel.events,
        k=FIGURE_EVENTS,
        value_label="fraction of clips with the event" if binarized else "mean event probability",
    )
    save_figure(fig, out / "relation.png")
    return [out / name for name in FILES]


def load_relation(out_dir: str | os.PathLike[str]) -> Relation:
    """Read a folder written by :func:`save_relation`.

    Raises:
        ArtefactError when relation.npy/.json are missing, unreadable or disagree.
    """
    d = Path(out_dir)
    npy, js = d / "relation.npy", d / "relation.json"
    for p in (npy, js):
        if not p.is_file():
            raise ArtefactError(f"{p}: missing; build the relation folder with `rgasc relation`")
    try:
        matrix = np.load(npy, allow_pickle=False)
        info = json.loads(js.read_text())
        scenes, events = [str(s) for s in info["scenes"]], [str(e) for e in info["events"]]
        meta = dict(info.get("meta", {}))
        clips = _strings(info.get("clips"))
        hashes = _strings(info.get("clip_sha256"))
        if hashes is not None and len(hashes) != len(clips or []):
            raise ValueError(f"{len(hashes)} clip hashes for {len(clips or [])} clips")
    except (OSError, ValueError, KeyError, TypeError) as e:
        raise ArtefactError(f"{d}: unreadable relation files ({e}); re-run `rgasc relation`") from e
    if matrix.shape != (len(scenes), len(events)):
        raise ArtefactError(
            f"{npy}: shape {matrix.shape} disagrees with {js} ({len(scenes)} scenes x "
            f"{len(events)} events); re-run `rgasc relation`"
        )
    if not np.all(np.isfinite(matrix)):
        raise ArtefactError(f"{npy}: holds NaN or inf; re-run `rgasc relation`")
    return Relation(matrix.astype(np.float32), scenes, events, meta, clips, hashes)


def _strings(value: Any) -> list[str] | None:
    """A JSON list of strings (None stays None)."""
    if value is None:
        return None
    if not isinstance(value, list):
        raise TypeError(f"expected a list, got {type(value).__name__}")
    return [str(v) for v in value]

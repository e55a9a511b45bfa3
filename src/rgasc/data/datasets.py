"""Read any dataset in the DCASE layout; folds and a location-disjoint validation carve.

Layout::

    ROOT/audio/*.wav
    ROOT/meta.csv                     filename<TAB>scene_label<TAB>identifier<TAB>source_label
    ROOT/evaluation_setup/foldN_train.txt, foldN_evaluate.txt (audio/<file>.wav<TAB>scene)

There is no official validation list, so :meth:`DcaseDataset.split` carves one from the
training fold by recording location: no model is ever selected on test data.
"""

from __future__ import annotations

import csv
import dataclasses
import os
import re
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rgasc.errors import DatasetError

SPLITS = ("train", "val", "trainval", "test", "all")
DEFAULT_VAL_FRACTION = 0.3
DEFAULT_TEST_FRACTION = 0.3  # only for datasets that ship no fold files


@dataclasses.dataclass(frozen=True)
class Clip:
    filename: str  # as in meta.csv, e.g. "audio/airport-barcelona-0-0-a.wav"
    scene: str
    location: str  # meta.csv "identifier", e.g. "barcelona-0"
    device: str  # meta.csv "source_label", e.g. "a"

    @property
    def key(self) -> str:
        return clip_key(self.filename)

    @property
    def group(self) -> tuple[str, str]:
        """The unit kept on one side of any split: a recording location of a scene."""
        return (self.scene, self.location)


def clip_key(name: str) -> str:
    """Canonical clip id used to join artefacts: the file name without folders or suffix.

    ``audio/airport-barcelona-0-0-a.wav``, ``airport-barcelona-0-0-a.wav`` and
    ``airport-barcelona-0-0-a`` all map to ``airport-barcelona-0-0-a``.
    """
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    return re.sub(r"\.(wav|flac|ogg|mp3|aiff?)$", "", base, flags=re.IGNORECASE)


def _location_from_name(filename: str) -> str:
    # DCASE names are [scene]-[city]-[location]-[segment]-[device]
    parts = clip_key(filename).split("-")
    return "-".join(parts[1:3]) if len(parts) >= 5 else clip_key(filename)


def _device_from_name(filename: str) -> str:
    parts = clip_key(filename).split("-")
    return parts[-1] if len(parts) >= 5 else "unknown"


def location_split(
    clips: Sequence[Clip], fraction: float, seed: int = 0
) -> tuple[list[Clip], list[Clip]]:
    """Split clips into (kept, held_out) so that no (scene, location) is on both sides.

    About ``fraction`` of each scene's locations are held out (at least one when the scene
    has two or more locations, none when it has one). Deterministic for a seed, and
    independent of the order of ``clips``.
    """
    if not 0.0 <= fraction < 1.0:
        raise ValueError(f"fraction must be in [0, 1), got {fraction}")
    by_scene: dict[str, set[tuple[str, str]]] = defaultdict(set)
    for c in clips:
        by_scene[c.scene].add(c.group)
    held: set[tuple[str, str]] = set()
    rng = np.random.default_rng(seed)
    for scene in sorted(by_scene):
        groups = sorted(by_scene[scene])
        n = len(groups)
        k = 0 if n < 2 or fraction == 0 else min(n - 1, max(1, round(fraction * n)))
        for i in rng.permutation(n)[:k]:
            held.add(groups[int(i)])
    kept = [c for c in clips if c.group not in held]
    out = [c for c in clips if c.group in held]
    return kept, out


class DcaseDataset:
    """A dataset folder in the DCASE layout.

    Attributes:
        root: the dataset folder.
        clips: every clip of ``meta.csv``, in file order.
        scenes: scene labels in a stable (alphabetical) order; index = class id.
    """

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)
        if not self.root.is_dir():
            raise DatasetError(f"{self.root}: no such dataset folder")
        meta = self.root / "meta.csv"
        if not meta.is_file():
            raise DatasetError(
                f"{meta}: missing. A DCASE dataset folder holds audio/, meta.csv and "
                "evaluation_setup/; point to that folder (or create one with `rgasc synth` "
                "or `rgasc download`)"
            )
        if not (self.root / "audio").is_dir():
            raise DatasetError(f"{self.root / 'audio'}: missing; the clips live in ROOT/audio/")
        self.clips = self._read_meta(meta)
        self._by_name = {c.filename: c for c in self.clips}
        self._by_key = {c.key: c for c in self.clips}
        self.scenes = sorted({c.scene for c in self.clips})

    # --- reading --------------------------------------------------------------------
    @staticmethod
    def _read_meta(path: Path) -> list[Clip]:
        with open(path, newline="") as f:
            rows = list(csv.reader(f, delimiter="\t"))
        if not rows:
            raise DatasetError(f"{path}: empty meta.csv")
        header = [h.strip() for h in rows[0]]
        if "filename" not in header or "scene_label" not in header:
            raise DatasetError(
                f"{path}: header must be tab-separated and contain 'filename' and "
                f"'scene_label' (got {rows[0]!r})"
            )
        col = {h: i for i, h in enumerate(header)}
        clips: list[Clip] = []
        for n, row in enumerate(rows[1:], start=2):
            if not row or not "".join(row).strip():
                continue
            if len(row) < len(header):
                raise DatasetError(f"{path}:{n}: expected {len(header)} tab-separated fields")
            name = row[col["filename"]].strip()
            loc = row[col["identifier"]].strip() if "identifier" in col else ""
            dev = row[col["source_label"]].strip() if "source_label" in col else ""
            clips.append(
                Clip(
                    filename=name,
                    scene=row[col["scene_label"]].strip(),
                    location=loc or _location_from_name(name),
                    device=dev or _device_from_name(name),
                )
            )
        if not clips:
            raise DatasetError(f"{path}: no clips listed")
        return clips

    def audio_path(self, clip: Clip | str) -> Path:
        name = clip.filename if isinstance(clip, Clip) else clip
        return self.root / name

    def clip(self, name: str) -> Clip:
        """Look a clip up by any form of its name (see :func:`clip_key`)."""
        c = self._by_name.get(name) or self._by_key.get(clip_key(name))
        if c is None:
            raise DatasetError(f"{self.root / 'meta.csv'}: no clip named {name!r}")
        return c

    def scene_index(self, scene: str) -> int:
        try:
            return self.scenes.index(scene)
        except ValueError:
            raise DatasetError(
                f"unknown scene label {scene!r}; {self.root / 'meta.csv'} has {self.scenes}"
            ) from None

    # --- folds ----------------------------------------------------------------------
    def folds(self) -> list[int]:
        setup = self.root / "evaluation_setup"
        found = {
            int(m.group(1))
            for p in setup.glob("fold*_train.txt")
            if (m := re.match(r"fold(\d+)_train\.txt$", p.name))
        }
        return sorted(found)

    def _read_fold_file(self, path: Path) -> list[Clip]:
        if not path.is_file():
            raise DatasetError(f"{path}: missing fold file")
        out: list[Clip] = []
        missing: list[str] = []
        for n, line in enumerate(path.read_text().splitlines(), start=1):
            if not line.strip():
                continue
            fields = line.split("\t")
            name = fields[0].strip()
            c = self._by_name.get(name) or self._by_key.get(clip_key(name))
            if c is None:
                missing.append(name)
                continue
            if len(fields) > 1 and fields[1].strip() and fields[1].strip() != c.scene:
                raise DatasetError(
                    f"{path}:{n}: scene label {fields[1].strip()!r} of {name} disagrees with "
                    f"meta.csv ({c.scene!r}); fix one of the two files"
                )
            out.append(c)
        if missing:
            raise DatasetError(
                f"{path}: names {len(missing)} clip(s) absent from meta.csv, e.g. "
                f"{missing[:3]}; the fold file and meta.csv come from different versions"
            )
        return out

    def fold(self, fold: int, part: str) -> list[Clip]:
        """Clips of ``evaluation_setup/fold{fold}_{part}.txt`` (part: train|evaluate)."""
        return self._read_fold_file(self.root / "evaluation_setup" / f"fold{fold}_{part}.txt")

    def split(
        self,
        name: str,
        fold: int = 1,
        val_fraction: float = DEFAULT_VAL_FRACTION,
        seed: int = 0,
        check_audio: bool = True,
    ) -> list[Clip]:
        """Clips of a named split.

        - ``trainval``: the whole training fold; ``train``/``val``: that fold with about
          ``val_fraction`` of each scene's locations carved out as validation.
        - ``test``: the fold's evaluate list; ``all``: every clip of meta.csv.
        A dataset without fold files is split by location too (30 % of locations as test).
        """
        if name not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {name!r}")
        if name == "all":
            clips = list(self.clips)
        else:
            if fold in self.folds():
                trainval, test = self.fold(fold, "train"), self.fold(fold, "evaluate")
            elif not self.folds():
                trainval, test = location_split(self.clips, DEFAULT_TEST_FRACTION, seed=fold)
            else:
                raise DatasetError(
                    f"{self.root / 'evaluation_setup'}: no fold{fold}_train.txt "
                    f"(folds present: {self.folds()})"
                )
            if name == "test":
                clips = test
            elif name == "trainval":
                clips = trainval
            else:
                train, val = location_split(trainval, val_fraction, seed=seed)
                clips = train if name == "train" else val
        if check_audio:
            self.check_audio(clips)
        return clips

    def check_audio(self, clips: Sequence[Clip]) -> None:
        missing = [c.filename for c in clips if not self.audio_path(c).is_file()]
        if missing:
            raise DatasetError(
                f"{self.root}: {len(missing)} listed clip(s) have no audio file, e.g. "
                f"{missing[:3]}; the download may be incomplete (rerun `rgasc download`)"
            )

    def labels(self, clips: Sequence[Clip]) -> np.ndarray:
        """Scene class indices (int64) of ``clips`` in :attr:`scenes` order."""
        return np.array([self.scene_index(c.scene) for c in clips], dtype=np.int64)

    def __len__(self) -> int:
        return len(self.clips)

    def __repr__(self) -> str:
        return f"DcaseDataset({str(self.root)!r}, clips={len(self)}, scenes={len(self.scenes)})"

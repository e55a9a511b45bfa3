"""Read any dataset in the DCASE layout; folds and a location-disjoint validation carve.

Layout::

    ROOT/audio/*.wav
    ROOT/meta.csv                     filename<TAB>scene_label<TAB>identifier<TAB>source_label
    ROOT/evaluation_setup/foldN_train.txt, foldN_evaluate.txt (audio/<file>.wav<TAB>scene)

Both fold-file conventions are read: DCASE 2018's ``foldN_{train,evaluate,test}.txt``
without a header, and the ``.csv`` files of 2019 on, tab-separated with a header line
(``filename<TAB>scene_label``; the test list ``filename`` only). When meta.csv lacks the
``identifier`` or ``source_label`` column (or leaves a value empty), both are derived from
the file name ``[scene]-[city]-[location]-[segment]-[device].wav`` as dcase_util does:
identifier ``city-location``, device the last field. A folder named like a registered set
(``rgasc download --list``) knows that set's devices, including those unseen in training.

There is no official validation list, so :meth:`DcaseDataset.split` carves one from the
training fold by recording location: no model is ever selected on test data. A dataset that
ships its own ``foldN_validate.txt|.csv`` (the real-sound benchmark, whose validation clips
hear no training recording) is split by that file instead: ``train`` is then the fold's
train list, ``val`` the validate list, ``trainval`` both.
"""

from __future__ import annotations

import csv
import dataclasses
import json
import os
import re
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rgasc.data.registry import MARKER, DatasetSpec, get_dataset, spec_for_folder
from rgasc.errors import DatasetError, RgascError

SPLITS = ("train", "val", "trainval", "test", "all")
FOLD_SUFFIXES = (".txt", ".csv")  # DCASE 2018; 2019 on
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


def device_sort_key(device: str) -> tuple[str, int, str]:
    """Natural order of device names: a, b, c, s1, s2, ..., s10 (not s1, s10, s2)."""
    m = re.fullmatch(r"(\D*)(\d+)(.*)", device)
    return (m.group(1), int(m.group(2)), m.group(3)) if m else (device, -1, "")


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
                "evaluation_setup/; point to that folder, or create one: from your own "
                "recordings with `rgasc prepare`, a DCASE set with `rgasc download`, a "
                "generated corpus with `rgasc synth`"
            )
        if not (self.root / "audio").is_dir():
            raise DatasetError(f"{self.root / 'audio'}: missing; the clips live in ROOT/audio/")
        self.clips = self._read_meta(meta)
        self._by_name = {c.filename: c for c in self.clips}
        self._by_key = {c.key: c for c in self.clips}
        self.scenes = sorted({c.scene for c in self.clips})
        self.spec: DatasetSpec | None = self._registered_spec()

    def _registered_spec(self) -> DatasetSpec | None:
        """The registry entry of this folder: by its download marker, else by its name."""
        marker = self.root / MARKER
        if marker.is_file():
            try:
                name = json.loads(marker.read_text()).get("dataset")
                if isinstance(name, str):
                    return get_dataset(name)
            except (OSError, ValueError, AttributeError, RgascError):
                pass  # an unreadable marker says nothing; fall back to the folder name
        return spec_for_folder(self.root)

    # --- devices --------------------------------------------------------------------
    @property
    def devices(self) -> list[str]:
        """Recording devices: the registered set's list, else those meta.csv names.

        A registered set lists every device of its development set (TAU 2020 Mobile: a,
        b, c, s1-s6), in the registry's order, plus any meta.csv names beyond it.
        """
        seen = sorted({c.device for c in self.clips}, key=device_sort_key)
        if self.spec is None:
            return seen
        known = list(self.spec.layout.devices)
        return known + [d for d in seen if d not in known]

    def unseen_devices(self, fold: int = 1) -> list[str]:
        """Devices that appear only in the evaluate fold (never in training).

        The registry's list for a registered set (TAU 2020 Mobile: s4, s5, s6); otherwise
        the devices of ``fold``'s evaluate list that its training list lacks (none when
        the dataset has no fold files).
        """
        if self.spec is not None and self.spec.layout.unseen_devices:
            return list(self.spec.layout.unseen_devices)
        if fold not in self.folds():
            return []
        train = {c.device for c in self.fold(fold, "train")}
        unseen = {c.device for c in self.fold(fold, "evaluate")} - train
        return sorted(unseen, key=device_sort_key)

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
        """Fold numbers with a ``foldN_train`` list (``.txt`` or ``.csv``)."""
        setup = self.root / "evaluation_setup"
        found = {
            int(m.group(1))
            for p in setup.glob("fold*_train.*")
            if (m := re.match(r"fold(\d+)_train(\.txt|\.csv)$", p.name))
        }
        return sorted(found)

    def fold_path(self, fold: int, part: str) -> Path:
        """``evaluation_setup/fold{fold}_{part}`` with the suffix this dataset uses.

        The registered set's convention first (``.txt`` for 2018, ``.csv`` from 2019),
        then whichever file exists; the conventional name when neither does.
        """
        setup = self.root / "evaluation_setup"
        first = self.spec.layout.fold_suffix if self.spec is not None else FOLD_SUFFIXES[0]
        suffixes = [first, *(x for x in FOLD_SUFFIXES if x != first)]
        for suffix in suffixes:
            path = setup / f"fold{fold}_{part}{suffix}"
            if path.is_file():
                return path
        return setup / f"fold{fold}_{part}{first}"

    def _read_fold_file(self, path: Path) -> list[Clip]:
        if not path.is_file():
            raise DatasetError(
                f"{path}: missing fold file (looked for fold files ending in .txt and .csv)"
            )
        out: list[Clip] = []
        missing: list[str] = []
        name_col, scene_col = 0, 1
        lines = path.read_text().splitlines()
        for n, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            fields = [f.strip() for f in line.split("\t")]
            if not out and not missing and fields[0].lower() == "filename":
                # 2019+ header ("filename<TAB>scene_label"): read the columns it names.
                header = [f.lower() for f in fields]
                scene_col = header.index("scene_label") if "scene_label" in header else -1
                continue
            name = fields[name_col]
            c = self._by_name.get(name) or self._by_key.get(clip_key(name))
            if c is None:
                missing.append(name)
                continue
            scene = fields[scene_col] if 0 <= scene_col < len(fields) else ""
            if scene and scene != c.scene:
                raise DatasetError(
                    f"{path}:{n}: scene label {scene!r} of {name} disagrees with "
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
        """Clips of ``evaluation_setup/fold{fold}_{part}.txt|.csv`` (train|evaluate|test)."""
        return self._read_fold_file(self.fold_path(fold, part))

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
          ``val_fraction`` of each scene's locations carved out as validation, or, when the
          dataset ships ``fold{fold}_validate``, the train and validate lists as given
          (``val_fraction`` and ``seed`` then do not apply; see :meth:`has_validate`).
        - ``test``: the fold's evaluate list; ``all``: every clip of meta.csv.
        A dataset without fold files is split by location too (30 % of locations as test).
        """
        if name not in SPLITS:
            raise ValueError(f"split must be one of {SPLITS}, got {name!r}")
        if name == "all":
            clips = list(self.clips)
        else:
            given_val: list[Clip] | None = None
            if fold in self.folds():
                trainval, test = self.fold(fold, "train"), self.fold(fold, "evaluate")
                if self.has_validate(fold):
                    given_val = self.fold(fold, "validate")
                    self._check_validate(fold, trainval, given_val, test)
                    trainval = trainval + given_val
            elif not self.folds():
                trainval, test = location_split(self.clips, DEFAULT_TEST_FRACTION, seed=fold)
            else:
                raise DatasetError(
                    f"{self.root / 'evaluation_setup'}: no fold{fold}_train.txt or .csv "
                    f"(folds present: {self.folds()}); choose one of those folds"
                )
            if name == "test":
                clips = test
            elif name == "trainval":
                clips = trainval
            elif given_val is not None:
                held = {c.filename for c in given_val}
                clips = (
                    given_val if name == "val" else [c for c in trainval if c.filename not in held]
                )
            else:
                train, val = location_split(trainval, val_fraction, seed=seed)
                clips = train if name == "train" else val
        if check_audio:
            self.check_audio(clips)
        return clips

    def has_validate(self, fold: int = 1) -> bool:
        """Whether the dataset ships its own validation list ``fold{fold}_validate``."""
        return self.fold_path(fold, "validate").is_file()

    def _check_validate(
        self, fold: int, train: Sequence[Clip], val: Sequence[Clip], test: Sequence[Clip]
    ) -> None:
        """The shipped validation list must share no clip with the train or evaluate list."""
        names = {c.filename for c in val}
        both = sorted(names & {c.filename for c in [*train, *test]})
        if both:
            raise DatasetError(
                f"{self.fold_path(fold, 'validate')}: {len(both)} clip(s) also in the train or "
                f"evaluate list, e.g. {both[:3]}; a validation list must be disjoint from both"
            )

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

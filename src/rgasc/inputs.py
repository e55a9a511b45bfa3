"""Provenance checks of a stage's inputs: do the features, pseudo-labels and R_SE belong to
this dataset, as it is now, and did R_SE see none of the run's held-out clips?

Each check refuses a mismatch with one line that names the artefact that is wrong and the
command that fixes it, computed from the current run's own inputs. A fix never writes into
an artefact that belongs to another dataset (or, for R_SE, to another label file): it then
names a new output beside it (:func:`fresh_path`), to be passed to the run instead. What is
compared, and why it is cheap:

- features vs the dataset: the clips the cache holds, and each clip's recorded size and
  mtime against its audio file (no audio is read; a clip whose audio is absent is not
  checked: training may run on features alone). ``rgasc features`` itself also compares
  content hashes before it reuses a row.
- pseudo-labels vs the features: the content hash of each clip's audio, recorded by both
  ``rgasc tag`` and ``rgasc features``; a label file without hashes (CSV, name-based
  teachers, older files) is checked by the dataset root it records, if any.
- R_SE vs the pseudo-labels: the digest of the labels' content R_SE was built from
  (:meth:`PseudoLabels.digest`: clips, events and probabilities, not the file's bytes).
- R_SE vs the run's validation and test clips (:func:`check_leak`): the clips R_SE records
  it was computed from, matched by name and, where both sides record one, by the content
  hash of their audio.
"""

from __future__ import annotations

import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rgasc.data.datasets import DEFAULT_VAL_FRACTION, Clip, DcaseDataset, clip_key
from rgasc.errors import ArtefactError, RgascWarning
from rgasc.features import FeatureCache
from rgasc.features.cache import features_command
from rgasc.labels.files import PseudoLabels
from rgasc.labels.tagging import tag_command
from rgasc.relation import Relation
from rgasc.relation.build import relation_command
from rgasc.teachers import available_teachers


def _examples(names: Sequence[str]) -> str:
    return f"{len(names)} clip(s), e.g. {list(names[:3])}"


def _resolved(path: str | os.PathLike[str]) -> Path:
    return Path(path).expanduser().resolve()


def same_path(a: str | os.PathLike[str] | None, b: str | os.PathLike[str]) -> bool:
    """True when ``a`` names the file or folder ``b`` (None names nothing)."""
    return a is not None and _resolved(a) == _resolved(b)


def fresh_path(
    wrong: str | os.PathLike[str], dataset: DcaseDataset, kind: str, suffix: str = ""
) -> Path:
    """A new output for ``dataset``'s own artefact, beside the ``wrong`` one (which belongs
    to another dataset and must not be overwritten): ``<dataset name>-<kind><suffix>``, with
    a number added while that name is taken."""
    wrong = Path(wrong)
    stem = f"{_resolved(dataset.root).name}-{kind}"
    candidate, n = wrong.parent / f"{stem}{suffix}", 2
    while candidate.exists() or same_path(candidate, wrong):
        candidate, n = wrong.parent / f"{stem}-{n}{suffix}", n + 1
    return candidate


# --- features ---------------------------------------------------------------------------------
def check_features(dataset: DcaseDataset, cache: FeatureCache, clips: Sequence[Clip]) -> None:
    """Refuse features of another dataset, or computed before the audio of ``clips``
    changed, or lacking some of ``clips``."""
    recorded = cache.provenance.get("root") or cache.manifest.get("dataset")
    mine = recorded is None or same_path(recorded, dataset.root)
    held = {clip_key(n) for n in cache.names}
    missing = [c.filename for c in clips if c.key not in held]
    stale = cache.stale({c.filename: dataset.audio_path(c) for c in clips if c.key in held})
    if not missing and not stale:
        return
    what = (
        f"lacks {_examples(missing)} of {dataset.root}"
        if missing
        else f"holds features of {_examples(stale)} computed before their audio in "
        f"{dataset.root} changed"
    )
    if mine:
        raise ArtefactError(
            f"{cache.path}: the feature cache {what}; update it with "
            f"`{cache.command(dataset.root)}`"
        )
    new = fresh_path(cache.path.parent, dataset, "features")
    raise ArtefactError(
        f"{cache.path}: features of the dataset at {recorded}, not {_resolved(dataset.root)} "
        f"(the cache {what}); compute this dataset's own with "
        f"`{features_command(dataset.root, new, cache.config)}` and pass {new} as --features"
    )


# --- pseudo-labels ----------------------------------------------------------------------------
def check_labels(
    dataset: DcaseDataset,
    cache: FeatureCache,
    labels: PseudoLabels,
    labels_path: str | Path,
    clips: Sequence[Clip],
) -> None:
    """Refuse pseudo-labels made from other audio than the features (another corpus whose
    file names match, or audio changed since tagging)."""
    root = labels.attrs.get("dataset_root")
    mine = not root or same_path(str(root), dataset.root)
    tagged, featured = labels.hash_map(), cache.hashes()
    if tagged and featured:
        both = [c for c in clips if c.key in tagged and c.key in featured]
        differ = [c.filename for c in both if tagged[c.key] != featured[c.key]]
        if differ:
            where = f" of the dataset at {root}" if not mine else ""
            raise ArtefactError(
                f"{labels_path}: pseudo-labels{where} of {_examples(differ)} were made from "
                f"other audio than {dataset.root} holds now (another corpus, or re-exported "
                f"clips); {_labels_fix(dataset, labels, labels_path, mine)}"
            )
        return
    if not mine:
        raise ArtefactError(
            f"{labels_path}: made from the dataset at {root}, not "
            f"{_resolved(dataset.root)}; {_labels_fix(dataset, labels, labels_path, mine)}"
        )


def _labels_fix(
    dataset: DcaseDataset, labels: PseudoLabels, labels_path: str | Path, mine: bool
) -> str:
    """Re-tag in place (this dataset's file), or into a new file (another dataset's)."""
    teacher = str(labels.attrs.get("teacher", ""))
    name = teacher if teacher in available_teachers() else "TEACHER"
    if mine:
        return f"re-tag with `{tag_command(dataset.root, name, labels_path)}`"
    suffix = Path(labels_path).suffix or ".h5"
    new = fresh_path(labels_path, dataset, name.lower(), suffix)
    return (
        f"tag this dataset's clips with `{tag_command(dataset.root, name, new)}` and pass "
        f"{new} as --labels"
    )


# --- R_SE -------------------------------------------------------------------------------------
def _relation_root(relation: Relation) -> str | None:
    """The dataset R_SE records it was built on, if any."""
    meta = relation.meta
    root = (meta.get("provenance") or {}).get("root") or meta.get("dataset")
    return str(root) if root else None


def relation_fix(
    dataset: DcaseDataset,
    relation: Relation,
    relation_path: str | Path,
    labels_path: str | Path,
    *,
    fold: int = 1,
    val_fraction: float = DEFAULT_VAL_FRACTION,
    seed: int = 0,
    split: str | None = None,
) -> str:
    """How to get the right R_SE for this run: rebuild the given one in place when it is
    this dataset's and this label file's, else build one in a new folder beside it.

    ``split``: the split to build on (default: the one R_SE records).
    """
    meta = relation.meta
    root = _relation_root(relation)
    recorded = meta.get("labels_file")
    mine = (root is None or same_path(root, dataset.root)) and (
        not recorded or same_path(str(recorded), labels_path)
    )
    out = Path(relation_path) if mine else fresh_path(relation_path, dataset, "relation")
    command = relation_command(
        labels_path,
        dataset.root,
        out,
        split=split or str(meta.get("split", "train")),
        fold=fold,
        binarize=meta.get("binarize"),
        val_fraction=val_fraction,
        seed=seed,
    )
    if mine:
        return f"rebuild it with `{command}`"
    return f"build this run's own with `{command}` and pass {out} as --relation"


def check_relation(
    dataset: DcaseDataset,
    relation: Relation,
    relation_path: str | Path,
    labels: PseudoLabels,
    labels_path: str | Path,
    fold: int = 1,
    *,
    val_fraction: float = DEFAULT_VAL_FRACTION,
    seed: int = 0,
) -> None:
    """Refuse an R_SE built from other pseudo-labels than the ones given."""
    meta = relation.meta
    digest = meta.get("labels_digest")
    root = _relation_root(relation)
    other_root = root is not None and not same_path(root, dataset.root)
    fix = relation_fix(
        dataset,
        relation,
        relation_path,
        labels_path,
        fold=fold,
        val_fraction=val_fraction,
        seed=seed,
    )
    recorded = meta.get("labels_file")
    if digest and digest != labels.digest():
        if recorded and same_path(str(recorded), labels_path) and not other_root:
            raise ArtefactError(
                f"{relation_path}: R_SE was built from {labels_path} before that file "
                f"changed (the pseudo-labels it holds now differ); {fix}"
            )
        where = f" on the dataset at {root}" if other_root else ""
        raise ArtefactError(
            f"{relation_path}: R_SE was built{where} from other pseudo-labels ({recorded}) than "
            f"{labels_path}; {fix}"
        )
    if not digest and other_root:
        raise ArtefactError(
            f"{relation_path}: R_SE was built on the dataset at {root}, not "
            f"{_resolved(dataset.root)}; {fix}"
        )


# --- R_SE vs the held-out clips ---------------------------------------------------------------
def leaked(relation: Relation, clips: Sequence[Clip], hashes: Mapping[str, str]) -> list[str]:
    """The clips of ``clips`` that R_SE was computed from: same audio content where both
    sides record its hash (whatever the clip is called), else the same name.

    Args:
        relation: R_SE with its recorded clip list (none recorded: nothing is found).
        clips: the run's clips to look for (its validation or test clips).
        hashes: clip key -> content hash of the run's audio, where known.
    """
    if relation.clips is None:
        return []
    theirs = {
        clip_key(n): h for n, h in zip(relation.clips, relation.clip_sha256 or [], strict=False)
    }
    names = {clip_key(n) for n in relation.clips}
    contents = {h for h in theirs.values() if h}
    out = []
    for c in clips:
        mine, recorded = hashes.get(c.key), theirs.get(c.key)
        if mine and mine in contents:
            out.append(c.filename)  # the same recording, whatever its name
        elif c.key in names and not (mine and recorded):
            out.append(c.filename)  # the same name, and no hash to say otherwise
    return out


def _fold_file(dataset: DcaseDataset, fold: int, split: str) -> Path:
    """The file that makes ``split`` a held-out split of this dataset."""
    if fold not in dataset.folds():
        return dataset.root / "meta.csv"  # split by location from meta.csv
    if split == "test":
        return dataset.fold_path(fold, "evaluate")
    if split == "val" and dataset.has_validate(fold):
        return dataset.fold_path(fold, "validate")  # a shipped list, not a carve
    return dataset.fold_path(fold, "train")


def check_leak(
    dataset: DcaseDataset,
    relation: Relation,
    relation_path: str | Path,
    labels_path: str | Path,
    hashes: Mapping[str, str],
    *,
    fold: int = 1,
    val_fraction: float = DEFAULT_VAL_FRACTION,
    seed: int = 0,
    refuse: bool = True,
) -> None:
    """Refuse an R_SE computed from clips this run validates or tests on.

    Overlap with the training clips is fine. Two cases warn (RgascWarning) instead:
    ``--split all`` (the authors' code builds R_SE on every clip, test included: kept for
    reproducing them), and a ``--split trainval`` R_SE of this very dataset and fold
    meeting its own validation clips (that split is chosen on purpose). An R_SE that
    records no clip list (written before it was recorded) says nothing.

    Args:
        hashes: clip key -> content hash of this run's audio (feature cache, label file).
        refuse: False to warn in every case (``rgasc evaluate``: the model is trained
            already, its scores are still wanted, with the caveat).
    """
    split = str(relation.meta.get("split", "train"))
    if relation.clips is None and split != "all":
        return
    found = {
        s: leaked(
            relation,
            dataset.split(s, fold=fold, val_fraction=val_fraction, seed=seed, check_audio=False),
            hashes,
        )
        for s in ("val", "test")
    }
    where = Path(relation_path) / "relation.json"
    own = same_path(_relation_root(relation) or dataset.root, dataset.root)
    own = own and int(relation.meta.get("fold", fold)) == fold
    # a trainval R_SE of this dataset holds its validation clips by construction
    if split == "trainval" and own and found.pop("val"):
        _warn(
            f"{where}: R_SE was built on the whole training fold, so it saw this run's "
            "validation clips; the validation scores (and the model selected on them) are "
            "slightly optimistic"
        )
    seen = "; ".join(
        f"{_examples(names)} of its {s} split ({_fold_file(dataset, fold, s)})"
        for s, names in found.items()
        if names
    )
    fix = relation_fix(
        dataset,
        relation,
        relation_path,
        labels_path,
        fold=fold,
        val_fraction=val_fraction,
        seed=seed,
        split="train",
    )
    if split == "all":
        _warn(
            f"{where}: R_SE was built on all clips (the authors' code), so it saw "
            f"{seen or 'the test clips'}; the scores are optimistic. For a clean protocol, {fix}"
        )
        return
    if not seen:
        return
    message = (
        f"{where}: R_SE was computed from clips this run holds out: {seen}; they would leak "
        f"into the model through R. {fix[0].upper()}{fix[1:]}"
    )
    if not refuse:
        _warn(message)
        return
    raise ArtefactError(message)


def _warn(message: str) -> None:
    warnings.warn(message, RgascWarning, stacklevel=3)


def run_hashes(cache: FeatureCache, labels: PseudoLabels) -> dict[str, str]:
    """clip key -> content hash of the run's audio: the feature cache's, else the label
    file's (they agree once :func:`check_labels` passed)."""
    return {**labels.hash_map(), **cache.hashes()}


# --- all of them ------------------------------------------------------------------------------
def check_inputs(
    dataset: DcaseDataset,
    cache: FeatureCache,
    labels: PseudoLabels,
    labels_path: str | Path,
    clips: Sequence[Clip],
    relation: Relation | None = None,
    relation_path: str | Path | None = None,
    fold: int = 1,
    *,
    val_fraction: float = DEFAULT_VAL_FRACTION,
    seed: int = 0,
) -> None:
    """Every check, in the order the artefacts are made (the first failure is the one to
    fix first: its rebuild may be what the later ones need): features, pseudo-labels, R_SE
    against the pseudo-labels, then R_SE against the run's held-out clips.

    ``fold``, ``val_fraction``, ``seed``: the run's split (its validation carve).
    """
    check_features(dataset, cache, clips)
    check_labels(dataset, cache, labels, labels_path, clips)
    if relation is not None and relation_path is not None:
        split: dict[str, Any] = {"fold": fold, "val_fraction": val_fraction, "seed": seed}
        check_relation(dataset, relation, relation_path, labels, labels_path, **split)
        check_leak(
            dataset, relation, relation_path, labels_path, run_hashes(cache, labels), **split
        )

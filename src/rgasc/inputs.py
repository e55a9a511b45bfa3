"""Provenance checks of a stage's inputs: do the features, pseudo-labels and R_SE belong to
this dataset, as it is now?

Each check refuses a mismatch with one line that names the artefact and the command that
rebuilds it (a command that works when run next). What is compared, and why it is cheap:

- features vs the dataset: each clip's recorded size and mtime against its audio file (no
  audio is read; a clip whose audio is absent is not checked: training may run on features
  alone). ``rgasc features`` itself also compares content hashes before it reuses a row.
- pseudo-labels vs the features: the content hash of each clip's audio, recorded by both
  ``rgasc tag`` and ``rgasc features``; a label file without hashes (CSV, name-based
  teachers, older files) is checked by the dataset root it records, if any.
- R_SE vs the pseudo-labels: the digest of the labels' content R_SE was built from
  (:meth:`PseudoLabels.digest`: clips, events and probabilities, not the file's bytes).
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

from rgasc.data.datasets import Clip, DcaseDataset
from rgasc.errors import ArtefactError
from rgasc.features import FeatureCache
from rgasc.labels.files import PseudoLabels
from rgasc.labels.tagging import tag_command
from rgasc.relation import Relation
from rgasc.relation.build import relation_command
from rgasc.teachers import available_teachers


def _examples(names: Sequence[str]) -> str:
    return f"{len(names)} clip(s), e.g. {list(names[:3])}"


def check_features(dataset: DcaseDataset, cache: FeatureCache, clips: Sequence[Clip]) -> None:
    """Refuse features computed before the audio of ``clips`` changed."""
    stale = cache.stale({c.filename: dataset.audio_path(c) for c in clips})
    if stale:
        raise ArtefactError(
            f"{cache.path}: features of {_examples(stale)} were computed before their audio "
            f"in {dataset.root} changed; update them with `{cache.command(dataset.root)}`"
        )


def check_labels(
    dataset: DcaseDataset,
    cache: FeatureCache,
    labels: PseudoLabels,
    labels_path: str | Path,
    clips: Sequence[Clip],
) -> None:
    """Refuse pseudo-labels made from other audio than the features (another corpus whose
    file names match, or audio changed since tagging)."""
    teacher = str(labels.attrs.get("teacher", ""))
    fix = tag_command(
        dataset.root, teacher if teacher in available_teachers() else "TEACHER", labels_path
    )
    tagged, featured = labels.hash_map(), cache.hashes()
    if tagged and featured:
        both = [c for c in clips if c.key in tagged and c.key in featured]
        differ = [c.filename for c in both if tagged[c.key] != featured[c.key]]
        if differ:
            raise ArtefactError(
                f"{labels_path}: pseudo-labels of {_examples(differ)} were made from other "
                f"audio than {dataset.root} holds now (another corpus, or re-exported clips); "
                f"re-tag with `{fix}`"
            )
        return
    root = labels.attrs.get("dataset_root")
    if root and Path(str(root)).resolve() != dataset.root.resolve():
        raise ArtefactError(
            f"{labels_path}: made from the dataset at {root}, not {dataset.root.resolve()}; "
            f"re-tag with `{fix}`"
        )


def check_relation(
    dataset: DcaseDataset,
    relation: Relation,
    relation_path: str | Path,
    labels: PseudoLabels,
    labels_path: str | Path,
    fold: int,
) -> None:
    """Refuse an R_SE built from other pseudo-labels than the ones given."""
    meta = relation.meta
    recorded = meta.get("labels_digest")
    split = str(meta.get("split", "train"))
    fix = relation_command(
        labels_path,
        dataset.root,
        relation_path,
        split=split,
        fold=int(meta.get("fold", fold)),
        binarize=meta.get("binarize"),
    )
    if recorded and recorded != labels.digest():
        raise ArtefactError(
            f"{relation_path}: R_SE was built from other pseudo-labels than {labels_path} "
            f"(recorded in relation.json: {meta.get('labels_file')}); rebuild it with `{fix}`"
        )
    root = (meta.get("provenance") or {}).get("root") or meta.get("dataset")
    if not recorded and root and Path(str(root)).resolve() != dataset.root.resolve():
        raise ArtefactError(
            f"{relation_path}: R_SE was built on the dataset at {root}, not "
            f"{dataset.root.resolve()}; rebuild it with `{fix}`"
        )


def check_inputs(
    dataset: DcaseDataset,
    cache: FeatureCache,
    labels: PseudoLabels,
    labels_path: str | Path,
    clips: Sequence[Clip],
    relation: Relation | None = None,
    relation_path: str | Path | None = None,
    fold: int = 1,
) -> None:
    """All three checks, in the order the artefacts are made (the first failure is the one to
    fix first: its rebuild may be what the later ones need)."""
    check_features(dataset, cache, clips)
    check_labels(dataset, cache, labels, labels_path, clips)
    if relation is not None and relation_path is not None:
        check_relation(dataset, relation, relation_path, labels, labels_path, fold)

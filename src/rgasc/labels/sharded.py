"""``rgasc tag --devices N [--num-nodes M]``: tagging spread over processes, GPUs and nodes.

Each rank tags its contiguous shard of the clip list with :func:`tag_dataset` itself (same
batching, same resumable ``.partial.npz``, same bad-clip policy) into its own folder::

    OUT.shards/rank{r}-of-{n}/OUT_NAME         the shard's label file (.h5 or .csv)
    OUT.shards/rank{r}-of-{n}/bad_clips.csv    its undecodable clips (with --skip-bad)
    OUT.shards/rank{r}-of-{n}/done.json        stamp written last: the shard's run key

Then the ranks exchange one flag and rank 0 merges (:func:`merge_label_shards`): the rows
concatenated in rank order, hence in clip order, the provenance of shard 0 with the bad
clips summed, so ``OUT`` (and ``bad_clips.csv`` beside it) hold exactly what one process
writes; the shards are removed. A rerun after an interruption skips every shard whose stamp
records the same key (teacher, weights, options, dataset, the shard's clips) and resumes the
unfinished ones where they stopped.
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rgasc.artefacts import BAD_CLIPS_FILE
from rgasc.data.clip_job import read_bad_clips, write_bad_clips
from rgasc.data.datasets import Clip, DcaseDataset
from rgasc.data.provenance import clip_list_hash
from rgasc.distributed import Ranks, shard_clips, shard_dir, shards_dir, sync_or_raise
from rgasc.errors import ArtefactError
from rgasc.labels.files import PseudoLabels, read_labels, write_labels
from rgasc.labels.tagging import bad_clips_path, read_embeddings, tag_dataset, tag_run_key
from rgasc.teachers.base import Teacher
from rgasc.utils import stage_done, write_json

DONE = "done.json"


def shard_label_path(out: str | os.PathLike[str], rank: int, world: int) -> Path:
    """``OUT.shards/rank{r}-of-{n}/<OUT's name>``: one rank's label file."""
    return shard_dir(out, rank, world) / Path(out).name


def tag_shard(
    dataset: DcaseDataset,
    teacher: Teacher,
    out: str | os.PathLike[str],
    rank: int,
    world: int,
    *,
    clips: Sequence[Clip] | None = None,
    batch_size: int = 8,
    device: str = "cpu",
    skip_bad: bool = False,
    progress: bool = True,
    embeddings: bool = False,
    skip_bad_command: str | None = None,
) -> Path | None:
    """Tag rank ``rank``'s shard of ``clips`` (default: every clip) with :func:`tag_dataset`.

    Returns the shard's label file, or None for an empty shard (fewer clips than ranks).
    A shard finished by an earlier run with the same key is returned at once.
    """
    mine = shard_clips(list(dataset.clips if clips is None else clips), rank, world)
    path = shard_label_path(out, rank, world)
    stamp = path.parent / DONE
    key = tag_run_key(teacher, dataset, mine, embeddings)
    if stage_done(stamp, key, outputs=[path] if mine else []):
        return path if mine else None
    # a stale stamp or bad-clip list (another teacher, other clips) must not survive a redo
    stamp.unlink(missing_ok=True)
    (path.parent / BAD_CLIPS_FILE).unlink(missing_ok=True)
    if mine:
        tag_dataset(
            dataset,
            teacher,
            path,
            batch_size=batch_size,
            device=device,
            skip_bad=skip_bad,
            progress=progress,
            clips=mine,
            embeddings=embeddings,
            skip_bad_command=skip_bad_command,
        )
    else:
        path.parent.mkdir(parents=True, exist_ok=True)
    write_json(stamp, {"key": key, "clips": len(mine)})
    return path if mine else None


def merge_label_shards(
    out: str | os.PathLike[str],
    world: int,
    *,
    embeddings: bool = False,
    clips: Sequence[str],
) -> PseudoLabels:
    """Concatenate the ``world`` shards of ``out`` in rank order into ``out`` itself.

    Writes ``out`` (and ``bad_clips.csv`` beside it when a shard skipped clips) as
    :func:`tag_dataset` would for the whole clip list, then removes ``OUT.shards``.

    Raises:
        ArtefactError: a shard is missing or the shards disagree on the label space.

    ``clips``: the file names of the whole clip list in order (the list every shard was cut
    from), whose hash the merged file records as ``dataset_clips`` exactly as one process
    would.
    """
    out = Path(out)
    parts: list[PseudoLabels] = []
    embs: list[np.ndarray] = []
    bad: dict[str, str] = {}
    for r in range(world):
        path = shard_label_path(out, r, world)
        if not (path.parent / DONE).is_file():
            raise ArtefactError(f"{path.parent}: shard {r} of {world} is unfinished")
        bad.update(read_bad_clips(path.parent / BAD_CLIPS_FILE))
        bad.update(read_bad_clips(bad_clips_path(path)))
        if not path.is_file():
            continue  # an empty shard
        pl = read_labels(path)
        if parts and pl.labels != parts[0].labels:
            raise ArtefactError(f"{path}: other event labels than shard 0's; delete {out}.shards")
        parts.append(pl)
        if embeddings:
            embs.append(read_embeddings(path)[1])
    if not parts:
        raise ArtefactError(f"{out}: no shard holds a tagged clip (see {BAD_CLIPS_FILE})")
    attrs = dict(parts[0].attrs)
    attrs["n_bad_clips"] = len(bad)
    attrs["bad_clips"] = json.dumps(sorted(bad))
    attrs["dataset_clips"] = clip_list_hash(clips)
    hashed = all(p.hashes for p in parts)
    merged = PseudoLabels(
        filenames=[n for p in parts for n in p.filenames],
        probs=np.concatenate([p.probs for p in parts]),
        labels=list(parts[0].labels),
        attrs=attrs,
        hashes=[h for p in parts for h in (p.hashes or [])] if hashed else None,
    )
    write_labels(out, merged, np.concatenate(embs) if embeddings else None)
    write_bad_clips(bad_clips_path(out), bad)  # or remove a stale list
    shutil.rmtree(shards_dir(out), ignore_errors=True)
    return merged


def tag_distributed(
    dataset: DcaseDataset,
    teacher: Teacher,
    out: str | os.PathLike[str],
    ranks: Ranks,
    *,
    clips: Sequence[Clip] | None = None,
    batch_size: int = 8,
    skip_bad: bool = False,
    progress: bool = True,
    embeddings: bool = False,
    skip_bad_command: str | None = None,
) -> PseudoLabels | None:
    """Every rank tags its shard on ``ranks.device``; rank 0 merges and returns the labels,
    the other ranks return None once their shard is written.

    ``progress`` shows rank 0's bar only (one bar per terminal).

    Raises:
        the rank's own error, or :class:`RgascError` on every rank when another one failed.
    """
    error: BaseException | None = None
    try:
        tag_shard(
            dataset,
            teacher,
            out,
            ranks.rank,
            ranks.world,
            clips=clips,
            batch_size=batch_size,
            device=ranks.device,
            skip_bad=skip_bad,
            progress=progress and ranks.is_zero,
            embeddings=embeddings,
            skip_bad_command=skip_bad_command,
        )
    except Exception as e:  # told to the other ranks first, then raised
        error = e
    sync_or_raise(ranks, error, "tagging")
    if not ranks.is_zero:
        return None
    names = [c.filename for c in (dataset.clips if clips is None else clips)]
    return merge_label_shards(out, ranks.world, embeddings=embeddings, clips=names)

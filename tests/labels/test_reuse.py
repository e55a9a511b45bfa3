"""A rerun of ``rgasc tag`` reuses the finished label file's rows, and only those it would
compute identically: same teacher, options and versions, same audio (by content)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from helpers.dcase import make_dcase
from helpers.teachers import ToyTeacher, write_events
from rgasc.data.datasets import DcaseDataset
from rgasc.labels.files import read_labels
from rgasc.labels.tagging import tag_dataset
from rgasc.teachers import get_teacher


@pytest.fixture
def ds(tmp_path: Path) -> DcaseDataset:
    return DcaseDataset(make_dcase(tmp_path / "ds", seconds=0.25))


def test_a_rerun_reuses_every_row_and_writes_the_same_labels(
    ds: DcaseDataset, tmp_path: Path
) -> None:
    out = tmp_path / "l.h5"
    first = tag_dataset(ds, ToyTeacher(), out, progress=False)
    assert first.reused == 0
    again = ToyTeacher()
    second = tag_dataset(ds, again, out, progress=False)
    assert again.seen == [] and second.reused == len(ds.clips)
    np.testing.assert_array_equal(read_labels(out).probs, first.probs)
    assert read_labels(out).hashes == first.hashes


def test_changed_audio_is_tagged_again_even_with_the_same_size_and_mtime(
    ds: DcaseDataset, tmp_path: Path
) -> None:
    out = tmp_path / "l.h5"
    first = tag_dataset(ds, ToyTeacher(), out, progress=False)
    path = ds.audio_path(ds.clips[5])
    st = os.stat(path)
    x, sr = sf.read(path)
    sf.write(path, 0.5 * x, sr, subtype="PCM_24")  # same length: same size
    os.utime(path, ns=(st.st_atime_ns, st.st_mtime_ns))
    assert os.stat(path).st_size == st.st_size
    again = ToyTeacher()
    second = tag_dataset(ds, again, out, progress=False)
    assert sum(again.seen) == 1 and second.reused == len(ds.clips) - 1
    assert not np.allclose(second.probs[5], first.probs[5])
    np.testing.assert_array_equal(np.delete(second.probs, 5, 0), np.delete(first.probs, 5, 0))


def test_other_teacher_options_or_embeddings_reuse_nothing(
    ds: DcaseDataset, tmp_path: Path
) -> None:
    out = tmp_path / "l.h5"
    tag_dataset(ds, ToyTeacher(), out, progress=False)
    other = ToyTeacher()
    other.options = {"pooling": "max"}  # type: ignore[attr-defined]
    assert tag_dataset(ds, other, out, progress=False).reused == 0
    assert sum(other.seen) == len(ds.clips)
    # the file (now made with pooling=max) holds no embeddings: asked for, none reused
    emb = ToyTeacher()
    emb.options = {"pooling": "max"}  # type: ignore[attr-defined]
    assert tag_dataset(ds, emb, out, progress=False, embeddings=True).reused == 0
    # other weights
    weights = ToyTeacher()
    weights.checkpoint_sha256 = "1" * 64
    assert tag_dataset(ds, weights, out, progress=False).reused == 0


def test_clips_left_out_as_bad_are_tried_again(ds: DcaseDataset, tmp_path: Path) -> None:
    out = tmp_path / "l.h5"
    bad = ds.clips[3]
    good = ds.audio_path(bad).read_bytes()
    ds.audio_path(bad).write_bytes(b"RIFF broken")
    tag_dataset(ds, ToyTeacher(), out, skip_bad=True, progress=False)
    ds.audio_path(bad).write_bytes(good)  # fixed
    again = ToyTeacher()
    pl = tag_dataset(ds, again, out, progress=False)
    assert sum(again.seen) == 1 and pl.reused == len(ds.clips) - 1
    assert bad.filename in pl.filenames and pl.attrs["n_bad_clips"] == 0


def test_annotation_rows_are_reused_by_name_until_the_events_change(
    ds: DcaseDataset, tmp_path: Path
) -> None:
    names = [c.filename for c in ds.clips]
    write_events(ds.root, names, {c.key: ["bird"] for c in ds.clips})
    out = tmp_path / "a.h5"
    tag_dataset(ds, get_teacher("annotations", dataset=ds.root), out, progress=False)
    same = tag_dataset(ds, get_teacher("annotations", dataset=ds.root), out, progress=False)
    assert same.reused == len(ds.clips)
    noisy = get_teacher("annotations", dataset=ds.root, noise=0.3)
    assert tag_dataset(ds, noisy, out, progress=False).reused == 0
    write_events(ds.root, names, {c.key: ["wind"] for c in ds.clips})
    changed = tag_dataset(ds, get_teacher("annotations", dataset=ds.root), out, progress=False)
    assert changed.reused == 0 and changed.labels == ["wind"]

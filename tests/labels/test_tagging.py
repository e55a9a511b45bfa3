"""tag_dataset: batching, output formats, resume after an interruption, bad clips."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import scipy

import rgasc.labels.tagging as tagmod
from helpers.dcase import make_dcase
from helpers.teachers import ToyTeacher
from rgasc.audio import load_audio
from rgasc.data.datasets import DcaseDataset
from rgasc.errors import ArtefactError, AudioError, Interrupted
from rgasc.labels.files import read_labels
from rgasc.labels.tagging import partial_path, read_embeddings, tag_dataset


@pytest.fixture
def ds(tmp_path: Path) -> DcaseDataset:
    # 24 clips of 0.25 s at 48 kHz (resampled to the toy teacher's 16 kHz)
    return DcaseDataset(make_dcase(tmp_path / "ds", seconds=0.25))


def _expected(ds: DcaseDataset) -> np.ndarray:
    """Per-clip reference: each clip tagged alone."""
    t = ToyTeacher()
    return np.concatenate(
        [t.tag(load_audio(ds.audio_path(c), sr=16000)[0][None]) for c in ds.clips]
    )


@pytest.mark.parametrize("suffix", [".h5", ".csv"])
def test_round_trip_matches_per_clip_tags(ds: DcaseDataset, tmp_path: Path, suffix: str) -> None:
    out = tmp_path / f"labels{suffix}"
    teacher = ToyTeacher()
    pl = tag_dataset(ds, teacher, out, batch_size=5, progress=False)
    assert teacher.seen[:4] == [5, 5, 5, 5]  # batched
    back = read_labels(out)
    assert back.filenames == [c.filename for c in ds.clips]
    assert back.labels == ToyTeacher.labels
    np.testing.assert_allclose(back.probs, _expected(ds), atol=1e-5)
    np.testing.assert_allclose(back.probs, pl.probs, rtol=1e-5 if suffix == ".csv" else 0)
    if suffix == ".h5":
        assert back.attrs["teacher"] == "toy"
        assert back.attrs["sample_rate"] == 16000
        assert back.attrs["checkpoint_sha256"] == "0" * 64
        assert json.loads(back.attrs["teacher_options"]) == getattr(ToyTeacher(), "options", {})
        assert back.attrs["dataset_root"] == str(ds.root.resolve())
        versions = json.loads(back.attrs["versions"])  # what the outputs may depend on
        assert versions["numpy"] == np.__version__ and versions["scipy"] == scipy.__version__
    assert not partial_path(out).exists()


def test_unequal_lengths_are_never_padded_together(tmp_path: Path) -> None:
    root = make_dcase(tmp_path / "a", seconds=0.25, scenes=("bus",))
    longer = make_dcase(tmp_path / "b", seconds=0.4, scenes=("bus",), cities=("rome",))
    for f in (longer / "audio").iterdir():
        f.rename(root / "audio" / f.name)
    meta = (longer / "meta.csv").read_text().splitlines()[1:]
    with open(root / "meta.csv", "a") as fh:
        fh.write("\n".join(meta) + "\n")
    ds = DcaseDataset(root)
    pl = tag_dataset(ds, ToyTeacher(), tmp_path / "l.h5", batch_size=3, progress=False)
    np.testing.assert_allclose(pl.probs, _expected(ds), atol=1e-6)


def test_resume_after_interruption(
    ds: DcaseDataset, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(tagmod, "FLUSH_EVERY", 1)
    out = tmp_path / "labels.h5"
    with pytest.raises(Interrupted):  # Ctrl-C: the typed error, the work kept
        tag_dataset(ds, ToyTeacher(fail_after=3), out, batch_size=4, progress=False)
    assert partial_path(out).is_file() and not out.exists()
    second = ToyTeacher()
    pl = tag_dataset(ds, second, out, batch_size=4, progress=False)
    assert sum(second.seen) == len(ds.clips) - 12  # only the clips not done before
    np.testing.assert_allclose(pl.probs, _expected(ds), atol=1e-6)
    assert not partial_path(out).exists()
    # a partial file of another run (other clips) is not resumed (no finished file to
    # reuse rows from either: see tests/labels/test_reuse.py)
    out.unlink()
    with pytest.raises(Interrupted):  # Ctrl-C: the typed error, the work kept
        tag_dataset(ds, ToyTeacher(fail_after=2), out, batch_size=4, progress=False)
    third = ToyTeacher()
    tag_dataset(ds, third, out, batch_size=4, progress=False, clips=ds.clips[:10])
    assert sum(third.seen) == 10


def test_bad_clips_skipped_or_raised(ds: DcaseDataset, tmp_path: Path) -> None:
    bad = ds.clips[3]
    ds.audio_path(bad).write_bytes(b"RIFF not really a wave file")
    with pytest.raises(AudioError, match=bad.key):
        tag_dataset(ds, ToyTeacher(), tmp_path / "x.h5", progress=False)
    pl = tag_dataset(ds, ToyTeacher(), tmp_path / "x.h5", skip_bad=True, progress=False)
    assert bad.filename not in pl.filenames and len(pl.filenames) == len(ds.clips) - 1
    listed = (tmp_path / "x.h5.bad_clips.csv").read_text()
    assert bad.filename in listed and pl.attrs["n_bad_clips"] == 1


def test_embeddings_stored_and_read(ds: DcaseDataset, tmp_path: Path) -> None:
    out = tmp_path / "e.h5"
    tag_dataset(ds, ToyTeacher(), out, embeddings=True, progress=False)
    names, emb = read_embeddings(out)
    assert names == [c.filename for c in ds.clips] and emb.shape == (len(ds.clips), 2)
    assert (emb[:, 0] > 0).all()
    with pytest.raises(ArtefactError, match=r"\.h5"):
        tag_dataset(ds, ToyTeacher(), tmp_path / "e.csv", embeddings=True, progress=False)
    tag_dataset(ds, ToyTeacher(), tmp_path / "plain.h5", progress=False)
    with pytest.raises(ArtefactError, match="--embeddings"):
        read_embeddings(tmp_path / "plain.h5")


def test_h5_strings_read_as_str_whatever_their_string_type(tmp_path: Path) -> None:
    import h5py

    from rgasc.labels.files import PseudoLabels, write_labels

    names = ["audio/café-1.wav", "audio/b.wav"]  # non-ASCII: UTF-8 both ways
    path = tmp_path / "l.h5"
    write_labels(path, PseudoLabels(names, np.zeros((2, 2)), ["Speech", "Bird"]))
    back = read_labels(path)
    assert back.filenames == names and all(type(n) is str for n in back.filenames)
    # another tool's file with fixed-length byte strings reads the same
    other = tmp_path / "fixed.h5"
    with h5py.File(other, "w") as f:
        f["filename"] = np.array([n.encode() for n in names], dtype="S20")
        f["labels"] = np.array([b"Speech", b"Bird"])
        f["probs"] = np.zeros((2, 2), np.float32)
    assert read_labels(other).filenames == names
    assert read_labels(other).labels == ["Speech", "Bird"]
    with h5py.File(other, "a") as f:
        del f["labels"]
        f["labels"] = np.arange(2)
    with pytest.raises(ArtefactError, match="'/labels' does not hold strings"):
        read_labels(other)


def test_truncated_and_very_short_clips_are_bad_and_listed_per_label_file(
    ds: DcaseDataset, tmp_path: Path
) -> None:
    import soundfile as sf

    from rgasc.data.clip_job import read_bad_clips
    from rgasc.errors import AudioTooShortError

    cut, short = ds.clips[1], ds.clips[6]
    blob = ds.audio_path(cut).read_bytes()
    ds.audio_path(cut).write_bytes(blob[: len(blob) // 2])
    x, sr = sf.read(ds.audio_path(short))
    sf.write(ds.audio_path(short), x[: int(0.03 * sr)], sr)  # 0.03 s of 0.25-s clips
    # both in one pass: one error naming both, the full list beside the label file
    with pytest.raises(AudioError, match="2 of 24 clips are bad: .*truncated.*too short"):
        tag_dataset(ds, ToyTeacher(), tmp_path / "a.h5", progress=False)
    assert set(read_bad_clips(tmp_path / "a.h5.bad_clips.csv")) == {cut.filename, short.filename}
    with pytest.raises(AudioTooShortError, match="too short"):
        tag_dataset(ds, ToyTeacher(), tmp_path / "b.h5", progress=False, clips=[short])
    a = tag_dataset(ds, ToyTeacher(), tmp_path / "a.h5", skip_bad=True, progress=False)
    assert a.attrs["n_bad_clips"] == 2 and cut.filename not in a.filenames
    b = tag_dataset(
        ds, ToyTeacher(), tmp_path / "b.h5", skip_bad=True, progress=False, clips=ds.clips[5:8]
    )
    assert b.attrs["n_bad_clips"] == 1
    # one list per label file: the second run did not overwrite the first's
    assert cut.filename in (tmp_path / "a.h5.bad_clips.csv").read_text()
    assert cut.filename not in (tmp_path / "b.h5.bad_clips.csv").read_text()
    assert a.hashes is not None and len(a.hashes) == len(a.filenames)
    assert read_labels(tmp_path / "a.h5").hashes == a.hashes

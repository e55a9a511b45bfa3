"""rgasc.data.synthetic: layout, determinism, event bounds, audio format, vocabulary."""

from __future__ import annotations

import filecmp
from collections import Counter
from pathlib import Path

import numpy as np
import pytest
import soundfile as sf

from helpers.files import mode, umask
from rgasc.data import DcaseDataset
from rgasc.data.sounds import EVENT_GENERATORS, Background, background
from rgasc.data.synthetic import (
    EVENT_LABELS,
    SCENE_BACKGROUNDS,
    SCENE_EVENT_PROBS,
    SCENES,
    read_events,
    synthesize,
)
from rgasc.errors import DatasetError

PICK = ("bus", "park", "tram")
ARGS = {"clips": 9, "duration": 1.0, "scenes": PICK}  # 3 clips = 3 locations per scene


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return synthesize(tmp_path_factory.mktemp("syn") / "c", seed=0, **ARGS)  # type: ignore[arg-type]


def _files(root: Path) -> list[str]:
    return sorted(p.relative_to(root).as_posix() for p in root.rglob("*") if p.is_file())


def test_layout_opens_as_dcase_dataset(corpus: Path) -> None:
    ds = DcaseDataset(corpus)
    assert len(ds) == 9 and ds.scenes == sorted(PICK)
    assert ds.folds() == [1]
    train, test = ds.fold(1, "train"), ds.fold(1, "evaluate")  # also checks fold labels
    assert {c.group for c in train}.isdisjoint({c.group for c in test})
    assert sorted(c.key for c in train + test) == sorted(c.key for c in ds.clips)
    assert Counter(c.scene for c in test) == Counter(dict.fromkeys(PICK, 1))  # 30% of 3 locs
    names = (corpus / "evaluation_setup" / "fold1_test.txt").read_text().split()
    assert names == [c.filename for c in test]
    assert len(ds.split("all")) == 9  # every listed clip has audio
    for c in ds.clips:
        assert c.filename == f"audio/{c.scene}-{c.location}-{c.key.split('-')[3]}-a.wav"
        assert c.device == "a"
    assert (corpus / "README.txt").read_text().startswith("rgasc synthetic acoustic scenes")
    assert {"events.csv", "synth.json", "meta.csv"} <= set(_files(corpus))


def test_audio_is_48k_stereo_24bit(corpus: Path) -> None:
    ds = DcaseDataset(corpus)
    for c in ds.clips:
        info = sf.info(ds.audio_path(c))
        assert (info.samplerate, info.channels, info.subtype, info.frames) == (
            48000,
            2,
            "PCM_24",
            48000,
        )
    x, _ = sf.read(ds.audio_path(ds.clips[0]))
    assert 0 < np.abs(x).max() <= 0.9 and np.isfinite(x).all()
    assert not np.allclose(x[:, 0], x[:, 1])  # really stereo


def test_events_within_bounds(corpus: Path) -> None:
    events = read_events(corpus / "events.csv")
    names = {c.filename for c in DcaseDataset(corpus).clips}
    assert events, "a corpus of 9 clips should hold some events"
    for name, label, on, off in events:
        assert name in names and label in EVENT_LABELS
        assert 0.0 <= on < off <= 1.0
    # Events follow the scene profiles: no label that a scene never produces.
    scene_of = {c.filename: c.scene for c in DcaseDataset(corpus).clips}
    for name, label, _, _ in events:
        assert SCENE_EVENT_PROBS[scene_of[name]].get(label, 0) > 0


def test_same_seed_same_bytes_other_seed_differs(corpus: Path, tmp_path: Path) -> None:
    again = synthesize(tmp_path / "again", seed=0, **ARGS)  # type: ignore[arg-type]
    assert _files(again) == _files(corpus)
    match, mismatch, errors = filecmp.cmpfiles(corpus, again, _files(corpus), shallow=False)
    assert not mismatch and not errors
    other = synthesize(tmp_path / "other", seed=1, **ARGS)  # type: ignore[arg-type]
    wav = DcaseDataset(corpus).clips[0].filename
    assert (other / wav).read_bytes() != (corpus / wav).read_bytes()


def test_existing_folder_rules(corpus: Path, tmp_path: Path) -> None:
    before = (corpus / "meta.csv").stat().st_mtime_ns
    assert synthesize(corpus, seed=0, **ARGS) == corpus  # type: ignore[arg-type]
    assert (corpus / "meta.csv").stat().st_mtime_ns == before  # same settings: kept as is
    with pytest.raises(DatasetError, match="overwrite"):
        synthesize(corpus, seed=5, **ARGS)  # type: ignore[arg-type]
    user = tmp_path / "mine"
    user.mkdir()
    (user / "thesis.tex").write_text("precious")
    with pytest.raises(DatasetError, match="not empty"):
        synthesize(user, overwrite=True, **ARGS)  # type: ignore[arg-type]
    assert (user / "thesis.tex").read_text() == "precious"
    replaced = synthesize(tmp_path / "r", seed=0, clips=3, duration=0.5, scenes=["park"])
    synthesize(replaced, seed=2, clips=3, duration=0.5, scenes=["park"], overwrite=True)
    assert '"seed": 2' in (replaced / "synth.json").read_text()
    assert not [p for p in tmp_path.iterdir() if "partial" in p.name]


def test_bad_arguments(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="choose from"):
        synthesize(tmp_path / "a", clips=3, scenes=["park", "moon_base"])
    with pytest.raises(DatasetError, match="at least one clip per scene"):
        synthesize(tmp_path / "b", clips=2, scenes=PICK)
    with pytest.raises(DatasetError):
        synthesize(tmp_path / "c", clips=3, duration=0, scenes=PICK)


def test_read_events_errors(tmp_path: Path) -> None:
    with pytest.raises(DatasetError, match="no events file"):
        read_events(tmp_path / "events.csv")
    bad = tmp_path / "bad.csv"
    bad.write_text("file,label\n")
    with pytest.raises(DatasetError, match="header"):
        read_events(bad)
    bad.write_text("filename\tevent_label\tonset\toffset\na.wav\tBird\tx\t1\n")
    with pytest.raises(DatasetError, match=":2:"):
        read_events(bad)
    bad.write_text("filename\tevent_label\tonset\toffset\na.wav\tBird\t2.0\t1.0\n")
    with pytest.raises(DatasetError, match="out of order"):
        read_events(bad)


def test_vocabulary_and_profiles() -> None:
    assert 10 <= len(EVENT_LABELS) <= 14 and len(set(EVENT_LABELS)) == len(EVENT_LABELS)
    assert set(SCENE_EVENT_PROBS) == set(SCENES) == set(SCENE_BACKGROUNDS)
    assert sorted(SCENES) == list(SCENES)
    used = Counter(lab for prof in SCENE_EVENT_PROBS.values() for lab in prof)
    assert set(used) == set(EVENT_LABELS)  # every label occurs in some scene
    assert sum(n >= 2 for n in used.values()) >= 8  # most labels are shared between scenes
    profiles = [tuple(sorted(p.items())) for p in SCENE_EVENT_PROBS.values()]
    assert len(set(profiles)) == len(profiles)  # each scene has its own profile
    assert all(0 < p < 1 for prof in SCENE_EVENT_PROBS.values() for p in prof.values())


@pytest.mark.parametrize("label", list(EVENT_GENERATORS))
def test_each_event_generator(label: str) -> None:
    for sr in (16000, 48000):
        x = EVENT_GENERATORS[label](np.random.default_rng(0), sr)
        assert x.dtype == np.float32 and x.ndim == 1 and 0.04 * sr < x.size < 6 * sr
        assert np.isfinite(x).all() and np.isclose(np.abs(x).max(), 1.0)
    y = EVENT_GENERATORS[label](np.random.default_rng(0), 16000)
    np.testing.assert_array_equal(y, EVENT_GENERATORS[label](np.random.default_rng(0), 16000))


def test_background_level_and_shape() -> None:
    p = Background(tilt=-4, rumble=10, babble=6, hum=3, swell=0.3, level=-30)
    x = background(np.random.default_rng(0), 16000, 16000, p)
    assert x.shape == (16000, 2) and np.isfinite(x).all()
    assert abs(20 * np.log10(np.sqrt(np.mean(x**2))) + 30) < 0.1
    dark = background(np.random.default_rng(0), 16000, 16000, Background(-8, 0, -60, -60, 0, -30))
    bright = background(np.random.default_rng(0), 16000, 16000, Background(0, 0, -60, -60, 0, -30))

    def high_share(sig: np.ndarray) -> float:
        spec = np.abs(np.fft.rfft(sig[:, 0])) ** 2
        return float(spec[spec.size // 4 :].sum() / spec.sum())

    assert high_share(dark) < high_share(bright)  # the tilt does what it says


@pytest.mark.slow
def test_events_carry_more_scene_information_than_backgrounds() -> None:
    """The corpus's design claim, measured: location-grouped 5-fold CV of a linear model."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.model_selection import GroupKFold, cross_val_score

    from rgasc.data import synthetic as syn

    sr, n = 16000, 32000
    edges = np.geomspace(50, 7900, 17)
    freqs = np.fft.rfftfreq(1024, 1 / sr)

    def band_stats(x: np.ndarray) -> np.ndarray:
        frames = np.lib.stride_tricks.sliding_window_view(x.mean(1), 1024)[::512]
        power = np.abs(np.fft.rfft(frames * np.hanning(1024), axis=1)) ** 2
        bands = np.stack(
            [
                power[:, (freqs >= a) & (freqs < b)].sum(1)
                for a, b in zip(edges[:-1], edges[1:], strict=True)
            ],
            1,
        )
        logb = np.log(bands + 1e-10)
        return np.concatenate([logb.mean(0), logb.std(0)])

    bg_feats, ev_feats, y, groups = [], [], [], []
    for clip, gi, loc, c in syn._plan(syn.SCENES, 200):
        lrng = np.random.default_rng([0, gi, 0, loc])
        bg = syn.SCENE_BACKGROUNDS[clip.scene].jitter(lrng, 1.0)
        prof = {
            k: float(np.clip(p * lrng.uniform(0.6, 1.4), 0, 0.95))
            for k, p in syn.SCENE_EVENT_PROBS[clip.scene].items()
        }
        xb, _ = syn._render_clip(np.random.default_rng([0, gi, 1, c]), n, sr, bg, {})
        _, ev = syn._render_clip(np.random.default_rng([0, gi, 1, c]), n, sr, bg, prof)
        bg_feats.append(band_stats(xb))
        ev_feats.append([any(e[0] == lab for e in ev) for lab in EVENT_LABELS])
        y.append(gi)
        groups.append(f"{gi}-{loc}")

    def cv(x: list) -> float:  # type: ignore[type-arg]
        clf = LogisticRegression(max_iter=3000)
        feats = np.asarray(x, dtype=float)
        feats = (feats - feats.mean(0)) / (feats.std(0) + 1e-9)
        return float(cross_val_score(clf, feats, y, groups=groups, cv=GroupKFold(5)).mean())

    acc_bg, acc_ev = cv(bg_feats), cv(ev_feats)
    assert acc_bg < 0.5  # backgrounds alone are ambiguous (chance = 0.1) ...
    assert acc_ev > acc_bg + 0.1  # ... and events say more about the scene


@pytest.mark.parametrize("mask", [0o022, 0o027])
def test_the_corpus_folder_honours_the_umask(tmp_path: Path, mask: int) -> None:
    """Written in a mkdtemp folder (0700) and renamed: the mode must be a plain mkdir's."""
    with umask(mask):
        out = synthesize(tmp_path / "c", seed=0, clips=3, duration=0.2, scenes=PICK)
    assert mode(out) == 0o777 & ~mask
    assert mode(out / "audio") == 0o777 & ~mask

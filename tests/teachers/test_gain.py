"""rgasc.teachers.gain: the per-clip level rule and the teacher that hears through it."""

from __future__ import annotations

import numpy as np
import pytest

from rgasc.errors import TeacherError
from rgasc.teachers import get_teacher, register_teacher
from rgasc.teachers.gain import MAX_BOOST_DB, Gain, GainTeacher


def _dbfs(x: np.ndarray) -> float:
    return float(20 * np.log10(np.sqrt(np.mean(np.asarray(x, np.float64) ** 2))))


@pytest.mark.parametrize(
    ("spec", "want"),
    [
        ("none", Gain()),
        ("rms:-20", Gain("rms", -20)),
        (" PEAK:-3 ", Gain("peak", -3)),
        ("rms:0", Gain("rms", 0)),
    ],
)
def test_parse_and_round_trip(spec: str, want: Gain) -> None:
    assert Gain.parse(spec) == want
    assert Gain.parse(str(want)) == want  # the recorded form parses back


@pytest.mark.parametrize("spec", ["loud", "rms", "rms:x", "rms:+3", "none:1", "peak:nan"])
def test_bad_rules_name_the_fix(spec: str) -> None:
    with pytest.raises(TeacherError, match=r"rms:DB"):
        Gain.parse(spec)


def test_rms_rule_sets_each_clip_level_without_clipping() -> None:
    rng = np.random.default_rng(0)
    quiet = 10 ** (-45 / 20) * rng.standard_normal(16000)  # a TUT2018-like level
    loud = 10 ** (-10 / 20) * rng.standard_normal(16000)
    spiky = np.zeros(16000)
    spiky[::4000] = 0.5  # RMS -32 dBFS, peak -6: -20 dBFS RMS would need a peak of 2
    x = np.stack([quiet, loud, spiky]).astype(np.float32)
    y = Gain.parse("rms:-20").apply(x)
    assert y.dtype == np.float32 and y.shape == x.shape
    assert _dbfs(y[0]) == pytest.approx(-20, abs=0.01)
    assert _dbfs(y[1]) == pytest.approx(-20, abs=0.01)  # loud clips come down too
    assert np.abs(y[2]).max() == pytest.approx(1.0, abs=1e-6)  # capped at full scale
    assert _dbfs(y[2]) < -20


def test_peak_rule_none_and_silence() -> None:
    x = np.stack([np.linspace(-0.01, 0.02, 100), np.zeros(100)]).astype(np.float32)
    y = Gain.parse("peak:-3").apply(x)
    assert np.abs(y[0]).max() == pytest.approx(10 ** (-3 / 20), rel=1e-5)
    assert not y[1].any()  # digital silence stays silence
    assert Gain.parse("none").apply(x) is x
    hiss = np.full((1, 100), 1e-6, np.float32)  # -120 dBFS: boost capped
    assert Gain.parse("rms:-20").factors(hiss)[0] == pytest.approx(10 ** (MAX_BOOST_DB / 20))
    one = Gain.parse("rms:-20").apply(x[0])  # a single clip keeps its shape
    assert one.shape == x[0].shape


class _Recorder:
    """A teacher that remembers the waveforms it was given."""

    name, sample_rate, labels, mids, checkpoint_sha256 = "rec", 16000, ["a"], None, None

    def __init__(self) -> None:
        self.heard: list[np.ndarray] = []
        self.options = {"pooling": "mean"}

    def tag(self, waveforms: np.ndarray) -> np.ndarray:
        self.heard.append(np.asarray(waveforms))
        return np.zeros((len(waveforms), 1), np.float32)

    def embed(self, waveforms: np.ndarray) -> np.ndarray | None:
        self.heard.append(np.asarray(waveforms))
        return None

    def to(self, device: str) -> _Recorder:
        return self


def test_get_teacher_wraps_and_records_the_rule() -> None:
    register_teacher("gain-recorder")(lambda device="cpu": _Recorder())
    plain = get_teacher("gain-recorder")
    assert isinstance(plain, _Recorder)  # no gain given: the teacher as built
    t = get_teacher("gain-recorder", gain="rms:-20")
    assert isinstance(t, GainTeacher)
    assert t.options == {"pooling": "mean", "gain": "rms:-20"}
    assert (t.name, t.labels, t.sample_rate) == ("rec", ["a"], 16000)
    x = (0.001 * np.random.default_rng(1).standard_normal((2, 800))).astype(np.float32)
    t.tag(x)
    t.embed(x)
    for heard in t.teacher.heard:  # tag and embed hear the same scaled clips
        np.testing.assert_allclose([_dbfs(c) for c in heard], [-20, -20], atol=0.01)
    assert t.to("cpu") is t
    with pytest.raises(TeacherError, match="unknown rule"):
        get_teacher("gain-recorder", gain="loudness")


def test_annotation_teachers_are_not_wrapped(tmp_path) -> None:
    from helpers.dcase import make_dcase

    root = make_dcase(tmp_path / "ds", ("park", "bus"), locations_per_city=1, seconds=0.1)
    (root / "events.csv").write_text(
        "filename\tevent_label\tonset\toffset\naudio/x.wav\tdog\t0.0\t0.1\n"
    )
    t = get_teacher("annotations", dataset=root, gain="rms:-20")
    assert not isinstance(t, GainTeacher)


def test_tagging_records_the_rule_and_never_reuses_labels_of_another(tiny_dataset) -> None:
    """The label file records the rule; a rerun under another rule tags again (the rule is
    part of the run's identity), under the same rule it reuses every clip."""
    import json

    from helpers.teachers import ToyTeacher
    from rgasc.data import DcaseDataset
    from rgasc.labels.files import read_labels
    from rgasc.labels.tagging import tag_dataset

    ds = DcaseDataset(tiny_dataset)
    out = tiny_dataset.parent / "labels.h5"
    loud = tag_dataset(ds, GainTeacher(ToyTeacher(), Gain.parse("rms:-20")), out, progress=False)
    assert json.loads(read_labels(out).attrs["teacher_options"])["gain"] == "rms:-20"
    same = GainTeacher(ToyTeacher(), Gain.parse("rms:-20"))
    again = tag_dataset(ds, same, out, progress=False)
    assert same.teacher.calls == 0 and again.reused == len(ds.clips)
    raw = GainTeacher(ToyTeacher(), Gain.parse("none"))
    plain = tag_dataset(ds, raw, out, progress=False)
    assert raw.teacher.calls > 0 and plain.reused == 0
    assert json.loads(read_labels(out).attrs["teacher_options"])["gain"] == "none"
    # the toy's first event grows with the RMS it hears: the rule changed what it heard
    assert not np.allclose(loud.probs[:, 0], plain.probs[:, 0])

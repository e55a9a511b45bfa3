"""The annotations teacher and the teacher registry."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from helpers.dcase import make_dcase
from helpers.teachers import write_events
from rgasc.data.datasets import DcaseDataset
from rgasc.errors import TeacherError
from rgasc.teachers import NameTeacher, Teacher, available_teachers, get_teacher
from rgasc.teachers.annotations import AnnotationTeacher


@pytest.fixture
def annotated(tmp_path: Path) -> DcaseDataset:
    ds = DcaseDataset(make_dcase(tmp_path / "ds", seconds=0.2, sr=16000))
    names = [c.filename for c in ds.clips]
    rows = {c.key: (["car", "voice"] if c.scene == "bus" else ["bird"]) for c in ds.clips[:-1]}
    write_events(ds.root, names, rows)
    return ds


def test_registry_lists_builtins() -> None:
    names = available_teachers()
    assert {"panns-cnn14-16k", "panns-cnn14", "yamnet", "annotations"} <= set(names)
    with pytest.raises(TeacherError, match="unknown teacher"):
        get_teacher("no-such-teacher")


def test_multi_hot_from_events(annotated: DcaseDataset) -> None:
    t = get_teacher("annotations", dataset=annotated.root)
    assert isinstance(t, Teacher) and isinstance(t, NameTeacher)
    assert t.labels == ["bird", "car", "voice"]  # sorted labels found in events.csv
    bus = next(c for c in annotated.clips if c.scene == "bus")
    park = next(c for c in annotated.clips if c.scene == "park")
    y = t.tag_names([bus.filename, park.key + ".wav", annotated.clips[-1].key])
    np.testing.assert_array_equal(y, [[0, 1, 1], [1, 0, 0], [0, 0, 0]])
    assert y.dtype == np.float32
    with pytest.raises(TeacherError, match="by name"):
        t.tag(np.zeros((1, 100), np.float32))


def test_noise_flips_about_p_and_is_order_free(annotated: DcaseDataset) -> None:
    names = [c.filename for c in annotated.clips]
    clean = AnnotationTeacher(annotated.root / "events.csv").tag_names(names)
    noisy = AnnotationTeacher(annotated.root / "events.csv", noise=0.3, seed=1)
    a = noisy.tag_names(names)
    b = noisy.tag_names(names[::-1])[::-1]  # flips depend on the clip, not its position
    np.testing.assert_array_equal(a, b)
    rate = (a != clean).mean()
    assert 0.1 < rate < 0.5
    other = AnnotationTeacher(annotated.root / "events.csv", noise=0.3, seed=2).tag_names(names)
    assert (other != a).any()


def test_errors_name_the_fix(tmp_path: Path, annotated: DcaseDataset) -> None:
    with pytest.raises(TeacherError, match="events.csv"):
        get_teacher("annotations", dataset=tmp_path)
    with pytest.raises(TeacherError, match="does not take"):
        get_teacher("annotations", dataset=annotated.root, pooling="max")
    with pytest.raises(TeacherError, match="noise"):
        get_teacher("annotations", dataset=annotated.root, noise=0.9)
    t = get_teacher("annotations", dataset=annotated.root)
    with pytest.raises(TeacherError, match="another dataset"):
        t.tag_names(["nothing-like-this"])
    bad = tmp_path / "bad.csv"
    bad.write_text("file,label\nx,y\n")
    with pytest.raises(TeacherError, match="event_label"):
        AnnotationTeacher(bad)

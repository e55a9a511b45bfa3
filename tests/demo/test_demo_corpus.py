"""The demo's data: the real-sound benchmark by default, the synthetic corpus as the fallback
(archive unreachable), and the report's first line saying which one ran. No network: the
benchmark's builder is replaced by one that writes a tiny dataset, or one that fails."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from helpers.dcase import make_dcase
from helpers.demo import TINY, FakeTrain, fake_evaluate
from helpers.teachers import write_events
from rgasc.data.realscenes.fetch import FetchError
from rgasc.demo.corpus import REAL_HINT, realscenes_root
from rgasc.demo.run import run_demo
from rgasc.errors import RgascError
from rgasc.utils import read_json

SCENES = ("forest", "harbour", "market")
EVENTS = {"forest": ["bird"], "harbour": ["gull", "bell"], "market": ["speech"]}


@pytest.fixture
def cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.setenv("RGASC_CACHE", str(tmp_path / "cache"))
    return tmp_path / "cache"


class TinyBuild:
    """Stands in for rgasc.data.realscenes.build.build: a small dataset with events.csv."""

    def __init__(self) -> None:
        self.calls: list[Path] = []

    def __call__(self, out: Path, *, clips: int, seed: int, force: bool, log) -> dict:  # noqa: ANN001
        self.calls.append(out)
        if not (out / "build.json").is_file():
            make_dcase(out, SCENES, seconds=1.3, sr=16000, channels=1)
            names = [f"audio/{p.name}" for p in sorted((out / "audio").iterdir())]
            write_events(out, names, {Path(n).stem: EVENTS[n[6:].split("-")[0]] for n in names})
            (out / "build.json").write_text(json.dumps({"settings": {"clips": clips}}))
        else:
            log(f"{out}: already built with these settings")
        return {}


def _unreachable(out: Path, **kw: object) -> dict:
    raise FetchError("cannot download lincity-ng-data=2.9: Temporary failure resolving")


def _real_cfg(**kw: object):  # noqa: ANN202
    return TINY.replace(**{"corpus": "auto", **kw})


def test_real_sound_by_default_built_once_and_named_first(cache: Path) -> None:
    build, fake, lines = TinyBuild(), FakeTrain(), []
    report = run_demo(
        cache.parent / "demo",
        _real_cfg(),
        log=lines.append,
        train_fn=fake,
        evaluate_fn=lambda run: fake_evaluate(run, SCENES),
        build_fn=build,
    )
    assert build.calls == [realscenes_root()] and realscenes_root().is_relative_to(cache)
    first = report.read_text().splitlines()[0]
    assert first.startswith("# rgasc demo on real sound (the real-scenes benchmark): puASC")
    info = read_json(cache.parent / "demo" / "demo.json")
    assert info["corpus"] == "realscenes" and not info["times"]["data"]["cached"]
    assert not (cache.parent / "demo" / "data").exists()  # no synthetic corpus made
    # a second demo (another folder) reuses the build
    run_demo(
        cache.parent / "demo2",
        _real_cfg(),
        log=lines.append,
        train_fn=fake,
        evaluate_fn=lambda run: fake_evaluate(run, SCENES),
        build_fn=build,
    )
    assert read_json(cache.parent / "demo2" / "demo.json")["times"]["data"]["cached"]


def test_unreachable_archive_falls_back_to_synthetic_with_one_line(cache: Path) -> None:
    lines: list[str] = []
    report = run_demo(
        cache.parent / "demo",
        _real_cfg(),
        log=lines.append,
        train_fn=FakeTrain(),
        evaluate_fn=fake_evaluate,
        build_fn=_unreachable,
    )
    why = [ln for ln in lines if ln.startswith("real-sound benchmark unavailable")]
    assert len(why) == 1 and "Temporary failure resolving" in why[0] and REAL_HINT in why[0]
    assert "make bench-data" in why[0]
    assert "on the synthetic corpus (procedural sounds" in report.read_text().splitlines()[0]
    assert read_json(cache.parent / "demo" / "demo.json")["corpus"] == "synthetic"


def test_asking_for_real_sound_without_the_archive_is_an_error(cache: Path) -> None:
    with pytest.raises(RgascError, match="real-sound benchmark unavailable") as e:
        run_demo(
            cache.parent / "demo",
            _real_cfg(corpus="realscenes"),
            log=lambda s: None,
            train_fn=FakeTrain(),
            evaluate_fn=fake_evaluate,
            build_fn=_unreachable,
        )
    assert "--dataset" in str(e.value)


def test_three_seeds_give_the_paired_interval(cache: Path) -> None:
    fake = FakeTrain()
    report = run_demo(
        cache.parent / "demo",
        TINY.replace(seeds=3, seed=4),
        log=lambda s: None,
        train_fn=fake,
        evaluate_fn=fake_evaluate,
    )
    assert fake.calls == ["puasc", "rgasc"] * 3
    d = cache.parent / "demo"
    assert sorted(p.name for p in (d / "runs" / "rgasc").iterdir()) == ["seed4", "seed5", "seed6"]
    text = report.read_text()
    assert "mean of 3 seeds" in text.splitlines()[0]
    # identical differences on every seed: no spread, and the report says what it allows
    assert "RGASC vs puASC over 3 paired seeds" in text or "no spread" in text
    assert read_json(d / "demo.json")["seeds"] == [4, 5, 6]

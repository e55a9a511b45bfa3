"""``write_report`` on run folders as train/evaluate leave them (helpers.report): the page's
structure, its links and audio, moving it, --compare, experiment folders, bad input."""

from __future__ import annotations

import json
import re
import shutil
from pathlib import Path

import pytest
import soundfile as sf

from helpers.report import (
    SCENES,
    broken_links,
    chosen_predictions,
    make_report_run,
    page_links,
    split_clips,
    target,
)
from helpers.training import TinyInputs
from rgasc.errors import ArtefactError, ConfigError, LabelSpaceError
from rgasc.report import write_report
from rgasc.report.audio import AUDIO_RATE


@pytest.fixture(scope="module")
def run(tiny_inputs: TinyInputs, tmp_path_factory: pytest.TempPathFactory) -> Path:
    return make_report_run(tmp_path_factory.mktemp("report_run") / "run", tiny_inputs)


@pytest.fixture(scope="module")
def built(run: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, list[str]]:
    out = tmp_path_factory.mktemp("page") / "page"
    lines: list[str] = []
    write_report(run, out=out, device="cpu", log=lines.append)
    return out, lines


def _wrong_names(inputs: TinyInputs, wrong_every: int = 3) -> list[str]:
    names, y = split_clips(inputs)
    pred, _ = chosen_predictions(y, wrong_every)
    return [n for n, t, p in zip(names, y, pred, strict=True) if t != p]


def _cards(page: Path) -> dict[str, str]:
    """clip name -> its card's HTML on a clip page."""
    text = page.read_text()
    cards = re.findall(r'<article class="clip.*?</article>', text, flags=re.DOTALL)
    return {re.search(r"<code>(.*?)</code>", c).group(1): c for c in cards}  # type: ignore[union-attr]


def test_the_page_and_its_links(built: tuple[Path, list[str]]) -> None:
    out, lines = built
    index = out / "index.html"
    assert index.is_file()
    assert broken_links(out) == []
    text = index.read_text()
    for section in ('id="overview"', 'id="confusion"', 'id="classes"', 'id="figures"'):
        assert section in text
    assert "macro accuracy" in text and "log loss" in text and "data provenance" in text.lower()
    # the figures the run wrote are copied, the one it did not write (t-SNE) is not linked
    images = [url for tag, url in page_links(index) if tag == "img"]
    assert sorted(Path(u).name for u in images) == ["confusion.png", "curves.png", "relation.png"]
    # the event tower had no per-clip file: predicted once, and said in one line
    assert len(lines) == 1 and "event tower" in lines[0] and lines[0] in text


def test_every_misclassified_clip_has_a_player(
    built: tuple[Path, list[str]], tiny_inputs: TinyInputs
) -> None:
    out, _ = built
    page = out / "clips" / "wrong-001.html"
    cards = _cards(page)
    assert sorted(cards) == sorted(_wrong_names(tiny_inputs))
    for card in cards.values():
        src = re.search(r'<audio controls preload="none" src="([^"]+)"', card)
        assert src is not None
        audio = target(page, src.group(1))
        assert audio is not None and audio.is_file()
        info = sf.info(str(audio))
        assert (info.samplerate, info.channels, info.format) == (AUDIO_RATE, 1, "OGG")
        assert info.duration == pytest.approx(1.0, abs=0.01)  # the model's clip length
        assert "Teacher's top events" in card and "Event tower's top events" in card
        assert "pushed" in card


def test_confusion_cells_link_to_their_clips(
    built: tuple[Path, list[str]], tiny_inputs: TinyInputs
) -> None:
    out, _ = built
    names, y = split_clips(tiny_inputs)
    pred, _ = chosen_predictions(y, 3)
    index = out / "index.html"
    cells = [url for _, url in page_links(index) if "/cell-" in url]
    expected = {(int(t), int(p)) for t, p in zip(y, pred, strict=True)}
    assert len(cells) == len(expected)
    for url in cells:
        i, j = map(int, re.search(r"cell-(\d+)-(\d+)-001", url).groups())  # type: ignore[union-attr]
        page = target(index, url)
        assert page is not None
        listed = set(_cards(page))
        assert listed == {n for n, t, p in zip(names, y, pred, strict=True) if (t, p) == (i, j)}
        assert f"True {SCENES[i]}, predicted {SCENES[j]}" in page.read_text()


def test_moving_the_folder_keeps_its_links(built: tuple[Path, list[str]], tmp_path: Path) -> None:
    out, _ = built
    moved = tmp_path / "elsewhere" / "renamed"
    shutil.copytree(out, tmp_path / "copy")
    shutil.move(tmp_path / "copy", moved)
    assert broken_links(moved) == []
    audio = [u for p in moved.rglob("*.html") for t, u in page_links(p) if t == "audio"]
    assert audio and all(u.startswith("../assets/audio/") for u in audio)


def test_a_rebuild_reuses_the_event_tower_outputs(run: Path, tmp_path: Path) -> None:
    lines: list[str] = []
    write_report(run, out=tmp_path / "p", device="cpu", log=lines.append)
    again: list[str] = []
    write_report(run, out=tmp_path / "p", device="cpu", log=again.append)
    assert lines and not again


def test_compare_lists_the_disagreements(
    run: Path, tiny_inputs: TinyInputs, tmp_path: Path
) -> None:
    other = make_report_run(tmp_path / "other", tiny_inputs, seed=1, wrong_every=2)
    out = tmp_path / "page"
    write_report(run, out=out, compare=other, device="cpu", log=lambda _: None)
    names, y = split_clips(tiny_inputs)
    mine, _ = chosen_predictions(y, 3)
    theirs, _ = chosen_predictions(y, 2)
    differ = {n for n, a, b in zip(names, mine, theirs, strict=True) if a != b}
    assert differ  # the two patterns disagree on some clips
    assert set(_cards(out / "clips" / "disagree-001.html")) == differ
    text = (out / "index.html").read_text()
    assert f"{len(differ)} clip(s) the two runs disagree on" in text
    assert broken_links(out) == []


def test_compare_refuses_other_scenes(run: Path, tiny_inputs: TinyInputs, tmp_path: Path) -> None:
    other = make_report_run(tmp_path / "other", tiny_inputs)
    pred = other / "eval_test" / "predictions.csv"
    pred.write_text(pred.read_text().replace("airport", "harbour"))
    with pytest.raises(LabelSpaceError, match="scenes"):
        write_report(run, out=tmp_path / "p", compare=other, device="cpu", log=lambda _: None)


def test_a_split_never_evaluated_is_evaluated_first(
    tiny_inputs: TinyInputs, tmp_path: Path
) -> None:
    run = make_report_run(tmp_path / "run", tiny_inputs, evaluated=False)
    lines: list[str] = []
    r = write_report(run, out=tmp_path / "page", device="cpu", log=lines.append)
    assert "predictions.csv" in lines[0] or "metrics.json" in lines[0]
    assert "evaluating" in lines[0]
    assert (run / "eval_test" / "predictions.csv").is_file()
    assert r.clips == 12 and r.index.is_file()


def _experiment(root: Path, inputs: TinyInputs) -> tuple[Path, str]:
    """An experiment folder as `rgasc experiment` writes it: two configurations x 2 seeds;
    returns it and the paired interval of its second row, in the experiments' own words."""
    from rgasc.experiments.stats import interval_text
    from rgasc.experiments.tables import RunRecord, aggregate, write_results

    records = []
    for config, acc, step in (("puasc", 0.5, 0.01), ("rgasc", 0.6, 0.02)):
        for seed in (1, 2):
            run = make_report_run(root / config / f"seed{seed}", inputs, seed=seed)
            test = acc + step * seed
            (run / "metrics.json").write_text(
                json.dumps({"test": {"macro_accuracy": test, "log_loss": 1 + seed}})
            )
            records.append(RunRecord(config, seed, str(run), acc, test))
    rows = aggregate(records, [("puasc", "puASC"), ("rgasc", "RGASC")], baseline="puasc")
    write_results(root, rows, records, "# results\n")
    (root / "experiment.json").write_text(json.dumps({"experiment": "main", "seeds": [1, 2]}))
    assert rows[1].diff is not None
    return root, interval_text(rows[1].diff)


def test_an_experiment_folder(tiny_inputs: TinyInputs, tmp_path: Path) -> None:
    exp, interval = _experiment(tmp_path / "exp", tiny_inputs)
    r = write_report(exp, device="cpu", log=lambda _: None)
    assert r.index == exp / "report_test" / "index.html"
    text = r.index.read_text()
    assert 'id="experiment"' in text and "puasc/seed1" in text
    # mean ± std over seeds (%), test log loss over seeds, the paired interval vs the baseline
    assert "51.50 ± 0.71" in text and "63.00 ± 1.41" in text and "2.500 ± 0.707" in text
    assert interval.startswith("+11.50 [") and interval in text
    other = write_report(exp, out=tmp_path / "p2", member="rgasc/seed2", device="cpu", log=print)
    assert "rgasc/seed2" in other.index.read_text()
    with pytest.raises(ArtefactError, match="no run 'rgasc/seed9'"):
        write_report(exp, out=tmp_path / "p3", member="rgasc/seed9", log=print)


def test_bad_input_names_the_file(run: Path, tmp_path: Path) -> None:
    lines: list[str] = []
    with pytest.raises(ArtefactError, match=r"config\.yaml: missing.*not a run folder"):
        write_report(tmp_path, out=tmp_path / "p", log=lines.append)
    assert lines == []  # refused before anything was evaluated
    with pytest.raises(ArtefactError, match=r"config\.yaml: missing"):
        write_report(run, out=tmp_path / "p", compare=tmp_path, log=lines.append)
    with pytest.raises(ArtefactError, match="no such folder"):
        write_report(tmp_path / "nowhere")
    with pytest.raises(ConfigError, match="split 'dev'"):
        write_report(run, split="dev")
    busy = tmp_path / "busy"
    busy.mkdir()
    (busy / "notes.txt").write_text("mine")
    with pytest.raises(ArtefactError, match="holds 'notes.txt'.*not a report folder"):
        write_report(run, out=busy)
    assert (busy / "notes.txt").read_text() == "mine"
    # a build stopped before its index leaves only its own entries: the rerun goes on
    (busy / "notes.txt").unlink()
    (busy / "assets").mkdir()
    assert write_report(run, out=busy, device="cpu", log=lambda _: None).index.is_file()

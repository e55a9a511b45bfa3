"""The pages from a Site built in memory: escaping, paging, stale pages, shipped templates."""

from __future__ import annotations

import fnmatch
import tomllib
from pathlib import Path

import numpy as np

from helpers.report import broken_links, page_links
from rgasc.report.collect import SplitData, collect
from rgasc.report.render import Site, render_site

ROOT = Path(__file__).resolve().parents[2]
TEMPLATES = ROOT / "src" / "rgasc" / "report" / "templates"
SCENES = ["airport", "bus", "park"]
EVENTS = ["Speech", "Vehicle", "Bird"]


def _site(names: list[str], *, scenes: list[str] = SCENES, wrong_every: int = 1) -> Site:
    n = len(names)
    y = np.arange(n) % 3
    pred = np.where(np.arange(n) % wrong_every == 0, (y + 1) % 3, y)
    probs = np.full((n, 3), 0.2)
    probs[np.arange(n), pred] = 0.6
    data = SplitData(
        names=names,
        scenes=scenes,
        y=y,
        pred=pred,
        probs=probs,
        events=EVENTS,
        relation=np.eye(3) * 0.8 + 0.1,
    )
    return Site(
        title="tiny",
        split="test",
        report=collect(data),
        headline=[("clips", str(n))],
        devices=[],
        config_summary=[("seed", "0")],
        provenance=[("dataset", "<ds>")],
        config_text="train:\n  out: <script>alert(1)</script>\n",
        figures=[],
        audio={},
        notes=[],
    )


def test_names_are_escaped(tmp_path: Path) -> None:
    odd = "audio/<b>x</b> & \"y\" 'z'.wav"
    site = _site([odd, "b.wav", "c.wav"], scenes=["<i>airport</i>", "bus", "park"])
    render_site(site, tmp_path)
    page = (tmp_path / "clips" / "wrong-001.html").read_text()
    assert "&lt;b&gt;x&lt;/b&gt; &amp; &#34;y&#34; &#39;z&#39;.wav" in page
    assert "<b>x</b>" not in page and "<i>airport</i>" not in page
    index = (tmp_path / "index.html").read_text()
    assert "&lt;i&gt;airport&lt;/i&gt;" in index and "<i>airport" not in index
    assert "<script>alert" not in index and "&lt;script&gt;alert(1)" in index
    assert broken_links(tmp_path) == []


def test_many_clips_are_paged(tmp_path: Path) -> None:
    site = _site([f"audio/clip{i:04d}.wav" for i in range(450)])  # every clip wrong
    render_site(site, tmp_path, page_size=40)
    wrong = sorted((tmp_path / "clips").glob("wrong-*.html"))
    assert [p.name for p in wrong[:2]] == ["wrong-001.html", "wrong-002.html"]
    assert len(wrong) == 12
    cards = [p.read_text().count('<article class="clip') for p in wrong]
    assert cards == [40] * 11 + [10]
    # every clip once, in order, across the pages
    text = "".join(p.read_text() for p in wrong)
    assert text.count("audio/clip0000.wav") == 1 and text.count("audio/clip0449.wav") == 1
    # each page links its neighbours, and every page of the list
    middle = {url for _, url in page_links(wrong[5])}
    assert {"wrong-005.html", "wrong-007.html", "wrong-012.html"} <= middle
    assert broken_links(tmp_path) == []
    # no page is anywhere near the size of the whole list
    assert max(p.stat().st_size for p in wrong) < 3 * min(p.stat().st_size for p in wrong[:-1])


def test_a_rebuild_removes_stale_pages(tmp_path: Path) -> None:
    render_site(_site([f"c{i}.wav" for i in range(250)]), tmp_path, page_size=100)
    assert (tmp_path / "clips" / "wrong-003.html").is_file()
    render_site(_site([f"c{i}.wav" for i in range(50)]), tmp_path, page_size=100)
    assert not (tmp_path / "clips" / "wrong-003.html").exists()
    assert broken_links(tmp_path) == []


def test_the_page_needs_no_script_and_no_network(tmp_path: Path) -> None:
    render_site(_site(["a.wav", "b.wav", "c.wav"]), tmp_path)
    for page in tmp_path.rglob("*.html"):
        text = page.read_text()
        assert "<script" not in text and "http://" not in text and "https://" not in text
        assert "<style>" in text  # the style is inline


def test_templates_ship_as_package_data() -> None:
    """Every template file is matched by a [tool.setuptools.package-data] pattern."""
    data = tomllib.loads((ROOT / "pyproject.toml").read_text())
    patterns = data["tool"]["setuptools"]["package-data"]["rgasc"]
    files = [p.relative_to(ROOT / "src" / "rgasc").as_posix() for p in TEMPLATES.iterdir()]
    assert {"index.html.j2", "clips.html.j2", "base.html.j2"} <= {Path(f).name for f in files}
    missing = [f for f in files if not any(fnmatch.fnmatch(f, pat) for pat in patterns)]
    assert not missing

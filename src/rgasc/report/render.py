"""Writing the pages: a :class:`Site` in, ``index.html`` and ``clips/*.html`` out (Jinja2).

Templates live in ``rgasc/report/templates/`` (package data) and are rendered with
autoescaping on, so a clip name, a scene or a config value can never inject markup. Every
link is relative (``assets/...`` from the index, ``../assets/...`` from a clip page) and every
style is inline: the folder opens from disk, moved or not, with no server and no network, and
without any script. Clip lists are split into pages of ``page_size`` clips, so a test split
of thousands of clips stays quick to open.
"""

from __future__ import annotations

import dataclasses
import math
from pathlib import Path
from typing import Any

import jinja2

from rgasc.report.collect import Report, pages
from rgasc.report.experiment import ExperimentSummary
from rgasc.utils import write_text_atomic

#: Clips per clip page.
PAGE_SIZE = 100
CLIPS_DIR = "clips"
ASSETS_DIR = "assets"


@dataclasses.dataclass(frozen=True)
class Comparison:
    """The second run of ``--compare``: its short name and folder, headline and the 2 x 2
    agreement counts."""

    name: str
    path: str
    headline: list[tuple[str, str]]
    both_right: int
    only_this: int
    only_other: int
    both_wrong: int


@dataclasses.dataclass(frozen=True)
class Site:
    """Everything the pages show.

    Attributes:
        audio: clip index -> its copy, relative to the output folder.
        figures: (path relative to the output folder, caption).
        notes: one line per thing done or left out while building (re-inference, missing
            audio), shown at the top of the index.
    """

    title: str
    split: str
    report: Report
    headline: list[tuple[str, str]]
    devices: list[dict[str, str]]
    config_summary: list[tuple[str, str]]
    provenance: list[tuple[str, str]]
    config_text: str
    figures: list[tuple[str, str]]
    audio: dict[int, str]
    notes: list[str]
    experiment: ExperimentSummary | None = None
    comparison: Comparison | None = None
    version: str = ""


@dataclasses.dataclass(frozen=True)
class ClipList:
    """A named list of clips, paged: ``clips/<slug>-001.html``, ``-002``..."""

    slug: str
    title: str
    items: list[int]

    def href(self, page: int = 1) -> str:
        return f"{CLIPS_DIR}/{self.slug}-{page:03d}.html"


def environment() -> jinja2.Environment:
    env = jinja2.Environment(
        loader=jinja2.PackageLoader("rgasc.report", "templates"),
        autoescape=True,
        undefined=jinja2.StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )
    env.filters["pct"] = pct
    env.filters["num"] = num
    env.filters["barwidth"] = barwidth
    return env


def pct(x: Any, digits: int = 1) -> str:
    """A fraction as ``12.3 %``; "n/a" for None/NaN."""
    if not isinstance(x, int | float) or not math.isfinite(x):
        return "n/a"
    return f"{100 * x:.{digits}f} %"


def num(x: Any, digits: int = 3) -> str:
    if not isinstance(x, int | float) or not math.isfinite(x):
        return "n/a"
    return f"{x:.{digits}f}"


def barwidth(x: Any) -> str:
    """A value in [0, 1] as a CSS width (clamped: R_SE entries and probabilities)."""
    v = float(x) if isinstance(x, int | float) and math.isfinite(x) else 0.0
    return f"{100 * min(max(v, 0.0), 1.0):.1f}%"


def clip_lists(site: Site) -> list[ClipList]:
    """The misclassified clips, the sample of correct ones, the disagreements (with
    ``--compare``) and every non-empty confusion cell."""
    r = site.report
    lists = [
        ClipList("wrong", "Misclassified clips", r.wrong),
        ClipList("correct", "A sample of correct clips", r.correct_sample),
    ]
    if site.comparison is not None:
        lists.append(ClipList("disagree", "Clips the two runs disagree on", r.disagree))
    for (i, j), items in sorted(r.cells.items()):
        title = f"True {r.scenes[i]}, predicted {r.scenes[j]}"
        lists.append(ClipList(cell_slug(i, j), title, items))
    return lists


def cell_slug(i: int, j: int) -> str:
    return f"cell-{i}-{j}"


def confusion_rows(site: Site) -> list[list[dict[str, Any]]]:
    """Per true scene, per predicted scene: count, row share, shade and link (None if empty)."""
    cm = site.report.confusion
    rows = []
    for i in range(cm.shape[0]):
        total = int(cm[i].sum())
        row = []
        for j in range(cm.shape[1]):
            n = int(cm[i, j])
            share = n / total if total else 0.0
            row.append(
                {
                    "n": n,
                    "share": share,
                    # the shade carries the row share; strong cells get light text
                    "alpha": f"{0.85 * share:.3f}",
                    "dark": share > 0.5,
                    "diagonal": i == j,
                    "href": ClipList(cell_slug(i, j), "", []).href() if n else None,
                }
            )
        rows.append(row)
    return rows


def _pager(lst: ClipList, n_pages: int, page: int) -> dict[str, Any]:
    """Links of a clip page to its neighbours, relative to ``clips/``."""

    def name(p: int) -> str:
        return Path(lst.href(p)).name

    return {
        "page": page,
        "n_pages": n_pages,
        "prev": name(page - 1) if page > 1 else None,
        "next": name(page + 1) if page < n_pages else None,
        "all": [(p, name(p)) for p in range(1, n_pages + 1)],
    }


def render_site(site: Site, out: Path, page_size: int = PAGE_SIZE) -> list[Path]:
    """Write ``out/index.html`` and every clip page; returns the pages written.

    Clip pages of an earlier build that this one does not write are deleted, so a folder
    rebuilt in place never links stale lists.
    """
    env = environment()
    lists = clip_lists(site)
    written: list[Path] = []
    common = {"site": site, "version": site.version, "page_size": page_size}
    for lst in lists:
        chunks = pages(lst.items, page_size)
        for p, chunk in enumerate(chunks, start=1):
            html = env.get_template("clips.html.j2").render(
                **common,
                root="../",
                lst=lst,
                clips=[site.report.clips[i] for i in chunk],
                pager=_pager(lst, len(chunks), p),
                start=(p - 1) * page_size,
            )
            path = out / lst.href(p)
            write_text_atomic(path, html)
            written.append(path)
    named = {lst.slug: lst for lst in lists}
    index = env.get_template("index.html.j2").render(
        **common,
        root="",
        lists=named,
        cells=confusion_rows(site),
        cell_lists=[lst for lst in lists if lst.slug.startswith("cell-")],
    )
    write_text_atomic(out / "index.html", index)
    _remove_stale(out / CLIPS_DIR, set(written))
    return [out / "index.html", *written]


def _remove_stale(folder: Path, keep: set[Path]) -> None:
    for p in folder.glob("*.html"):
        if p not in keep:
            p.unlink()

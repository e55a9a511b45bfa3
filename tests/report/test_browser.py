"""The page of a trained run in headless Chromium: it draws, logs nothing, and every image and
audio copy it links decodes in the browser. Skipped when no Chromium is installed."""

from __future__ import annotations

import re
import shutil
import subprocess
import warnings
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from helpers.report import page_links
from helpers.training import TinyInputs, tiny_config
from rgasc.cli import app

BROWSERS = ("chromium", "chromium-browser", "google-chrome", "google-chrome-stable")
# what a page script writes; Chromium logs every console message as "...:CONSOLE..."
_CONSOLE = re.compile(r":CONSOLE[:(]")


def _browser() -> str:
    for name in BROWSERS:
        path = shutil.which(name)
        if path:
            return path
    pytest.skip(f"no headless browser on PATH ({', '.join(BROWSERS)}): apt-get install chromium")


def _chromium(url: Path, profile: Path, screenshot: Path | None = None) -> list[str]:
    """Open ``url`` headless (waiting up to 10 s of virtual time for its loads); returns the
    console lines Chromium logged."""
    args = [
        _browser(),
        "--headless",
        "--no-sandbox",  # tests may run as root, where the sandbox refuses to start
        "--disable-gpu",
        "--no-first-run",
        "--hide-scrollbars",
        "--enable-logging=stderr",
        "--v=0",
        "--virtual-time-budget=10000",
        "--autoplay-policy=no-user-gesture-required",
        f"--user-data-dir={profile}",
        "--window-size=1280,1600",
    ]
    if screenshot is not None:
        args.append(f"--screenshot={screenshot}")
    else:
        args.append("--dump-dom")
    res = subprocess.run(
        [*args, url.resolve().as_uri()], capture_output=True, text=True, timeout=180
    )
    assert res.returncode == 0, res.stderr[-2000:]
    return [line for line in res.stderr.splitlines() if _CONSOLE.search(line)]


def _probe(page: Path) -> Path:
    """A test page beside ``page`` that loads each image and audio file ``page`` links and
    logs ``probe ok`` or ``probe error`` per file (the report itself has no script)."""
    media = [(tag, url) for tag, url in page_links(page) if tag in ("img", "audio")]
    checks = "\n".join(
        f"check({'true' if tag == 'audio' else 'false'}, {url!r});" for tag, url in media
    )
    script = f"""<!doctype html><meta charset="utf-8"><body><script>
function check(audio, url) {{
  const el = audio ? new Audio() : new Image();
  el.addEventListener(audio ? "loadedmetadata" : "load", () => console.log("probe ok " + url));
  el.addEventListener("error", () => console.log("probe error " + url));
  if (audio) {{ el.preload = "metadata"; }}
  el.src = url;
  if (audio) {{ el.load(); }}
}}
{checks}
</script></body>"""
    probe = page.parent / f"probe-{page.stem}.html"
    probe.write_text(script)
    return probe


def _not_blank(png: Path) -> None:
    from matplotlib.image import imread

    img = np.asarray(imread(png))[..., :3]
    assert img.shape[0] > 500 and img.shape[1] > 1000
    flat = img.reshape(-1, 3)
    colours, counts = np.unique((flat * 255).astype(np.uint8), axis=0, return_counts=True)
    background = counts.max() / counts.sum()
    # a drawn page: text, tables and figures cover a good part of the screen in many colours
    assert background < 0.9 and len(colours) > 50, (background, len(colours))


@pytest.mark.slow
def test_the_page_in_chromium(tiny_inputs: TinyInputs, tmp_path: Path) -> None:
    _browser()
    from rgasc.train import train

    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        run = train(tiny_config(tiny_inputs, tmp_path / "run"))
    out = tmp_path / "page"
    res = CliRunner().invoke(
        app, ["report", str(run), "--out", str(out), "--no-progress", "--accelerator", "cpu"]
    )
    assert res.exit_code == 0, res.output
    profile = tmp_path / "profile"
    shot = tmp_path / "index.png"
    assert _chromium(out / "index.html", profile, shot) == []  # no console message at all
    _not_blank(shot)
    wrong = out / "clips" / "wrong-001.html"
    assert _chromium(wrong, profile) == []
    for page in (out / "index.html", wrong):
        probe = _probe(page)
        lines = _chromium(probe, profile)
        probe.unlink()
        media = [u for t, u in page_links(page) if t in ("img", "audio")]
        assert media
        assert not [line for line in lines if "probe error" in line]
        assert sum("probe ok" in line for line in lines) == len(media), lines

"""Run folders for the report tests, without training, and a checker of a page's links.

:func:`make_report_run` writes what ``rgasc train`` and ``rgasc evaluate`` leave in a run folder
(``config.yaml`` naming the tiny inputs of helpers.training, an untrained width-1/16
``checkpoints/best.pt``, a CSV log, and ``eval_test/`` with metrics.json, predictions.csv and
two figures), with the predicted scenes chosen: every ``wrong_every``-th test clip is taken
for the next scene, the others are right. So a test knows which clips are misclassified.
"""

from __future__ import annotations

import csv
import html.parser
import json
from pathlib import Path
from urllib.parse import unquote, urlsplit

import numpy as np

from helpers.training import TinyInputs, tiny_config
from rgasc.artefacts import BEST_MODEL, CONFIG_FILE, TRAINING_LOG, eval_dir
from rgasc.config import save_yaml
from rgasc.data.datasets import DcaseDataset
from rgasc.utils import json_safe, write_json

SCENES = ["airport", "bus", "park"]


def split_clips(inputs: TinyInputs) -> tuple[list[str], np.ndarray]:
    """The tiny dataset's test clips (names, true scene ids), as evaluate would list them."""
    ds = DcaseDataset(inputs.dataset)
    clips = ds.split("test", fold=1, val_fraction=0.3, seed=0, check_audio=False)
    return [c.filename for c in clips], ds.labels(clips)


def chosen_predictions(y: np.ndarray, wrong_every: int) -> tuple[np.ndarray, np.ndarray]:
    """Predicted ids (clip i wrong when i % wrong_every == 0) and matching probabilities."""
    idx = np.arange(len(y))
    pred = np.where(idx % wrong_every == 0, (y + 1) % len(SCENES), y)
    probs = np.full((len(y), len(SCENES)), 0.2)
    probs[idx, pred] = 0.6
    return pred, probs


def _checkpoint(run: Path, inputs: TinyInputs, seed: int) -> None:
    import torch

    from rgasc.features import open_cache
    from rgasc.models import RGASC, ModelConfig
    from rgasc.models.checkpoint import save_model
    from rgasc.relation import load_relation

    torch.manual_seed(seed)
    cache = open_cache(inputs.features)
    rel = load_relation(inputs.relation)
    cfg = ModelConfig(n_scenes=len(SCENES), n_events=len(rel.events), shared_blocks=2, width=1 / 16)
    x = np.asarray(cache.features[:], dtype=np.float32)
    save_model(
        run / BEST_MODEL,
        RGASC(cfg).eval(),
        model_config=cfg,
        feature_config=cache.config,
        scenes=SCENES,
        events=rel.events,
        relation=rel.matrix,
        norm_mean=x.mean(axis=(0, 1)),
        norm_std=x.std(axis=(0, 1)),
        extra={"epoch": 1, "selection_split": "val"},
    )


def _config(run: Path, inputs: TinyInputs, seed: int) -> None:
    from rgasc.features import open_cache

    cfg = tiny_config(inputs, run, {"seed": seed})
    save_yaml(
        run / CONFIG_FILE,
        {
            "train": json.loads(json.dumps(cfg.to_dict(), default=str)),
            "selection": {"split": "val", "note": "validation-set selection", "rule": "best"},
            "features": open_cache(inputs.features).config.to_dict(),
            "data": {
                "clips": {"train": 18, "val": 6, "test": 12},
                "scenes": SCENES,
                "label_attrs": {"teacher": "hand-made"},
            },
            "config_digest": "0123456789abcdef",
            "versions": {"rgasc": "test"},
        },
    )
    log = run / TRAINING_LOG
    log.parent.mkdir(parents=True, exist_ok=True)
    log.write_text("epoch,step,train/loss,val/macro_acc\n0,2,1.5,0.4\n1,5,1.2,0.5\n")


def write_evaluation(run: Path, inputs: TinyInputs, wrong_every: int = 3) -> Path:
    """``eval_test/`` as ``rgasc evaluate`` writes it, with the chosen predictions."""
    from rgasc.scoring.plots import confusion_figure, curves_figure, save_figure
    from rgasc.scoring.score import score_split

    names, y = split_clips(inputs)
    pred, probs = chosen_predictions(y, wrong_every)
    d = eval_dir(run, "test")
    d.mkdir(parents=True, exist_ok=True)
    metrics = {
        "run": str(run),
        "split": "test",
        "selection_split": "val",
        "selection": "validation-set selection",
        "best_epoch": 1,
        **score_split(y, probs, SCENES, devices=["a"] * len(y)),
    }
    write_json(d / "metrics.json", json_safe(metrics))
    with open(d / "predictions.csv", "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["filename", "scene", "predicted", *SCENES])
        for n, t, p, row in zip(names, y, pred, probs, strict=True):
            w.writerow([n, SCENES[t], SCENES[p], *(f"{v:.5f}" for v in row)])
    save_figure(confusion_figure(np.asarray(metrics["confusion"]), SCENES), d / "confusion.png", 40)
    save_figure(curves_figure(run / TRAINING_LOG), d / "curves.png", 40)
    return d


def make_report_run(
    run: Path, inputs: TinyInputs, *, seed: int = 0, wrong_every: int = 3, evaluated: bool = True
) -> Path:
    """A run folder over the tiny inputs (see the module docstring); returns ``run``."""
    _checkpoint(run, inputs, seed)
    _config(run, inputs, seed)
    if evaluated:
        write_evaluation(run, inputs, wrong_every)
    return run


# --- checking a page -----------------------------------------------------------------------------
class _Links(html.parser.HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.links: list[tuple[str, str]] = []  # (tag, url)

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in ("href", "src") and value is not None:
                self.links.append((tag, value))


def page_links(page: Path) -> list[tuple[str, str]]:
    """(tag, url) of every href/src on the page."""
    p = _Links()
    p.feed(page.read_text())
    return p.links


def target(page: Path, url: str) -> Path | None:
    """The file a relative link of ``page`` points to (None for an in-page anchor)."""
    path = unquote(urlsplit(url).path)
    return (page.parent / path).resolve() if path else None


def broken_links(root: Path) -> list[str]:
    """Links of every page under ``root`` that leave the folder, name a scheme or a host, or
    point to a missing file; [] when the folder is self-contained."""
    bad = []
    for page in sorted(root.rglob("*.html")):
        for _, url in page_links(page):
            parts = urlsplit(url)
            t = target(page, url)
            if parts.scheme or parts.netloc or url.startswith("/"):
                bad.append(f"{page.name}: {url} (not relative)")
            elif t is not None and (not t.is_file() or root.resolve() not in t.parents):
                bad.append(f"{page.name}: {url} (no such file in the folder)")
    return bad

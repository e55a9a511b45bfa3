"""Figures of ``rgasc experiment`` and the markdown that links them.

- shared-blocks: val and test macro accuracy (mean ± std over seeds) against the number of
  shared blocks N (the paper's Fig. 2) -> ``OUT/shared_blocks.png``.
- per-class: puASC and RGASC side by side (Fig. 3): confusion matrices summed over seeds ->
  ``OUT/confusion_side_by_side.png``; the first seed's t-SNE of scene embeddings ->
  ``OUT/tsne_side_by_side.png`` (read from each run's ``eval_test/``).
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rgasc.artefacts import METRICS_FILE, eval_dir
from rgasc.experiments.stats import comparison_sentence
from rgasc.experiments.tables import Row, RunRecord, pm
from rgasc.utils import read_json


def figures_and_extra(
    name: str, out: Path, rows: Sequence[Row], records: Sequence[RunRecord]
) -> str:
    """Draw the experiment's figures into ``out``; return markdown that shows them."""
    if name == "shared-blocks":
        return _shared_blocks(out, rows)
    if name == "per-class":
        return _side_by_side(out, records)
    return ""


def _finite(x: float) -> float:
    return x if math.isfinite(x) else 0.0


def _shared_blocks(out: Path, rows: Sequence[Row]) -> str:
    done = [r for r in rows if r.n > 0]
    if not done:
        return ""
    from rgasc.scoring.plots import mean_std_line_figure, save_figure

    x = [int(r.config.lstrip("N")) for r in done]
    means = np.array([[100 * r.val_mean for r in done], [100 * r.test_mean for r in done]])
    stds = np.array(
        [[100 * _finite(r.val_std) for r in done], [100 * _finite(r.test_std) for r in done]]
    )
    fig = mean_std_line_figure(
        x,
        means,
        stds,
        "shared blocks N",
        "macro accuracy (%)",
        f"Accuracy vs shared blocks (mean ± std over {max(r.n for r in done)} seed(s))",
        labels=["val", "test"],
    )
    save_figure(fig, out / "shared_blocks.png")
    best = max(done, key=lambda r: r.val_mean if math.isfinite(r.val_mean) else -1.0)
    return (
        "\n## Figure (Fig. 2 analogue)\n\n![accuracy vs shared blocks](shared_blocks.png)\n\n"
        f"Best N on validation: {best.config.lstrip('N')} (test {pm(best.test_mean, best.test_std)}"
        " %); the paper's peak is at N = 2."
        + (f" {comparison_sentence(best.label, 'N = 2', best.diff)}" if best.diff else "")
        + "\n"
    )


def _eval_dir(run: str) -> Path:
    return eval_dir(run, "test")


def _side_by_side(out: Path, records: Sequence[RunRecord]) -> str:
    from rgasc.scoring.plots import confusion_figure, save_figure, side_by_side

    models = (("puasc", "puASC"), ("rgasc", "RGASC"))
    lines = ["\n## Figures (Fig. 3 analogue)\n"]
    # confusion matrices summed over every seed's test predictions
    panels, titles = [], []
    for config, label in models:
        evals = [
            read_json(p)
            for r in records
            if r.config == config and (p := _eval_dir(r.run) / METRICS_FILE).is_file()
        ]
        evals = [e for e in evals if isinstance(e, dict) and "confusion" in e]
        if not evals:
            continue
        cm = np.sum([np.asarray(e["confusion"]) for e in evals], axis=0)
        scenes = [row["class"] for row in evals[0]["per_class"]]
        panels.append(confusion_figure(cm, scenes, title=f"{label}: {len(evals)} seed(s)"))
        titles.append(label)
    if len(panels) == 2:
        save_figure(side_by_side(*panels, titles=titles), out / "confusion_side_by_side.png")
        lines.append("\n![confusion matrices](confusion_side_by_side.png)\n")
    # t-SNE: the first seed of each model (t-SNE maps of different runs do not average)
    images, titles = [], []
    for config, label in models:
        mine = sorted((r for r in records if r.config == config), key=lambda r: r.seed)
        png = _eval_dir(mine[0].run) / "tsne.png" if mine else None
        if png is not None and png.is_file():
            from matplotlib.image import imread

            images.append(imread(str(png)))
            titles.append(f"{label}, seed {mine[0].seed}")
    if len(images) == 2:
        save_figure(side_by_side(*images, titles=titles), out / "tsne_side_by_side.png")
        lines.append("\n![t-SNE of scene embeddings](tsne_side_by_side.png)\n")
    return "".join(lines) if len(lines) > 1 else ""

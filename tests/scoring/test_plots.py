"""The figure functions: they render to image files (without pyplot state) and draw the data."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from matplotlib.figure import Figure

from rgasc.scoring.plots import (
    confusion_figure,
    curve_panels,
    curve_styles,
    curves_figure,
    figure_to_array,
    mean_std_line_figure,
    save_figure,
    side_by_side,
    tsne_figure,
)

PNG = b"\x89PNG\r\n\x1a\n"
NAMES = ["airport", "bus", "park"]


def _saved(fig: Figure, path: Path) -> None:
    assert isinstance(fig, Figure)
    save_figure(fig, path)
    data = path.read_bytes()
    assert data[:8] == PNG and len(data) > 2000
    # atomic write leaves no temporary file behind
    assert [p.name for p in path.parent.iterdir() if p.name.endswith(".tmp")] == []


def test_confusion_figure(tmp_path: Path) -> None:
    cm = np.array([[5, 1, 0], [0, 3, 3], [0, 0, 0]])  # last row empty: must not divide by 0
    fig = confusion_figure(cm, NAMES, title="cm")
    _saved(fig, tmp_path / "cm.png")
    # rows are normalised (the diagonal is per-class accuracy), the empty row stays 0
    cells = [t.get_text() for t in fig.axes[0].texts]
    assert cells == ["0.83", "0.17", "0.00", "0.00", "0.50", "0.50", "0.00", "0.00", "0.00"]
    counts = confusion_figure(cm, NAMES, normalize=False)
    _saved(counts, tmp_path / "cm_counts.png")
    assert [t.get_text() for t in counts.axes[0].texts] == [str(v) for v in cm.ravel()]
    with pytest.raises(ValueError):
        confusion_figure(cm, NAMES[:2])


def test_tsne_figure_clips_perplexity(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    labels = np.array([0, 0, 1, 1, 2, 2])
    x = rng.normal(size=(6, 4)) + labels[:, None] * 3.0
    # 6 points: the default perplexity (30) must be clipped to 5 or TSNE refuses
    _saved(tsne_figure(x, labels, NAMES, seed=0), tmp_path / "tsne.png")


def test_tsne_figure_has_one_point_per_clip_in_one_group_per_present_class() -> None:
    rng = np.random.default_rng(1)
    labels = np.array([2, 0, 2, 2, 0, 2, 0])  # class 1 ("bus") absent
    x = rng.normal(size=(7, 5)) + labels[:, None] * 3.0
    fig = tsne_figure(x, labels, NAMES, seed=0)
    groups = fig.axes[0].collections
    # one scatter per class present, in class order, named by the legend
    assert [g.get_label() for g in groups] == ["airport", "park"]
    assert [t.get_text() for t in fig.axes[0].get_legend().get_texts()] == ["airport", "park"]
    # every clip is exactly one point, in its class's group
    assert [len(g.get_offsets()) for g in groups] == [3, 4]
    assert sum(len(g.get_offsets()) for g in groups) == len(labels)
    # each group a single colour, and the groups' colours differ
    colours = [tuple(np.round(g.get_facecolor(), 6).ravel()) for g in groups]
    assert all(len(g.get_facecolor()) == 1 for g in groups)
    assert len(set(colours)) == len(groups)


def test_curves_figure_dict_rows_and_csv(tmp_path: Path) -> None:
    _saved(
        curves_figure({"train_loss": [1.0, 0.6, 0.4], "val_macro_acc": [0.3, 0.5, 0.6]}),
        tmp_path / "c1.png",
    )
    rows = [
        {"epoch": "0", "step": "1", "train_loss": "1.0", "val_loss": "", "val_acc": ""},
        {"epoch": "0", "step": "2", "train_loss": "0.8", "val_loss": "", "val_acc": ""},
        {"epoch": "0", "step": "2", "train_loss": "", "val_loss": "0.9", "val_acc": "0.4"},
        {"epoch": "1", "step": "4", "train_loss": "0.5", "val_loss": "0.7", "val_acc": "0.6"},
    ]
    _saved(curves_figure(rows), tmp_path / "c2.png")
    csv_path = tmp_path / "metrics.csv"
    header = list(rows[0])
    csv_path.write_text(
        ",".join(header) + "\n" + "".join(",".join(r[h] for h in header) + "\n" for r in rows)
    )
    fig = curves_figure(csv_path)
    _saved(fig, tmp_path / "c3.png")
    # losses and metrics on two panels; train_loss averaged per epoch (1.0, 0.8 -> 0.9)
    loss_ax = fig.axes[0]
    train = next(ln for ln in loss_ax.get_lines() if ln.get_label() == "train_loss")
    np.testing.assert_allclose(train.get_ydata(), [0.9, 0.5])
    np.testing.assert_allclose(train.get_xdata(), [1, 2])  # the log's epochs 0, 1: from 1
    assert len(fig.axes) == 2


def test_mean_std_and_side_by_side(tmp_path: Path) -> None:
    x = [0, 1, 2, 3]
    one = mean_std_line_figure(x, [0.5, 0.6, 0.7, 0.65], [0.01, 0.02, 0.02, 0.03], "N", "acc", "t")
    _saved(one, tmp_path / "line.png")
    two = mean_std_line_figure(
        x, np.ones((2, 4)), np.zeros((2, 4)), "N", "acc", "t", labels=["a", "b"]
    )
    img = figure_to_array(two)
    assert img.ndim == 3 and img.shape[2] == 4
    _saved(side_by_side(one, img, titles=["fig", "array"]), tmp_path / "both.png")
    with pytest.raises(ValueError):
        mean_std_line_figure(x, [1.0, 2.0], [0.0, 0.0], "N", "acc", "t")


def test_no_pyplot_figures_leak(tmp_path: Path) -> None:
    import matplotlib.pyplot as plt

    before = plt.get_fignums()
    save_figure(confusion_figure(np.eye(3), NAMES), tmp_path / "x.png")
    assert plt.get_fignums() == before


def test_curves_figure_draws_the_learning_rate_on_its_own_panel() -> None:
    rows = [
        {"epoch": "0", "step": "2", "train/loss": "1.0", "train/acc": "0.4", "train/lr": "1e-3"},
        {"epoch": "1", "step": "5", "train/loss": "0.7", "train/acc": "0.6", "train/lr": "5e-4"},
    ]
    fig = curves_figure(rows)
    assert [ax.get_ylabel() for ax in fig.axes] == ["loss", "accuracy", "learning rate"]
    (lr,) = fig.axes[2].get_lines()
    assert lr.get_label() == "train/lr"
    np.testing.assert_allclose(lr.get_ydata(), [1e-3, 5e-4])
    assert [ln.get_label() for ln in fig.axes[1].get_lines()] == ["train/acc"]


TERMS = ("", "_scene", "_s_by_event", "_event", "_e_by_scene")
#: The columns of a paper run's training log (rgasc.train.loop.module): 11 loss series.
LOGGED = [
    *(f"{split}/loss{t}" for split in ("train", "val") for t in TERMS),
    "train/acc",
    "train/lr",
    "val/macro_acc",
    "val/acc",
    "val/log_loss",
    "val/n",
]


def test_curve_panels_keep_counts_off_the_accuracy_panel() -> None:
    panels = dict(curve_panels(LOGGED))
    assert list(panels) == ["loss", "accuracy", "learning rate"]
    assert panels["accuracy"] == ["train/acc", "val/acc", "val/macro_acc"]
    assert len(panels["loss"]) == 11 and "val/log_loss" in panels["loss"]
    assert panels["learning rate"] == ["train/lr"]
    assert not any("val/n" in names for names in panels.values())
    assert curve_panels(["val/n"]) == []


def test_curve_styles_colour_the_term_and_dash_the_split() -> None:
    losses = dict(curve_panels(LOGGED))["loss"]
    styles = curve_styles(losses)
    pairs = {(tuple(st["color"]), str(st["linestyle"])) for st in styles.values()}
    assert len(pairs) == len(losses) == 11  # every series its own colour + line style
    assert styles["train/loss"]["color"] != styles["val/loss_scene"]["color"]
    same_term = styles["train/loss_scene"], styles["val/loss_scene"]
    assert same_term[0]["color"] == same_term[1]["color"]
    assert same_term[0]["linestyle"] != same_term[1]["linestyle"]


def test_curves_figure_draws_the_chosen_series_and_styles() -> None:
    rows = [{"epoch": str(e), **{k: str(0.1 * (e + 1)) for k in LOGGED}} for e in range(3)]
    rows[0]["val/n"] = "13"
    fig = curves_figure(rows)
    assert [ax.get_ylabel() for ax in fig.axes] == ["loss", "accuracy", "learning rate"]
    acc = fig.axes[1]
    assert [ln.get_label() for ln in acc.get_lines()] == ["train/acc", "val/acc", "val/macro_acc"]
    assert acc.get_ylim()[1] < 1.0  # no clip count stretches the accuracy axis
    styles = curve_styles([ln.get_label() for ln in fig.axes[0].get_lines()])
    for ln in fig.axes[0].get_lines():
        assert tuple(ln.get_color()) == tuple(styles[ln.get_label()]["color"])
    np.testing.assert_allclose(acc.get_lines()[0].get_xdata(), [1, 2, 3])

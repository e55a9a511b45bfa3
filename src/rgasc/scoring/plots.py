"""Figures for evaluation and the relation matrix: arrays in, a matplotlib Figure out.

Figures are built with :class:`matplotlib.figure.Figure` directly (never ``pyplot``), so no
global figure state leaks between calls or threads and no GUI backend is needed; saving
goes through the Agg renderer.
"""

from __future__ import annotations

import csv
import os
from collections import defaultdict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.backends.backend_agg import FigureCanvasAgg
from matplotlib.figure import Figure

from rgasc.utils import atomic_path

# Above this many classes the per-cell numbers of a confusion matrix become unreadable.
MAX_ANNOTATED_CLASSES = 20


def new_figure(width: float, height: float) -> Figure:
    fig = Figure(figsize=(width, height), layout="constrained")
    FigureCanvasAgg(fig)  # attach a non-GUI canvas so draw()/savefig() never need pyplot
    return fig


def save_figure(fig: Figure, path: str | os.PathLike[str], dpi: int = 150) -> Path:
    """Save atomically (format from the suffix, e.g. .png, .pdf, .svg); returns the path."""
    path = Path(path)
    fmt = path.suffix.lstrip(".").lower() or "png"
    with atomic_path(path) as tmp:
        fig.savefig(tmp, format=fmt, dpi=dpi)
    return path


def confusion_figure(
    cm: np.ndarray,
    class_names: Sequence[str],
    title: str = "Confusion matrix",
    normalize: bool = True,
) -> Figure:
    """Heatmap of a confusion matrix (rows: true class, columns: predicted).

    Args:
        cm: counts [K, K]; normalize: divide each row by its total (a row without clips
            stays zero), so the diagonal shows per-class accuracy.
    """
    m = np.asarray(cm, dtype=np.float64)
    k = len(class_names)
    if m.shape != (k, k):
        raise ValueError(f"cm must be [{k}, {k}] for {k} class names, got {m.shape}")
    if normalize:
        m = m / np.maximum(m.sum(axis=1, keepdims=True), 1e-12)
    side = max(4.0, 0.45 * k + 2.5)
    fig = new_figure(side + 1.0, side)
    ax = fig.add_subplot()
    im = ax.imshow(m, cmap="Blues", vmin=0.0, vmax=1.0 if normalize else None)
    ax.set_xticks(range(k), labels=list(class_names), rotation=60, ha="right", fontsize=8)
    ax.set_yticks(range(k), labels=list(class_names), fontsize=8)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    ax.set_title(title)
    if k <= MAX_ANNOTATED_CLASSES:
        top = m.max() if m.size else 0.0
        for i in range(k):
            for j in range(k):
                txt = f"{m[i, j]:.2f}" if normalize else f"{int(m[i, j])}"
                ax.text(
                    j,
                    i,
                    txt,
                    ha="center",
                    va="center",
                    fontsize=7,
                    color="white" if m[i, j] > 0.6 * top else "black",
                )
    fig.colorbar(im, ax=ax, shrink=0.8)
    return fig


def tsne_figure(
    embeddings: np.ndarray,
    labels: np.ndarray,
    class_names: Sequence[str],
    seed: int = 0,
    title: str = "t-SNE of scene embeddings",
    perplexity: float = 30.0,
) -> Figure:
    """2-D t-SNE of embeddings coloured by class (the paper's Fig. 3).

    Args:
        embeddings: [N, D], N >= 2; labels: int class ids [N]; class_names: K names.
        seed: t-SNE random state; perplexity: clipped to N - 1 (t-SNE needs it below N).
    """
    from sklearn.manifold import TSNE

    x = np.asarray(embeddings, dtype=np.float64)
    y = np.asarray(labels).astype(np.int64)
    if x.ndim != 2 or x.shape[0] != y.shape[0] or x.shape[0] < 2:
        raise ValueError(f"need embeddings [N>=2, D] and labels [N], got {x.shape}, {y.shape}")
    n = x.shape[0]
    tsne = TSNE(
        n_components=2,
        perplexity=float(min(perplexity, n - 1)),
        init="pca" if x.shape[1] >= 2 else "random",
        random_state=seed,
    )
    z = tsne.fit_transform(x)
    fig = new_figure(7.5, 6.0)
    ax = fig.add_subplot()
    k = len(class_names)
    colours = _palette(k)
    for c in range(k):
        sel = y == c
        if sel.any():
            ax.scatter(z[sel, 0], z[sel, 1], s=8, color=colours[c], label=str(class_names[c]))
    ax.set_title(title)
    ax.set_xticks([])
    ax.set_yticks([])
    ax.legend(fontsize=7, markerscale=2, loc="center left", bbox_to_anchor=(1.0, 0.5))
    return fig


def _palette(k: int) -> list[Any]:
    import matplotlib

    cmap = matplotlib.colormaps["tab10" if k <= 10 else "tab20"]
    return [cmap(i % cmap.N) for i in range(k)]


def read_csv_log(path: str | os.PathLike[str]) -> list[dict[str, str]]:
    """Rows of a Lightning ``CSVLogger`` ``metrics.csv`` (empty cells are kept as "")."""
    with open(path, newline="") as f:
        return list(csv.DictReader(f))


def _series(
    history: Mapping[str, Sequence[float]] | Sequence[Mapping[str, Any]],
) -> tuple[str, dict[str, tuple[np.ndarray, np.ndarray]]]:
    """Normalise either input form to {name: (x, y)} and the x-axis label."""
    if isinstance(history, Mapping):
        out = {}
        for name, values in history.items():
            v = np.asarray(values, dtype=np.float64)
            out[str(name)] = (np.arange(1, v.size + 1, dtype=np.float64), v)
        return "epoch", out
    rows = list(history)
    x_key = "epoch" if any("epoch" in r for r in rows) else "step"
    # Step-level values of one epoch are averaged so train and val curves share the x-axis.
    acc: dict[str, dict[float, list[float]]] = defaultdict(lambda: defaultdict(list))
    for r in rows:
        xv = r.get(x_key, "")
        if xv in ("", None):
            continue
        for name, val in r.items():
            if name in ("epoch", "step") or val in ("", None):
                continue
            try:
                acc[str(name)][float(xv)].append(float(val))
            except (TypeError, ValueError):
                continue
    # Lightning's epochs are 0-based; a person counts the first epoch as 1
    shift = 1.0 if x_key == "epoch" else 0.0
    out = {}
    for name, pts in acc.items():
        keys = sorted(pts)
        xs = np.array(keys, dtype=np.float64) + shift
        out[name] = (xs, np.array([np.mean(pts[k]) for k in keys], dtype=np.float64))
    return x_key, out


#: Line styles of the splits of a curves panel (colour tells the term, line style the split).
SPLIT_STYLES = ("-", "--", ":", "-.", (0, (5, 1)), (0, (1, 1)), (0, (3, 1, 1, 1, 1, 1)))


def _split_term(name: str) -> tuple[str, str]:
    """("val", "loss_scene") of "val/loss_scene"; ("", name) for a name without a split."""
    split, _, term = name.rpartition("/")
    return split, term


def curve_panels(names: Sequence[str]) -> list[tuple[str, list[str]]]:
    """The panels of :func:`curves_figure` and their series, in order, empty panels left out.

    "loss": every name with "loss" in it (log loss included); "accuracy": names whose last
    part has "acc" in it (``macro_acc``, ``acc``); "learning rate": ``*/lr``. Anything else
    (a clip count such as ``val/n``, on another scale) is not drawn: it would flatten the
    accuracies.
    """
    panels: dict[str, list[str]] = {"loss": [], "accuracy": [], "learning rate": []}
    for name in sorted(names):
        term = _split_term(name)[1].lower()
        if "loss" in name.lower():
            panels["loss"].append(name)
        elif term == "lr":
            panels["learning rate"].append(name)
        elif "acc" in term:
            panels["accuracy"].append(name)
    return [(p, v) for p, v in panels.items() if v]


def curve_styles(names: Sequence[str]) -> dict[str, dict[str, Any]]:
    """A distinct (colour, line style) per series of one panel: the colour from the term
    (``loss_scene``), the line style from the split (``train``, ``val``, ``val_ema``), so the
    same term on two splits shares a colour and differs in style.

    Returns ``{name: {"color": rgba, "linestyle": style}}``; pairs are unique for up to 20
    terms and 7 splits.
    """
    parts = {n: _split_term(n) for n in names}
    terms = sorted({t for _, t in parts.values()})
    splits = sorted({s for s, _ in parts.values()})
    colours = _palette(len(terms))
    return {
        n: {
            "color": colours[terms.index(t)],
            "linestyle": SPLIT_STYLES[splits.index(s) % len(SPLIT_STYLES)],
        }
        for n, (s, t) in parts.items()
    }


def curves_figure(
    history: Mapping[str, Sequence[float]] | Sequence[Mapping[str, Any]] | str | os.PathLike[str],
    title: str = "Training curves",
) -> Figure:
    """Training curves: losses, accuracies and the learning rate (``*/lr``, when it was
    logged) on panels of their own (:func:`curve_panels`), styled by :func:`curve_styles`.
    Epochs are numbered from 1.

    Args:
        history: ``{name: values per epoch}``, the rows of a Lightning CSV log (dicts with
            ``epoch``/``step`` and metric columns), or the path of that ``metrics.csv``.
    """
    if isinstance(history, str | os.PathLike):
        history = read_csv_log(history)
    x_label, series = _series(history)
    panels = curve_panels(list(series)) or [("value", [])]
    fig = new_figure(5.5 * len(panels), 4.0)
    for i, (ylabel, names) in enumerate(panels):
        ax = fig.add_subplot(1, len(panels), i + 1)
        styles = curve_styles(names)
        for name in names:
            xs, ys = series[name]
            marker = "o" if xs.size < 30 else None
            ax.plot(xs, ys, marker=marker, ms=3, label=name, **styles[name])
        ax.set_xlabel(x_label)
        ax.set_ylabel(ylabel)
        ax.grid(alpha=0.3)
        if names:
            ax.legend(fontsize=7, ncol=2 if len(names) > 6 else 1)
    fig.suptitle(title)
    return fig


def mean_std_line_figure(
    x: Sequence[float],
    means: np.ndarray,
    stds: np.ndarray,
    xlabel: str,
    ylabel: str,
    title: str,
    labels: Sequence[str] | None = None,
) -> Figure:
    """Mean +- std against x (e.g. accuracy against the number of shared blocks).

    Args:
        x: [P]; means, stds: [P] for one line, or [S, P] for S lines named by ``labels``.
    """
    xv = np.asarray(x, dtype=np.float64)
    m = np.atleast_2d(np.asarray(means, dtype=np.float64))
    s = np.atleast_2d(np.asarray(stds, dtype=np.float64))
    if m.shape != s.shape or m.shape[1] != xv.size:
        raise ValueError(f"means {m.shape} and stds {s.shape} must be [S, P={xv.size}]")
    names = list(labels) if labels is not None else [None] * m.shape[0]
    fig = new_figure(6.0, 4.0)
    ax = fig.add_subplot()
    for row_m, row_s, name in zip(m, s, names, strict=True):
        ax.errorbar(xv, row_m, yerr=row_s, marker="o", ms=4, capsize=3, label=name)
        ax.fill_between(xv, row_m - row_s, row_m + row_s, alpha=0.15)
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    ax.set_title(title)
    ax.grid(alpha=0.3)
    if labels is not None:
        ax.legend(fontsize=8)
    return fig


def figure_to_array(fig: Figure) -> np.ndarray:
    """Render a Figure to an RGBA uint8 array [H, W, 4]."""
    canvas = fig.canvas if isinstance(fig.canvas, FigureCanvasAgg) else FigureCanvasAgg(fig)
    canvas.draw()
    return np.asarray(canvas.buffer_rgba()).copy()


def side_by_side(
    *panels: Figure | np.ndarray,
    titles: Sequence[str] | None = None,
    width: float = 6.0,
) -> Figure:
    """Several figures (or images [H, W, 3|4]) in one row, e.g. two confusion matrices."""
    if not panels:
        raise ValueError("side_by_side needs at least one figure or image")
    images = [figure_to_array(p) if isinstance(p, Figure) else np.asarray(p) for p in panels]
    aspect = max(img.shape[0] / img.shape[1] for img in images)
    fig = new_figure(width * len(images), width * aspect + 0.5)
    for i, img in enumerate(images):
        ax = fig.add_subplot(1, len(images), i + 1)
        ax.imshow(img)
        ax.set_axis_off()
        if titles is not None and i < len(titles):
            ax.set_title(titles[i])
    return fig

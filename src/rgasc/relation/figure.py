"""The R_SE heatmap (relation.png)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from matplotlib.figure import Figure

from rgasc.relation.matrix import informative_events
from rgasc.scoring.plots import new_figure


def relation_figure(
    relation: np.ndarray,
    scenes: Sequence[str],
    events: Sequence[str],
    k: int = 30,
    title: str = "Scene-event relation R_SE",
    value_label: str = "mean event probability",
) -> Figure:
    """Heatmap of scenes x their k most informative events.

    Events are chosen by :func:`rgasc.relation.matrix.informative_events` (largest spread across
    scenes) and ordered by the scene where they peak, so each scene's distinctive events
    form a block near the diagonal.
    """
    r = np.asarray(relation, dtype=np.float64)
    if r.shape != (len(scenes), len(events)):
        raise ValueError(f"R {r.shape} != ({len(scenes)} scenes, {len(events)} events)")
    cols = informative_events(r, k)
    peak = r[:, cols].argmax(axis=0)
    cols = cols[np.lexsort((-r[peak, cols], peak))]
    sub = r[:, cols]
    fig = new_figure(max(6.0, 0.32 * cols.size + 3.0), max(3.5, 0.35 * len(scenes) + 2.5))
    ax = fig.add_subplot()
    im = ax.imshow(sub, cmap="viridis", aspect="auto", vmin=0.0)
    ax.set_xticks(
        range(cols.size), labels=[str(events[c]) for c in cols], rotation=70, ha="right", fontsize=7
    )
    ax.set_yticks(range(len(scenes)), labels=list(scenes), fontsize=8)
    ax.set_title(title)
    fig.colorbar(im, ax=ax, label=value_label, shrink=0.8)
    return fig

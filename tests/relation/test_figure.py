"""relation.png: the heatmap shows each scene's distinctive events."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from rgasc.relation.figure import relation_figure
from rgasc.scoring.plots import save_figure

PNG = b"\x89PNG\r\n\x1a\n"
NAMES = ["airport", "bus", "park"]


def test_relation_figure_selects_informative_events(tmp_path: Path) -> None:
    rng = np.random.default_rng(0)
    r = rng.random((3, 50)) * 0.05
    r[0, 7] = r[1, 11] = r[2, 42] = 0.9
    events = [f"ev{i}" for i in range(50)]
    fig = relation_figure(r, NAMES, events, k=3)
    shown = [t.get_text() for t in fig.axes[0].get_xticklabels()]
    assert shown == ["ev7", "ev11", "ev42"]  # ordered by the scene where each peaks
    save_figure(fig, tmp_path / "rel.png")
    assert (tmp_path / "rel.png").read_bytes()[:8] == PNG

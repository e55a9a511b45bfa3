"""Test helpers of the teachers/tagging tests: a toy waveform teacher and an events.csv."""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import numpy as np

from rgasc.data.datasets import clip_key


class ToyTeacher:
    """Deterministic 'tagger': event e's probability is a squashed statistic of the waveform.

    Counts the clips it has seen and can raise after ``fail_after`` calls (an interruption).
    """

    name = "toy"
    sample_rate = 16000
    labels = ["loud", "bright", "positive"]
    mids = None
    checkpoint_sha256 = "0" * 64

    def __init__(self, fail_after: int | None = None) -> None:
        self.calls = 0
        self.seen: list[int] = []
        self.fail_after = fail_after

    def tag(self, waveforms: np.ndarray) -> np.ndarray:
        if self.fail_after is not None and self.calls >= self.fail_after:
            raise KeyboardInterrupt
        self.calls += 1
        self.seen.append(len(waveforms))
        w = np.asarray(waveforms, dtype=np.float64)
        rms = np.sqrt((w**2).mean(axis=1))
        zc = (np.diff(np.sign(w), axis=1) != 0).mean(axis=1)
        mean = w.mean(axis=1)
        feats = np.stack([rms * 5, zc * 10, mean * 100], axis=1)
        return (1 / (1 + np.exp(-feats))).astype(np.float32)

    def embed(self, waveforms: np.ndarray) -> np.ndarray | None:
        w = np.asarray(waveforms, dtype=np.float32)
        return np.stack([w.std(axis=1), np.abs(w).max(axis=1)], axis=1)

    def to(self, device: str) -> ToyTeacher:
        return self


def write_events(root: Path, names: Sequence[str], rows: dict[str, list[str]]) -> Path:
    """events.csv with the given events per clip key (clips absent from ``rows`` get none)."""
    lines = ["filename\tevent_label\tonset\toffset"]
    for n in names:
        evs = rows.get(clip_key(n), [])
        for i, e in enumerate(evs):
            lines.append(f"{n}\t{e}\t{i * 0.1:.2f}\t{i * 0.1 + 0.5:.2f}")
    path = root / "events.csv"
    path.write_text("\n".join(lines) + "\n")
    return path

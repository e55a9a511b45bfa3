"""A random scene head for an untrained test run.

An untrained RGASC's scene output layer starts at zero (every scene equally likely, issue 24),
so all its windows and clips get the same probabilities and a test comparing two paths of
prediction (windows, batches, exported graphs) would compare constants. These tests give the
layer random weights first.
"""

from __future__ import annotations

from pathlib import Path

import torch


def randomise_scene_head(run: Path, seed: int = 0, scale: float = 0.5) -> Path:
    """Rewrite ``run/checkpoints/best.pt`` with random ``scene_out`` weights; returns ``run``."""
    path = run / "checkpoints" / "best.pt"
    payload = torch.load(path, weights_only=True)
    state = payload["state_dict"]
    g = torch.Generator().manual_seed(seed)
    for key in ("scene_out.weight", "scene_out.bias"):
        state[key] = torch.randn(state[key].shape, generator=g) * scale
    torch.save(payload, path)
    return run

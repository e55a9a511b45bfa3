"""benchmarks/realscenes/recipe_sweep.py: every candidate of both grids is a valid config, the
modern grid keeps Freq-MixStyle out, and the after-choice test line pairs by seed."""

from __future__ import annotations

import argparse

import pytest

from helpers.scripts import load_script
from rgasc.train.config.tree import make_config


@pytest.fixture(scope="module")
def sweep():
    return load_script("realscenes/recipe_sweep.py")


def _args(grid: str) -> argparse.Namespace:
    return argparse.Namespace(
        grid=grid, dataset="/d", features="/f", labels="/l.h5", relation="/r", epochs=0
    )


@pytest.mark.parametrize("grid", ["finetune", "modern"])
def test_every_candidate_is_a_config_of_its_grid(sweep, grid: str) -> None:
    candidates, reference = sweep.GRIDS[grid]
    assert reference is None or reference in candidates
    configs = {
        name: make_config({**sweep._base(_args(grid)), **changes, "out": f"/o/{name}"})
        for name, (_, changes) in candidates.items()
    }
    # no two candidates train the same thing
    digests = {c.replace(out="/o").digest() for c in configs.values()}
    assert len(digests) == len(configs)
    for cfg in configs.values():
        if grid == "finetune":
            assert cfg.model.backbone == "yamnet" and cfg.optim.epochs == 8
        else:  # the from-scratch student; Freq-MixStyle never (the benchmark has one device)
            assert cfg.model.backbone == "cnn14" and cfg.model.width == 0.0625
            assert cfg.optim.epochs == 30 and cfg.augment.mixstyle_p == 0.0
    assert configs.get("paper") is None or not configs["paper"].augment.enabled


def test_the_test_line_pairs_the_choice_with_the_reference_by_seed(sweep) -> None:
    results = [  # (name, seed, val, test, seconds)
        ("a", 1, 0.5, 0.40, 1.0),
        ("a", 2, 0.5, 0.50, 1.0),
        ("a", 3, 0.5, 0.45, 1.0),
        ("paper", 1, 0.4, 0.30, 1.0),
        ("paper", 2, 0.4, 0.42, 1.0),
        ("paper", 3, 0.4, 0.33, 1.0),
    ]
    line = sweep._test_after("a", "paper", results)
    # differences 10, 8, 12 points: mean +10.0, t(0.975, 2) * 2 / sqrt(3) = 4.97
    assert "a 45.0 %, paper 35.0 %" in line
    assert "+10.0 [+5.0, +15.0]" in line and "higher, 3 paired seeds" in line

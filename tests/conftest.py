"""Shared test set-up and the named fixtures built from tests/helpers/; no network, no GPU."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Never touch the user's ~/.cache/rgasc from a test."""
    monkeypatch.setenv("RGASC_CACHE", str(tmp_path_factory.mktemp("rgasc_cache")))


@pytest.fixture(scope="session")
def tiny_inputs(tmp_path_factory: pytest.TempPathFactory):  # -> helpers.training.TinyInputs
    """The tiny dataset, feature cache, pseudo-labels and R_SE (helpers.training), built once.

    Read-only: a test that needs altered inputs writes its own copies under tmp_path.
    """
    from helpers.training import make_inputs

    return make_inputs(tmp_path_factory.mktemp("tiny_inputs"))

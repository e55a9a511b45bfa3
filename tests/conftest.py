"""Shared test set-up and the named fixtures built from tests/helpers/; no network, no GPU."""

from __future__ import annotations

import os

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Never touch the user's ~/.cache/rgasc from a test."""
    monkeypatch.setenv("RGASC_CACHE", str(tmp_path_factory.mktemp("rgasc_cache")))

"""Shared test set-up: tests/ on sys.path for helper modules; no network, no GPU."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).parent))
os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Never touch the user's ~/.cache/rgasc from a test."""
    monkeypatch.setenv("RGASC_CACHE", str(tmp_path_factory.mktemp("rgasc_cache")))

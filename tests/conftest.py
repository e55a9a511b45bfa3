"""Shared test set-up and the named fixtures built from tests/helpers/; no network, no GPU."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")


@pytest.fixture(autouse=True)
def _isolated_cache(tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch):
    """Never touch the user's ~/.cache/rgasc from a test."""
    monkeypatch.setenv("RGASC_CACHE", str(tmp_path_factory.mktemp("rgasc_cache")))


# --- named fixtures over tests/helpers/ (imported lazily: some builders import torch) ---------
@pytest.fixture
def tiny_dataset(tmp_path: Path) -> Path:
    """A DCASE-layout dataset: 3 scenes x 2 cities x 2 locations x 2 clips of 0.25 s, 48 kHz.

    Location 0 of each city is the test side. Function-scoped: tests may write into it
    (events.csv, corrupted clips).
    """
    from helpers.dcase import make_dcase

    return make_dcase(tmp_path / "ds", seconds=0.25)


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """An untrained width-1/16 run folder (checkpoints/best.pt, metrics.json), 16-kHz front-end."""
    from helpers.checkpoints import make_run

    return make_run(tmp_path_factory.mktemp("tiny_run"))


@pytest.fixture(scope="module")
def tiny_audio(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder of three audio files: a.wav, sub/with space, comma.wav, sub/c.flac."""
    from helpers.checkpoints import write_wav

    d = tmp_path_factory.mktemp("tiny_audio")
    write_wav(d / "a.wav", 1.0, 16000, seed=1)
    write_wav(d / "sub" / "with space, comma.wav", 2.5, 22050, channels=2, seed=2)
    write_wav(d / "sub" / "c.flac", 0.5, 8000, seed=3)
    return d


@pytest.fixture(scope="session")
def tiny_inputs(tmp_path_factory: pytest.TempPathFactory):  # -> helpers.training.TinyInputs
    """The tiny dataset, feature cache, pseudo-labels and R_SE (helpers.training), built once.

    Read-only: a test that needs altered inputs writes its own copies under tmp_path.
    """
    from helpers.training import make_inputs

    return make_inputs(tmp_path_factory.mktemp("tiny_inputs"))


@pytest.fixture
def built(monkeypatch: pytest.MonkeyPatch) -> list[dict[str, Any]]:
    """Replace rgasc.teachers.get_teacher by a recorder that builds a ToyTeacher (what a CLI
    command asked for, without a model); returns the calls' options."""
    import rgasc.teachers
    from helpers.teachers import ToyTeacher

    calls: list[dict[str, Any]] = []

    def fake(name: str, **options: Any) -> ToyTeacher:
        calls.append({"name": name, **options})
        return ToyTeacher()

    monkeypatch.setattr(rgasc.teachers, "get_teacher", fake)
    return calls

"""Which data the demo runs on: real sound by default, the synthetic corpus as the fallback.

With no ``--dataset`` the demo runs on the real-sound benchmark (:mod:`rgasc.data.realscenes`:
real recordings from seven pinned Debian packages), built once into the user's cache folder
and reused by every later demo. Where the package archive cannot be reached (no apt, no
network, a moved mirror) it falls back to the procedural corpus of :mod:`rgasc.data.synthetic`
with one line saying why and how to get the real data; ``--corpus synthetic`` asks for the
fallback directly (tests, machines without the archive).
"""

from __future__ import annotations

import enum
from collections.abc import Callable
from pathlib import Path

from rgasc.data.datasets import DcaseDataset
from rgasc.utils import cache_dir

# The benchmark exactly as `make bench-data` builds it, so the demo's numbers sit beside the
# tables of benchmarks/results/realscenes/.
REAL_CLIPS = 1000
REAL_SEED = 0
REAL_HINT = (
    "to run on real sound, build the real-sound benchmark on a machine that reaches the "
    "Debian package archive (`make bench-data`, or run the demo there once: it fills "
    "~/.cache/rgasc/realscenes), or pass --dataset DIR"
)


class DemoCorpus(enum.StrEnum):
    """The demo's data when no ``--dataset`` is given."""

    AUTO = "auto"  # real sound when the packages can be had, else synthetic (one line why)
    REALSCENES = "realscenes"  # real sound, or an error saying why not
    SYNTHETIC = "synthetic"  # the procedural corpus


def realscenes_root() -> Path:
    """Where the demo keeps its build of the benchmark: ``$RGASC_CACHE/realscenes/data-...``."""
    return cache_dir() / "realscenes" / f"data-{REAL_CLIPS}-seed{REAL_SEED}"


def real_corpus(
    log: Callable[[str], None], build: Callable[..., object] | None = None
) -> tuple[DcaseDataset | None, str, bool]:
    """``(the real-sound benchmark, "", reused)``, built on first use; ``(None, why, False)``
    when it cannot be.

    ``build`` replaces :func:`rgasc.data.realscenes.build.build` (tests). Only a failure to
    get the packages (:class:`~rgasc.data.realscenes.fetch.FetchError`) is a reason to fall
    back; any other error is a bug and is raised.
    """
    from rgasc.data.realscenes.build import build as build_benchmark
    from rgasc.data.realscenes.fetch import FetchError

    root = realscenes_root()
    stamp = root / "build.json"
    before = stamp.stat().st_mtime_ns if stamp.is_file() else None
    try:
        # force: the folder is the demo's own; an older build (another builder version) is
        # replaced rather than refused
        (build or build_benchmark)(
            root, clips=REAL_CLIPS, seed=REAL_SEED, force=True, log=lambda s: log(f"    {s}")
        )
    except FetchError as e:
        return None, str(e), False
    reused = before is not None and stamp.stat().st_mtime_ns == before
    return DcaseDataset(root), "", reused

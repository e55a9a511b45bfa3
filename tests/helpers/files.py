"""File-system helpers of the tests: a temporary umask, folder modes."""

from __future__ import annotations

import contextlib
import os
import stat
from collections.abc import Iterator
from pathlib import Path


@contextlib.contextmanager
def umask(mask: int) -> Iterator[None]:
    """Run the block under ``mask`` (then restore the process's umask)."""
    old = os.umask(mask)
    try:
        yield
    finally:
        os.umask(old)


def mode(path: Path) -> int:
    """The permission bits of ``path`` (e.g. 0o755)."""
    return stat.S_IMODE(path.stat().st_mode)

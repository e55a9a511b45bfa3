"""The ``rgasc`` command in a fresh process: what multi-process (DDP) tests need, since
Lightning starts the extra ranks by re-running the command line."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

SRC = Path(__file__).resolve().parents[2] / "src"


def run_rgasc(args: list[str], cwd: Path, timeout: float = 600) -> subprocess.CompletedProcess[str]:
    """``python -m rgasc ARGS`` in ``cwd`` with this checkout's sources first on the path.

    One thread per process (two ranks on a shared CPU) and no progress bars; fails the test
    with the output when the command fails.
    """
    env = {
        **os.environ,
        "PYTHONPATH": os.pathsep.join([str(SRC), os.environ.get("PYTHONPATH", "")]),
        "OMP_NUM_THREADS": "1",
    }
    res = subprocess.run(
        [sys.executable, "-m", "rgasc", *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )
    assert res.returncode == 0, f"rgasc {' '.join(args)} failed:\n{res.stdout}\n{res.stderr}"
    return res

"""One training session: ``trainer.fit`` quietly, and a clear message when it is interrupted.

Lightning turns Ctrl-C into a graceful shutdown and ``sys.exit(1)`` without saying that the run
can be continued. :func:`fit` turns that into :class:`rgasc.errors.Interrupted`, naming the
checkpoint kept and the exact command that continues the run (the CLI exits with 130).
"""

from __future__ import annotations

import shlex
import signal
from pathlib import Path
from typing import Any

import lightning as L

from rgasc.artefacts import LAST_CKPT
from rgasc.errors import Interrupted
from rgasc.train.loop.quiet import quiet_lightning


def resume_command(run: str | Path) -> str:
    """The command that continues ``run`` (its config.yaml supplies every other option)."""
    return f"rgasc train --resume --out {shlex.quote(str(run))}"


def interrupted_message(run: Path, epochs: int) -> str:
    """What a user reads after Ctrl-C: what was kept, and what to run next."""
    last = run / LAST_CKPT
    if not last.is_file():
        return (
            f"{run}: training interrupted before its first epoch ended, so nothing was kept; "
            "run the same `rgasc train` command again"
        )
    import torch

    # our own file, just written: a full load is safe (and it is small at this point)
    done = int(torch.load(last, map_location="cpu", weights_only=False).get("epoch", 0)) + 1
    return (
        f"{run}: training interrupted; kept {last} after epoch {done} of {epochs}; continue "
        f"with `{resume_command(run)}`"
    )


def make_trainer(**kwargs: Any) -> L.Trainer:
    """``L.Trainer(**kwargs)`` without its GPU/TPU availability lines (unless --verbose)."""
    with quiet_lightning():
        return L.Trainer(**kwargs)


def fit(
    trainer: L.Trainer,
    module: L.LightningModule,
    datamodule: L.LightningDataModule,
    *,
    run: Path,
    epochs: int,
    ckpt_path: str | None,
) -> None:
    """``trainer.fit`` with Lightning's banners silenced (:mod:`rgasc.train.loop.quiet`).

    Raises:
        Interrupted: Ctrl-C (Lightning's graceful shutdown) stopped the session.
    """
    kwargs: dict[str, Any] = {"datamodule": datamodule, "ckpt_path": ckpt_path}
    try:
        with quiet_lightning():
            trainer.fit(module, **kwargs)
    except SystemExit as e:
        if not trainer.interrupted:
            raise
        # Lightning ignores SIGINT from here on; give the process its Ctrl-C back
        signal.signal(signal.SIGINT, signal.default_int_handler)
        raise Interrupted(interrupted_message(run, epochs)) from e

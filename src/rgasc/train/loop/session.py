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
from lightning.pytorch.callbacks import TQDMProgressBar

from rgasc.artefacts import CONFIG_FILE, LAST_CKPT, METRICS_FILE
from rgasc.errors import ArtefactError, Interrupted
from rgasc.models.checkpoint import BEST
from rgasc.train.config.tree import TrainConfig, load_run_config
from rgasc.train.loop.quiet import quiet_lightning
from rgasc.utils import read_json


def resume_command(run: str | Path) -> str:
    """The command that continues ``run`` (its config.yaml supplies every other option)."""
    return f"rgasc train --resume --out {shlex.quote(str(run))}"


def epochs_done(last: Path) -> int:
    """Epochs a Lightning checkpoint has trained (its ``epoch`` is the 0-based index of the
    last one). Memory-mapped: only the few bytes of that number are read, not the weights."""
    import torch

    return int(torch.load(last, map_location="cpu", weights_only=True, mmap=True)["epoch"]) + 1


def interrupted_message(run: Path, epochs: int) -> str:
    """What a user reads after Ctrl-C: what was kept, and what to run next (epochs 1-based:
    "after epoch 8 of 200" is the eighth epoch done)."""
    last = run / LAST_CKPT
    if not last.is_file():
        return (
            f"{run}: training interrupted before its first epoch ended, so nothing was kept; "
            "run the same `rgasc train` command again"
        )
    done = epochs_done(last)
    return (
        f"{run}: training interrupted; kept {last} after epoch {done} of {epochs}; continue "
        f"with `{resume_command(run)}`"
    )


def finished_message(run: Path, epochs: int) -> str | None:
    """One line when resuming ``run`` for ``epochs`` epochs would train nothing; else None.

    Finished: metrics.json scores the weights of ``last.ckpt`` (its ``epochs_trained`` is the
    checkpoint's epoch count) and ``epochs`` asks for no more than that. A run trained on
    after its metrics.json (a longer session, interrupted) is not finished: it is scored again.
    """
    metrics, last = run / METRICS_FILE, run / LAST_CKPT
    if not (metrics.is_file() and last.is_file()):
        return None
    done = epochs_done(last)
    if epochs > done or read_json(metrics).get("epochs_trained") != done:
        return None
    return (
        f"{run}: finished after {done} epochs; its scores are in {metrics}. To train longer: "
        f"`{resume_command(run)} --epochs N` with N > {done}"
    )


def epoch_label(epoch: int, epochs: int | None) -> str:
    """The progress bar's "Epoch 1/3" for Lightning's 0-based ``epoch`` (of ``epochs``)."""
    return f"Epoch {epoch + 1}/{epochs}" if epochs and epochs > 0 else f"Epoch {epoch + 1}"


class EpochBar(TQDMProgressBar):
    """Lightning's progress bar, with epochs counted from 1 of the run's total ("Epoch 1/3"),
    as every other message of a run counts them (Lightning's own says "Epoch 0")."""

    def on_train_epoch_start(self, trainer: L.Trainer, *args: Any) -> None:
        super().on_train_epoch_start(trainer, *args)
        self.train_progress_bar.set_description(
            epoch_label(trainer.current_epoch, trainer.max_epochs)
        )


def check_run_folder(cfg: TrainConfig, resume: bool) -> Path:
    """The run folder of ``cfg``, checked: a resumed run must exist and keep its settings
    (all but epochs and runtime options); a new run must not overwrite one."""
    run = Path(cfg.out)
    last = run / LAST_CKPT
    if resume:
        if not last.is_file():
            raise ArtefactError(
                f"{last}: missing, nothing to resume; start the run without --resume"
            )
        saved = load_run_config(run).identity()
        now = cfg.identity()
        diff = sorted(k for k in set(saved) | set(now) if saved.get(k) != now.get(k))
        if diff:
            raise ArtefactError(
                f"{run / CONFIG_FILE}: the run was made with other settings for {diff}; resume "
                "with the same options (only epochs and runtime options may change) or "
                "start a new run with another --out"
            )
    elif last.is_file() or (run / BEST).is_file():
        raise ArtefactError(
            f"{run}: already holds a run; continue it with --resume or choose another --out"
        )
    return run


def finished(cfg: TrainConfig) -> str | None:
    """What ``train(cfg, resume=True)`` would say instead of training: one line naming the
    run's metrics.json and how to train longer, or None when it would train (or fail)."""
    cfg = cfg.resolved()
    msg = finished_message(Path(cfg.out), cfg.optim.epochs)
    if msg is not None:
        check_run_folder(cfg, resume=True)  # other settings than the run's are still refused
    return msg


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

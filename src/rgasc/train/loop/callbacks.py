"""Lightning callbacks of weight averaging and of the smoothed selection rule, and the restore
of the weights a run's ``select.rule`` picks.

Neither callback is added when ``average.method`` is "none" and ``select.rule`` is "best" (the
defaults): such a run goes through the plain Lightning loop, and its checkpoints hold no
averaging or selection state.

- :class:`AveragingCallback`: keeps an EMA or SWA copy (:mod:`rgasc.train.algorithms.averaging`)
  of the network and the relation prior; evaluates it on every validation loader after each epoch,
  logged as ``{split}_{ema|swa}/{macro_acc,acc,log_loss}`` (``val_ema/macro_acc``); its state
  is part of every Lightning checkpoint (``last.ckpt`` resumes it).
- :class:`EpochKeeper` (``select.rule`` smoothed): records the selection curve and keeps the
  state dicts of the epochs that can still win
  (:func:`rgasc.train.algorithms.selection.keep_epochs`) in
  ``checkpoints/epochs/``; at most ``window // 2 + 1`` files at any time.
- :class:`WeightChoice`: builds the callbacks for a config and, at the end, restores the selected
  weights into the module (:meth:`WeightChoice.restore`).
"""

from __future__ import annotations

import contextlib
import math
import random
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import torch
from torch import nn

from rgasc.errors import ArtefactError
from rgasc.models import RGASC, RelationPrior
from rgasc.train.algorithms.averaging import EmaWeights, SwaWeights
from rgasc.train.algorithms.selection import Selection, keep_epochs, select_epoch
from rgasc.train.config.averaging import AverageConfig
from rgasc.train.config.selection import RULES, Rule
from rgasc.train.config.tree import TrainConfig
from rgasc.train.loop.module import SplitMetrics

EPOCHS_DIR = "epochs"


def _source(pl_module: Any) -> nn.ModuleDict:
    """What is averaged: the network and the relation prior (a learned R_SE is a parameter).

    A container of references, outside the LightningModule's tree (its state dict is
    unchanged); its keys are ``model.*`` and ``prior.*``.
    """
    return nn.ModuleDict({"model": pl_module.model, "prior": pl_module.prior})


def _parts(container: nn.Module) -> tuple[RGASC, RelationPrior]:
    """(network, prior) of a :func:`_source` container or of its averaged copy."""
    net, prior = container.get_submodule("model"), container.get_submodule("prior")
    assert isinstance(net, RGASC) and isinstance(prior, RelationPrior)
    return net, prior


@contextlib.contextmanager
def _rng_preserved(device: torch.device) -> Iterator[None]:
    """Run a side computation without moving any random stream the training reads.

    The SWA BatchNorm pass shuffles the training loader and runs dropout: without this, an
    averaged run's raw trajectory would differ from the same run without averaging.
    """
    py, npy = random.getstate(), np.random.get_state()
    devices = [device] if device.type == "cuda" else []
    with torch.random.fork_rng(devices=devices):
        yield
    random.setstate(py)
    np.random.set_state(npy)


class AveragingCallback(L.Callback):
    """EMA (per optimiser step) or SWA (per epoch, last ``swa_epochs``) of the weights.

    Args:
        cfg: the ``average`` section (method "ema" or "swa").
    """

    def __init__(self, cfg: AverageConfig) -> None:
        if not cfg.on:
            raise ValueError("AveragingCallback needs average.method ema or swa")
        self.cfg = cfg
        self.tag = cfg.method
        self.averager: EmaWeights | SwaWeights | None = None
        self._source: nn.ModuleDict | None = None
        self._pending: dict[str, Any] | None = None
        self._last_step = -1  # EMA: the global step of the last update
        self._swa_epoch = -1  # SWA: the epoch last added to the average
        self._metrics: dict[str, SplitMetrics] = {}
        self._updated: set[str] = set()

    # --- state (part of every Lightning checkpoint) ---------------------------------------
    def state_dict(self) -> dict[str, Any]:
        if self.averager is None:
            return dict(self._pending or {})
        return {
            "averager": self.averager.state_dict(),
            "last_step": self._last_step,
            "swa_epoch": self._swa_epoch,
        }

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self._pending = dict(state_dict)
        if self.averager is not None:
            self._apply_pending()

    def _apply_pending(self) -> None:
        if self._pending and self.averager is not None:
            self.averager.load_state_dict(self._pending["averager"])
            self._last_step = int(self._pending["last_step"])
            self._swa_epoch = int(self._pending["swa_epoch"])
        self._pending = None

    # --- training ---------------------------------------------------------------------------
    def on_fit_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._source = _source(pl_module)
        if self.cfg.method == "ema":
            self.averager = EmaWeights(self._source, self.cfg.ema_decay, self.cfg.ema_warmup)
        else:
            self.averager = SwaWeights(self._source)
        self._apply_pending()
        n_scenes = int(getattr(pl_module, "n_scenes", 0))
        self._metrics = {
            s: SplitMetrics(n_scenes).to(pl_module.device)
            for s in getattr(pl_module, "val_splits", ["val"])
        }

    def on_train_batch_end(
        self, trainer: L.Trainer, pl_module: L.LightningModule, *args: Any, **kwargs: Any
    ) -> None:
        # once per optimiser step (a batch without a step, e.g. accumulation, is skipped)
        if self.cfg.method == "ema" and trainer.global_step > self._last_step:
            assert isinstance(self.averager, EmaWeights) and self._source is not None
            self.averager.update(self._source)
            self._last_step = trainer.global_step

    def swa_start(self, trainer: L.Trainer) -> int:
        """First epoch (0-based) of the SWA window: the last ``swa_epochs`` epochs."""
        return max(0, int(trainer.max_epochs or 1) - self.cfg.swa_epochs)

    def _swa_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        """Add this epoch's weights to the SWA mean and recompute its BN (once per epoch)."""
        epoch = trainer.current_epoch
        if self.cfg.method != "swa" or epoch < self.swa_start(trainer) or epoch == self._swa_epoch:
            return
        avg = self.averager
        assert isinstance(avg, SwaWeights) and self._source is not None
        if self._swa_epoch < self.swa_start(trainer):
            avg.reset()  # a new window (also when a resumed run was made longer)
        avg.update(self._source)
        self._swa_epoch = epoch
        loader = trainer.train_dataloader
        if loader is not None:
            with _rng_preserved(pl_module.device):
                avg.recompute_bn(loader, _parts(avg.module)[0], device=pl_module.device)
            if trainer.world_size > 1:  # every rank saw its shard: average the statistics
                for m in avg.module.modules():
                    if isinstance(m, nn.modules.batchnorm._BatchNorm):
                        for name in ("running_mean", "running_var"):
                            buf = getattr(m, name)
                            buf.copy_(trainer.strategy.reduce(buf, reduce_op="mean"))

    def on_train_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self._swa_epoch_end(trainer, pl_module)  # when no validation ran this epoch

    # --- validation: the averaged model beside the raw one ----------------------------------
    def _active(self, trainer: L.Trainer) -> bool:
        return (
            not trainer.sanity_checking
            and self.averager is not None
            and (self.cfg.method == "ema" or self.averager.updates > 0)
        )

    def on_validation_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if not trainer.sanity_checking:
            self._swa_epoch_end(trainer, pl_module)
        dtype = torch.float32 if pl_module.device.type == "mps" else torch.float64
        for m in self._metrics.values():
            m.reset()
            m.nll.set_dtype(dtype)
        self._updated = set()

    @torch.no_grad()
    def on_validation_batch_end(
        self,
        trainer: L.Trainer,
        pl_module: L.LightningModule,
        outputs: Any,
        batch: Any,
        batch_idx: int,
        dataloader_idx: int = 0,
    ) -> None:
        if not self._active(trainer):
            return
        assert self.averager is not None
        x, scene = batch[0], batch[1]
        net = _parts(self.averager.module)[0]
        dtype = next(net.parameters()).dtype
        logits = net(x.to(dtype)).scene_logits
        split = getattr(pl_module, "val_splits", ["val"])[dataloader_idx]
        self._metrics[split].update(torch.softmax(logits.float(), dim=1), scene)
        self._updated.add(split)

    def on_validation_epoch_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        for split in sorted(self._updated):
            values = self._metrics[split].compute()
            pl_module.log_dict(
                {f"{split}_{self.tag}/{k}": v for k, v in values.items()},
                sync_dist=True,
                add_dataloader_idx=False,
            )
            self._metrics[split].reset()
        self._updated = set()


class EpochKeeper(L.Callback):
    """Records the selection curve; keeps the state dicts the smoothed rule may still pick.

    Args:
        monitor: the logged metric, e.g. ``"val/macro_acc"``.
        window: the smoothed rule's window. folder: where the state dicts go
            (``checkpoints/epochs/epoch<k>.pt``, the LightningModule's state dict).
    """

    def __init__(self, monitor: str, window: int, folder: Path) -> None:
        self.monitor = monitor
        self.window = window
        self.folder = Path(folder)
        self.curve: list[float] = []

    def state_dict(self) -> dict[str, Any]:
        return {"curve": list(self.curve)}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.curve = [float(x) for x in state_dict.get("curve", [])]

    def path(self, epoch: int) -> Path:
        return self.folder / f"epoch{epoch}.pt"

    def available(self) -> set[int]:
        """Epochs whose state dict is on disk."""
        return {e for e in range(len(self.curve)) if self.path(e).is_file()}

    def on_validation_end(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        if trainer.sanity_checking:
            return
        value = trainer.callback_metrics.get(self.monitor)
        epoch = trainer.current_epoch
        v = float(value) if value is not None else math.nan
        self.curve = [*self.curve[:epoch], *[math.nan] * (epoch - len(self.curve)), v]
        if not trainer.is_global_zero:
            return
        self.folder.mkdir(parents=True, exist_ok=True)
        tmp = self.path(epoch).with_suffix(".tmp")
        torch.save(pl_module.state_dict(), tmp)
        tmp.replace(self.path(epoch))
        keep = keep_epochs(self.curve, self.window, int(trainer.max_epochs or len(self.curve)))
        for f in self.folder.glob("epoch*.pt"):
            if int(f.stem[len("epoch") :]) not in keep:
                f.unlink()


class WeightChoice:
    """Which weights a run ends with: its averaging and selection callbacks (none for the
    defaults) and, at the end, the restore of the weights ``select.rule`` picks.

    Args:
        cfg: the run's config. run: its folder. monitor: the selection metric.
    """

    def __init__(self, cfg: TrainConfig, run: Path, monitor: str) -> None:
        self.cfg = cfg
        self.monitor = monitor
        self.averaging = AveragingCallback(cfg.average) if cfg.average.on else None
        self.keeper = (
            EpochKeeper(monitor, cfg.select.window, run / "checkpoints" / EPOCHS_DIR)
            if cfg.select.rule == "smoothed" or cfg.select.score_all
            else None
        )
        self.last_state: dict[str, torch.Tensor] | None = None

    @property
    def callbacks(self) -> list[L.Callback]:
        return [c for c in (self.averaging, self.keeper) if c is not None]

    def averaged_monitor(self) -> str:
        split, _, metric = self.monitor.partition("/")
        return f"{split}_{self.cfg.average.method}/{metric}"

    def restore(
        self,
        module: L.LightningModule,
        best_ckpt: Path,
        best_score: float | None,
        metrics: Any,
        epochs_trained: int,
        rule: str | None = None,
    ) -> tuple[int, float | None, dict[str, Any]]:
        """Load the weights the rule picks into ``module``.

        Args:
            module: the trained LightningModule (holds the last epoch's weights).
            best_ckpt: ModelCheckpoint's best.ckpt (rule "best").
            best_score: its monitored score.
            metrics: the trainer's ``callback_metrics`` after the last epoch.
            epochs_trained: epochs run (the last one is ``epochs_trained - 1``).
            rule: another rule than the run's (``select.score_all``); rule "last" then needs
                :meth:`remember_last` called before the first restore.

        Returns:
            (selected epoch, its score on the selection split, the ``selection_rule`` record).
        """
        rule = rule or self.cfg.select.rule
        record: dict[str, Any] = {
            "rule": rule,
            "description": self.cfg.select.describe(self.cfg.average),
        }
        if rule == "best":
            if not best_ckpt.is_file():
                raise ArtefactError(
                    f"{best_ckpt}: no best checkpoint was saved; did training run an epoch?"
                )
            # our own file, just written by Lightning: a full (non weights-only) load is safe
            state = torch.load(best_ckpt, map_location="cpu", weights_only=False)
            module.load_state_dict(state["state_dict"])
            epoch = int(state["epoch"])
            record.update(epoch=epoch, score=best_score)
            return epoch, best_score, record
        last = epochs_trained - 1
        if rule == "smoothed":
            assert self.keeper is not None
            curve = self.keeper.curve
            if not curve:
                raise ArtefactError("no validation curve was recorded; did training run an epoch?")
            sel = select_epoch(
                curve, rule, self.cfg.select.window, available=self.keeper.available()
            )
            state = torch.load(self.keeper.path(sel.epoch), map_location="cpu", weights_only=True)
            module.load_state_dict(state)
            record.update(window=self.cfg.select.window, centred=True, curve=curve)
        elif rule == "averaged":
            assert self.averaging is not None and self.averaging.averager is not None
            _source(module).load_state_dict(self.averaging.averager.module.state_dict())
            sel = Selection(last, _value(metrics, self.averaged_monitor()), math.nan)
            record["averaging"] = self.cfg.average.describe()
        else:  # last: the module holds the last epoch's weights, unless restored since
            if self.last_state is not None:
                module.load_state_dict(self.last_state)
            v = _value(metrics, self.monitor)
            sel = Selection(last, v, v)
        record.update(epoch=sel.epoch, score=_finite(sel.score), raw_score=_finite(sel.raw))
        return sel.epoch, _finite(sel.score if rule != "smoothed" else sel.raw), record

    def remember_last(self, module: L.LightningModule) -> None:
        """Keep a copy of the last epoch's weights (on the CPU) for a later rule "last"."""
        self.last_state = {k: v.detach().cpu().clone() for k, v in module.state_dict().items()}

    def rules(self) -> list[str]:
        """The rules this run can score: all but "averaged" without averaging."""
        return [r for r in RULES if r != Rule.AVERAGED or self.averaging is not None]

    def averaged_network(self) -> tuple[RGASC, torch.Tensor] | None:
        """(the averaged network on the CPU, its relation matrix), or None without averaging."""
        if self.averaging is None or self.averaging.averager is None:
            return None
        net, prior = _parts(self.averaging.averager.module)
        return net.cpu().eval(), prior.matrix.detach().cpu()


def _value(metrics: Any, key: str) -> float:
    v = metrics.get(key) if metrics is not None else None
    return float(v) if v is not None else math.nan


def _finite(x: float | None) -> float | None:
    return x if x is not None and math.isfinite(x) else None

"""The LightningModule: RGASC + the relation prior + eq. 8, trained with Adam (the paper) or
the options of a recipe: augmented training batches, AdamW, a per-step lr schedule.

Lightning lives here and in :mod:`rgasc.train.loop.data` / :mod:`rgasc.train.runner` only; the
model and the losses are plain PyTorch.

Logged (CSV and TensorBoard, per epoch): ``train/loss`` and every term
``train/loss_{scene,s_by_event,event,e_by_scene}``, ``train/acc`` (against the clips' own
labels, augmented or not), ``train/lr`` (the epoch's mean learning rate); for each validation loader
(``val``, plus ``test`` when selecting on test) the same loss terms and ``{split}/macro_acc``
(the paper's Acc), ``{split}/acc``, ``{split}/log_loss`` and ``{split}/n`` (clips counted) of
the whole split at epoch end.

Those split metrics accumulate in torchmetrics states (a confusion matrix and a mean of the
per-clip log loss), which torchmetrics sums across DDP ranks at ``compute()``; the numbers
are derived from them exactly as :mod:`rgasc.scoring.metrics` derives them from the
predictions (same macro mean over the classes present, same clipping of the log loss).
"""

from __future__ import annotations

import warnings
from typing import Any

import lightning as L
import numpy as np
import torch
from torch import Tensor, nn
from torchmetrics import MeanMetric
from torchmetrics.classification import MulticlassConfusionMatrix

from rgasc.errors import RgascWarning
from rgasc.models import RGASC, RelationPrior
from rgasc.models.two_tower import tower_parameters
from rgasc.scoring.metrics import LOG_LOSS_EPS
from rgasc.train.algorithms.augment import BatchAugment
from rgasc.train.algorithms.losses import TERMS, LossConfig, total_loss
from rgasc.train.algorithms.schedule import (
    build_optimizer,
    decay_exempt,
    needs_scheduler,
    param_groups,
    planned_steps,
)
from rgasc.train.config.tree import OptimConfig

Batch = tuple[Tensor, Tensor, Tensor]  # x [B, T, F], scene ids [B], event targets [B, E]


class RGASCModule(L.LightningModule):
    """Trains an :class:`RGASC` network with the four losses.

    Args:
        model: the two-tower network (already initialised: He-uniform or CNN14).
        prior: R_SE as a :class:`RelationPrior` (a parameter with ``learn_relation``).
        loss_config: lambdas and relation options.
        lr: Adam learning rate (when ``optim`` is not given).
        val_splits: names of the validation loaders, in order (e.g. ``["val"]`` or
            ``["test", "val"]``); metrics are logged under these prefixes.
        compile: wrap the forward in ``torch.compile`` (the state dict keeps plain keys).
        channels_last: convert the network to NHWC when training on CUDA (tensor-core
            friendly convolutions; ignored on CPU, where NHWC is often slower).
        optim: optimiser and lr schedule (:mod:`rgasc.train.algorithms.schedule`); default: Adam
            at ``lr``.
        augment: applied to the training batches only, on their device, at the start of
            :meth:`training_step` (None or all off: the batch as loaded).
    """

    def __init__(
        self,
        model: RGASC,
        prior: RelationPrior,
        loss_config: LossConfig,
        lr: float = 1e-3,
        val_splits: list[str] | None = None,
        compile: bool = False,
        channels_last: bool = True,
        optim: OptimConfig | None = None,
        augment: BatchAugment | None = None,
    ) -> None:
        super().__init__()
        self.model = model
        self.prior = prior
        self.loss_config = loss_config
        self.optim_config = optim if optim is not None else OptimConfig(lr=lr)
        self.lr = self.optim_config.lr
        self.augment = augment  # no parameters nor buffers: the state dict is unchanged
        #: where pretrained weights came from (rgasc.train.runner.init_pretrained), or None
        self.pretrained: dict[str, Any] | None = None
        if self.optim_config.freeze_shared:
            for p in self.model.shared.parameters():
                p.requires_grad_(False)
        self._lr_sum, self._lr_steps = 0.0, 0
        self.val_splits = list(val_splits or ["val"])
        self.channels_last = channels_last
        self.n_scenes = model.cfg.n_scenes
        self.save_hyperparameters(
            {
                "model": model.cfg.to_dict(),
                "loss": loss_config.to_dict(),
                "lr": self.lr,
                "optim": self.optim_config.to_dict(),
                "augment": augment.cfg.to_dict() if augment is not None else None,
                "learn_relation": prior.learn,
                "val_splits": self.val_splits,
            }
        )
        # Kept outside the module tree (object.__setattr__): a registered compiled wrapper would
        # duplicate every key of the state dict under "_compiled._orig_mod.".
        object.__setattr__(self, "_compiled", torch.compile(self.model) if compile else None)
        # One set of split metrics per validation loader. Their states are not persistent:
        # the state dict (and so every checkpoint) is the same as without them.
        self.split_metrics = nn.ModuleDict(
            {s: SplitMetrics(self.n_scenes) for s in self.val_splits}
        )
        self._updated: set[str] = set()

    def on_fit_start(self) -> None:
        # NHWC pays off with cuDNN/tensor cores; on CPU it is often slower, so GPU only
        if self.channels_last and self.device.type == "cuda":
            self.model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]

    def forward(self, x: Tensor) -> Any:
        """x [B, T, F] standardised log-mel -> :class:`rgasc.models.TwoTowerOutput`."""
        compiled = self.__dict__.get("_compiled")
        return compiled(x) if compiled is not None else self.model(x)

    def _losses(self, batch: Batch) -> tuple[dict[str, Tensor], Tensor]:
        # batch[1]: scene ids [B], or soft targets [B, K] of an augmented training batch
        x, scene, target = batch
        out = self(x)
        return total_loss(out, scene, target, self.prior.matrix, self.loss_config), out.scene_logits

    def _log_losses(self, prefix: str, losses: dict[str, Tensor], batch_size: int) -> None:
        # Epoch means only: logging per step would force a device sync every step.
        values = {f"{prefix}/loss": losses["loss"].detach()}
        # a term with lambda 0 is not computed (constant 0): not logged, so no flat fake curve
        for term, lam in zip(TERMS, self.loss_config.lambdas, strict=True):
            if lam > 0 and term in losses:
                values[f"{prefix}/loss_{term}"] = losses[term].detach()
        self.log_dict(
            values,
            on_step=False,
            on_epoch=True,
            batch_size=batch_size,
            sync_dist=True,
            add_dataloader_idx=False,
        )

    # --- training -------------------------------------------------------------------------
    def training_step(self, batch: Batch, batch_idx: int) -> Tensor:
        if self.augment is not None:  # training batches only; on the batch's device
            x, scene, target = batch
            # seeded by the step: a resumed run draws what the uninterrupted one would have
            aug = self.augment(x, scene, target, step=self.global_step, rank=self.global_rank)
            losses, logits = self._losses(aug)
        else:
            losses, logits = self._losses(batch)
        b = batch[0].shape[0]
        self._log_losses("train", losses, b)
        acc = (logits.detach().argmax(dim=1) == batch[1]).float().mean()
        self.log("train/acc", acc, on_step=False, on_epoch=True, batch_size=b, sync_dist=True)
        return losses["loss"]

    def on_train_batch_start(self, batch: Any, batch_idx: int) -> None:
        # the lr of this step, a host float (no device sync); logged as the epoch's mean
        self._lr_sum += float(self.optimizers().param_groups[0]["lr"])  # type: ignore[union-attr]
        self._lr_steps += 1

    def on_train_start(self) -> None:
        # after a resume's restore: the scheduler holds the plan of the first session
        # (rgasc.train.algorithms.schedule.PlannedLr), which a longer run outlives
        planned = planned_steps(self.lr_schedulers())  # type: ignore[arg-type]
        total = int(self.trainer.estimated_stepping_batches)
        if planned is not None and planned < total and self.global_rank == 0:
            cfg = self.optim_config
            warnings.warn(
                f"the {cfg.schedule} lr schedule keeps the {planned} optimiser steps it was "
                f"planned for; the {total - planned} steps this resumed run adds train at its "
                f"floor lr {cfg.lr_floor * cfg.lr:.3g} (lr_floor x lr). To decay over more "
                "epochs, start a new run with them.",
                RgascWarning,
                stacklevel=2,
            )

    def on_train_epoch_end(self) -> None:
        if self._lr_steps:
            self.log("train/lr", self._lr_sum / self._lr_steps, on_step=False, on_epoch=True)
        self._lr_sum, self._lr_steps = 0.0, 0

    def configure_optimizers(self) -> Any:
        # self.parameters() includes a learnable R_SE (RelationPrior.raw) when there is one.
        cfg = self.optim_config
        # the run's optimiser steps (all epochs): the schedule's length
        total = int(self.trainer.estimated_stepping_batches) if needs_scheduler(cfg) else None
        stages = tower_parameters(self.model, "stages")
        staged = {id(p) for p in stages}
        others = [p for p in self.parameters() if id(p) not in staged]
        groups = param_groups(stages, others, cfg, no_decay=decay_exempt(self))
        opt, scheduler = build_optimizer(groups, cfg, total)
        if scheduler is None:
            return opt  # the paper: a fixed lr, no scheduler
        return {"optimizer": opt, "lr_scheduler": {"scheduler": scheduler, "interval": "step"}}

    # --- validation -----------------------------------------------------------------------
    def on_validation_epoch_start(self) -> None:
        # MPS has no float64; elsewhere the log-loss sum is kept in float64, as in numpy
        dtype = torch.float32 if self.device.type == "mps" else torch.float64
        for split in self.val_splits:
            m = self._metrics(split)
            m.reset()
            m.nll.set_dtype(dtype)
        self._updated = set()

    def validation_step(self, batch: Batch, batch_idx: int, dataloader_idx: int = 0) -> None:
        losses, logits = self._losses(batch)
        split = self.val_splits[dataloader_idx]
        self._log_losses(split, losses, batch[0].shape[0])
        self._metrics(split).update(torch.softmax(logits.float(), dim=1), batch[1])
        self._updated.add(split)

    def on_validation_epoch_end(self) -> None:
        for split in self.val_splits:
            if split not in self._updated:
                continue
            # compute() sums the states over the DDP ranks; every clip is counted once, since
            # the validation loaders do not pad (rgasc.distributed.unpadded_sampler)
            metrics = {f"{split}/{k}": v for k, v in self._metrics(split).compute().items()}
            # values are identical on every rank already; sync_dist keeps Lightning's DDP
            # bookkeeping consistent
            self.log_dict(metrics, sync_dist=True, add_dataloader_idx=False)
            self._metrics(split).reset()
        self._updated = set()

    def _metrics(self, split: str) -> SplitMetrics:
        m = self.split_metrics[split]
        assert isinstance(m, SplitMetrics)
        return m


class SplitMetrics(nn.Module):
    """Macro accuracy, accuracy and log loss of one split, accumulated batch by batch.

    The state is a [K, K] confusion matrix (torchmetrics ``MulticlassConfusionMatrix``) and
    the running mean of the per-clip log loss (``MeanMetric``); both are reduced across DDP
    ranks by torchmetrics. The values equal :func:`rgasc.scoring.metrics.macro_accuracy`,
    ``overall_accuracy`` and ``log_loss`` on the concatenated predictions.

    Not torchmetrics' ``MulticlassAccuracy(average="macro")``: it scores a class that is
    predicted but absent from the targets as 0 instead of leaving it out of the mean, so it
    differs from the paper's Acc on a split that lacks a class.
    """

    def __init__(self, n_classes: int) -> None:
        super().__init__()
        # validate_args=False: the checks would sync the host on every step; the data
        # module has already checked the class ids
        self.confusion = MulticlassConfusionMatrix(n_classes, validate_args=False)
        self.nll = MeanMetric(nan_strategy="disable")  # a check per step would sync too

    def update(self, probs: Tensor, target: Tensor) -> None:
        """probs [B, K] class probabilities (float32), target [B] int class ids."""
        self.confusion.update(probs.argmax(dim=1), target)
        picked = probs.gather(1, target[:, None].long()).squeeze(1).to(self.nll.dtype)
        self.nll.update(-picked.clamp(LOG_LOSS_EPS, 1.0).log())

    def compute(self) -> dict[str, float]:
        """{"macro_acc", "acc", "log_loss", "n"} over every update since the last reset
        (``n``: the clips counted, over all ranks)."""
        cm = self.confusion.compute().cpu().numpy().astype(np.int64)
        n = cm.sum(axis=1)
        present = n > 0
        total = int(n.sum())
        return {
            # the mean of per-class recalls over the classes with a clip, as macro_accuracy
            "macro_acc": float(np.mean(np.diag(cm)[present] / n[present]))
            if present.any()
            else float("nan"),
            "acc": float(np.trace(cm) / total) if total else float("nan"),
            "log_loss": float(self.nll.compute()),
            "n": float(total),
        }

    def reset(self) -> None:
        self.confusion.reset()
        self.nll.reset()

"""The LightningModule: RGASC + the relation prior + eq. 8, trained with Adam.

Lightning lives here and in :mod:`rgasc.train.data` / :mod:`rgasc.train.runner` only; the
model and the losses are plain PyTorch.

Logged (CSV and TensorBoard, per epoch): ``train/loss`` and every term
``train/loss_{scene,s_by_event,event,e_by_scene}``, ``train/acc``; for each validation loader
(``val``, plus ``test`` when selecting on test) the same loss terms and ``{split}/macro_acc``
(the paper's Acc), ``{split}/acc`` and ``{split}/log_loss``, computed at epoch end with
:mod:`rgasc.evaluate.metrics` on the predictions of the whole split.
"""

from __future__ import annotations

from typing import Any

import lightning as L
import numpy as np
import torch
from torch import Tensor

from rgasc.evaluate.metrics import log_loss, macro_accuracy, overall_accuracy
from rgasc.models import RGASC, RelationPrior
from rgasc.train.losses import TERMS, LossConfig, total_loss

Batch = tuple[Tensor, Tensor, Tensor]  # x [B, T, F], scene ids [B], event targets [B, E]


class RGASCModule(L.LightningModule):
    """Trains an :class:`RGASC` network with the four losses.

    Args:
        model: the two-tower network (already initialised: He-uniform or CNN14).
        prior: R_SE as a :class:`RelationPrior` (a parameter with ``learn_relation``).
        loss_config: lambdas and relation options.
        lr: Adam learning rate.
        val_splits: names of the validation loaders, in order (e.g. ``["val"]`` or
            ``["test", "val"]``); metrics are logged under these prefixes.
        compile: wrap the forward in ``torch.compile`` (the state dict keeps plain keys).
        channels_last: convert the network to NHWC when training on CUDA (tensor-core
            friendly convolutions; ignored on CPU, where NHWC is often slower).
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
    ) -> None:
        super().__init__()
        self.model = model
        self.prior = prior
        self.loss_config = loss_config
        self.lr = lr
        self.val_splits = list(val_splits or ["val"])
        self.channels_last = channels_last
        self.n_scenes = model.cfg.n_scenes
        self.save_hyperparameters(
            {
                "model": model.cfg.to_dict(),
                "loss": loss_config.to_dict(),
                "lr": lr,
                "learn_relation": prior.learn,
                "val_splits": self.val_splits,
            }
        )
        # Kept outside the module tree (object.__setattr__): a registered compiled wrapper would
        # duplicate every key of the state dict under "_compiled._orig_mod.".
        object.__setattr__(self, "_compiled", torch.compile(self.model) if compile else None)
        self._val_outputs: dict[int, list[tuple[Tensor, Tensor]]] = {}

    def on_fit_start(self) -> None:
        # NHWC pays off with cuDNN/tensor cores; on CPU it is often slower, so GPU only
        if self.channels_last and self.device.type == "cuda":
            self.model.to(memory_format=torch.channels_last)  # type: ignore[call-overload]

    def forward(self, x: Tensor) -> Any:
        """x [B, T, F] standardised log-mel -> :class:`rgasc.models.TwoTowerOutput`."""
        compiled = self.__dict__.get("_compiled")
        return compiled(x) if compiled is not None else self.model(x)

    def _losses(self, batch: Batch) -> tuple[dict[str, Tensor], Tensor]:
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
        losses, logits = self._losses(batch)
        b = batch[0].shape[0]
        self._log_losses("train", losses, b)
        acc = (logits.detach().argmax(dim=1) == batch[1]).float().mean()
        self.log("train/acc", acc, on_step=False, on_epoch=True, batch_size=b, sync_dist=True)
        return losses["loss"]

    def configure_optimizers(self) -> torch.optim.Optimizer:
        # self.parameters() includes a learnable R_SE (RelationPrior.raw) when there is one.
        return torch.optim.Adam(self.parameters(), lr=self.lr)

    # --- validation -----------------------------------------------------------------------
    def on_validation_epoch_start(self) -> None:
        self._val_outputs = {}

    def validation_step(self, batch: Batch, batch_idx: int, dataloader_idx: int = 0) -> None:
        losses, logits = self._losses(batch)
        split = self.val_splits[dataloader_idx]
        self._log_losses(split, losses, batch[0].shape[0])
        # Kept on the device until epoch end: no host sync per step.
        probs = torch.softmax(logits.float(), dim=1)
        self._val_outputs.setdefault(dataloader_idx, []).append((probs, batch[1]))

    def on_validation_epoch_end(self) -> None:
        for idx, outputs in sorted(self._val_outputs.items()):
            probs = torch.cat([p for p, _ in outputs])
            target = torch.cat([t for _, t in outputs])
            if self.trainer.world_size > 1:
                # every rank gets every prediction (DistributedSampler may repeat a few clips
                # to even out the shards; the effect on the metric is negligible)
                probs = _gathered(self.all_gather(probs))
                target = _gathered(self.all_gather(target))
            p = probs.cpu().numpy().astype(np.float64)
            y = target.cpu().numpy()
            pred = p.argmax(axis=1)
            split = self.val_splits[idx]
            metrics = {
                f"{split}/macro_acc": macro_accuracy(y, pred, self.n_scenes),
                f"{split}/acc": overall_accuracy(y, pred),
                f"{split}/log_loss": log_loss(y, p),
            }
            # values are identical on every rank already; sync_dist keeps Lightning's DDP
            # bookkeeping consistent
            self.log_dict(metrics, sync_dist=True, add_dataloader_idx=False)
        self._val_outputs = {}


def _gathered(x: Any) -> Tensor:
    """(world, N, ...) from ``all_gather`` -> (world * N, ...)."""
    assert isinstance(x, Tensor)
    return x.flatten(0, 1)

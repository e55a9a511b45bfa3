"""The LightningModule's split metrics: torchmetrics states, our metric definitions."""

from __future__ import annotations

import lightning as L
import numpy as np
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

from rgasc.models import RGASC, ModelConfig, RelationPrior
from rgasc.scoring.metrics import log_loss, macro_accuracy, overall_accuracy
from rgasc.train.algorithms.losses import LossConfig
from rgasc.train.loop.module import RGASCModule, SplitMetrics

K, E = 4, 3


def _probs(rng: np.random.Generator, n: int) -> torch.Tensor:
    logits = torch.from_numpy(rng.normal(size=(n, K)) * 3).float()
    return torch.softmax(logits, dim=1)


def test_split_metrics_equal_evaluate_metrics_on_the_concatenation() -> None:
    rng = np.random.default_rng(0)
    m = SplitMetrics(K)
    m.nll.set_dtype(torch.float64)
    probs, targets = [], []
    for b in (5, 7, 1, 6):  # uneven batches
        p = _probs(rng, b)
        # class 3 is never a target (it may still be predicted): left out of the macro mean
        y = torch.from_numpy(rng.integers(0, K - 1, b))
        m.update(p, y)
        probs.append(p)
        targets.append(y)
    p_all = torch.cat(probs).numpy().astype(np.float64)
    y_all = torch.cat(targets).numpy()
    pred = p_all.argmax(axis=1)
    assert (pred == K - 1).any()  # the case where torchmetrics' own macro average differs
    got = m.compute()
    assert got["macro_acc"] == macro_accuracy(y_all, pred, K)
    assert got["acc"] == overall_accuracy(y_all, pred)
    assert got["log_loss"] == pytest.approx(log_loss(y_all, p_all), rel=1e-12)
    m.reset()
    m.update(torch.eye(K)[:2], torch.tensor([0, 1]))
    assert m.compute()["macro_acc"] == 1.0  # reset forgot the earlier batches


def test_logged_validation_metrics_equal_evaluate_metrics(tmp_path) -> None:
    torch.manual_seed(0)
    model = RGASC(ModelConfig(n_scenes=K, n_events=E, width=1 / 16, n_mels=64))
    module = RGASCModule(
        model, RelationPrior(torch.rand(K, E)), LossConfig(), val_splits=["val", "test"]
    )
    # the metric states stay out of the state dict: checkpoints are unchanged
    assert not [k for k in module.state_dict() if "split_metrics" in k]
    loaders, data = [], []
    for n in (10, 7):
        x = torch.randn(n, 40, 64)
        y = torch.randint(0, K, (n,))
        target = torch.rand(n, E)
        data.append((x, y))
        loaders.append(DataLoader(TensorDataset(x, y, target), batch_size=3))
    trainer = L.Trainer(
        accelerator="cpu",
        devices=1,
        logger=False,
        enable_progress_bar=False,
        enable_model_summary=False,
        default_root_dir=tmp_path,
    )
    # the second pass swaps the loaders: its numbers are of the new data only, so the
    # states were emptied in between
    for order in ([0, 1], [1, 0]):
        logged = trainer.validate(module, dataloaders=[loaders[i] for i in order], verbose=False)
        module.eval()
        for split, i in zip(["val", "test"], order, strict=True):
            x, y = data[i]
            with torch.no_grad():
                p = torch.softmax(module(x).scene_logits.float(), dim=1).numpy().astype(np.float64)
            yn, pred = y.numpy(), p.argmax(1)
            got = logged[0]  # logged values are float32
            assert got[f"{split}/macro_acc"] == pytest.approx(macro_accuracy(yn, pred, K), abs=1e-7)
            assert got[f"{split}/acc"] == pytest.approx(overall_accuracy(yn, pred), abs=1e-7)
            assert got[f"{split}/log_loss"] == pytest.approx(log_loss(yn, p), rel=1e-6)

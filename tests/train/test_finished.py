"""``--resume`` on a finished run says so and scores nothing again (issue 24, item 6); epochs
are counted from 1 where a person reads them (item 4)."""

from __future__ import annotations

from pathlib import Path

import lightning as L
import pytest
import torch
from torch.utils.data import DataLoader, TensorDataset

import rgasc.train.runner
from helpers.training import TinyInputs, tiny_config
from rgasc.errors import RgascWarning
from rgasc.train.loop.session import EpochBar, epoch_label, epochs_done, finished_message
from rgasc.train.runner import finished, train
from rgasc.utils import read_json


def test_resume_of_a_finished_run_says_so_and_rescores_nothing(
    tiny_inputs: TinyInputs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = tiny_config(tiny_inputs, tmp_path / "run", {"optim.epochs": 1})
    run = train(cfg)
    m = read_json(run / "metrics.json")
    assert (m["selected_epoch"], m["best_epoch"], m["epochs_trained"]) == (1, 0, 1)
    assert epochs_done(run / "checkpoints" / "last.ckpt") == 1
    before = (run / "metrics.json").read_bytes()

    def no_scoring(*a: object, **k: object) -> None:
        raise AssertionError("the test split was scored again")

    with monkeypatch.context() as mp:
        mp.setattr(rgasc.train.runner, "_scores", no_scoring)
        msg = finished(cfg)
        assert msg is not None and str(run / "metrics.json") in msg
        assert "finished after 1 epochs" in msg and "--resume --out" in msg
        assert "--epochs N` with N > 1" in msg and "\n" not in msg
        with pytest.warns(RgascWarning, match="finished after 1 epochs"):
            assert train(cfg, resume=True) == run
        assert finished(cfg.replace(optim=cfg.optim.replace(epochs=1))) == msg
    assert (run / "metrics.json").read_bytes() == before
    # asking for more epochs trains them and scores the new weights
    longer = cfg.replace(optim=cfg.optim.replace(epochs=2))
    assert finished(longer) is None
    train(longer, resume=True)
    assert read_json(run / "metrics.json")["epochs_trained"] == 2


def test_a_run_trained_on_after_its_metrics_is_not_finished(tmp_path: Path) -> None:
    """metrics.json of 2 epochs, last.ckpt of 3 (a longer session interrupted): score again."""
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    torch.save({"epoch": 2}, run / "checkpoints" / "last.ckpt")
    (run / "metrics.json").write_text('{"epochs_trained": 2}')
    assert finished_message(run, 3) is None
    (run / "metrics.json").write_text('{"epochs_trained": 3}')
    assert "finished after 3 epochs" in str(finished_message(run, 3))
    assert finished_message(run, 4) is None  # more epochs: training goes on
    assert finished_message(tmp_path / "none", 1) is None


def test_epoch_labels_count_from_one() -> None:
    assert epoch_label(0, 3) == "Epoch 1/3" and epoch_label(2, 3) == "Epoch 3/3"
    assert epoch_label(4, None) == "Epoch 5"


class _Toy(L.LightningModule):
    def __init__(self) -> None:
        super().__init__()
        self.w = torch.nn.Linear(2, 1)

    def training_step(self, batch: list[torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self.w(batch[0]).pow(2).mean()

    def configure_optimizers(self) -> torch.optim.Optimizer:
        return torch.optim.SGD(self.parameters(), lr=0.1)


def test_the_progress_bar_shows_epochs_from_one(tmp_path: Path) -> None:
    seen: list[str] = []
    bar = EpochBar()

    class Spy(L.Callback):
        def on_train_batch_end(self, *args: object) -> None:
            seen.append(bar.train_progress_bar.desc)

    trainer = L.Trainer(
        max_epochs=2,
        callbacks=[bar, Spy()],
        logger=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        accelerator="cpu",
        default_root_dir=tmp_path,
    )
    trainer.fit(_Toy(), DataLoader(TensorDataset(torch.ones(4, 2)), batch_size=4))
    assert [d.split(":")[0] for d in seen] == ["Epoch 1/2", "Epoch 2/2"]

"""Exact resume: a run stopped at an epoch boundary and resumed equals the uninterrupted run.

Deterministic mode on the CPU: metrics.json (but its wall time), the selected epoch, the
per-epoch training log and every tensor of best.pt are equal, not just close.
"""

from __future__ import annotations

import csv
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import torch

from helpers.training import TinyInputs, tiny_config
from rgasc.errors import Interrupted
from rgasc.train.loop.module import RGASCModule
from rgasc.train.loop.reproducible import EpochClock, EpochRandomSampler, epoch_seed
from rgasc.train.runner import train
from rgasc.utils import read_json

EPOCHS = {"optim.epochs": 3, "runtime.deterministic": True, "seed": 7}


def _metrics(run: Path) -> dict[str, Any]:
    m = read_json(run / "metrics.json")
    for k in ("train_seconds", "run", "config_digest"):  # wall time; the path (and its hash)
        m.pop(k)
    return m


def _log(run: Path) -> list[tuple[str, str, str]]:
    with open(run / "logs" / "metrics.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    return sorted((r["epoch"], r.get("train/loss", ""), r.get("val/macro_acc", "")) for r in rows)


def assert_same_run(a: Path, b: Path) -> None:
    assert _metrics(a) == _metrics(b)
    assert _log(a) == _log(b)
    sa = torch.load(a / "checkpoints" / "best.pt", weights_only=True)["state_dict"]
    sb = torch.load(b / "checkpoints" / "best.pt", weights_only=True)["state_dict"]
    assert sa.keys() == sb.keys()
    for k in sa:
        assert torch.equal(sa[k], sb[k]), k


@pytest.fixture(scope="module")
def reference(tiny_inputs: TinyInputs, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The uninterrupted deterministic 3-epoch run."""
    return train(tiny_config(tiny_inputs, tmp_path_factory.mktemp("ref") / "run", EPOCHS))


def _stop_at(monkeypatch: pytest.MonkeyPatch, epoch: int, exc: BaseException) -> None:
    """Make the next run raise ``exc`` when training epoch ``epoch`` (0-based) starts."""

    def hook(self: RGASCModule) -> None:
        if self.trainer.current_epoch == epoch:
            raise exc

    monkeypatch.setattr(RGASCModule, "on_train_epoch_start", hook, raising=False)


def test_epoch_order_depends_on_seed_and_epoch_only() -> None:
    clock = EpochClock()
    sampler = EpochRandomSampler(range(20), seed=3, clock=clock)
    first = list(sampler)
    clock.epoch = 1
    second = list(sampler)
    assert sorted(first) == list(range(20)) and first != second
    clock.epoch = 0
    assert list(sampler) == first  # no history: epoch 0 again gives epoch 0's order
    assert epoch_seed(1, 2) != epoch_seed(2, 1)  # seeds do not share epochs


def test_killed_after_epoch_1_and_resumed_equals_the_uninterrupted_run(
    tiny_inputs: TinyInputs, reference: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    cfg = tiny_config(tiny_inputs, tmp_path / "run", EPOCHS)
    with monkeypatch.context() as m:
        _stop_at(m, 1, RuntimeError("killed"))
        with pytest.raises(RuntimeError, match="killed"):
            train(cfg)
    assert (tmp_path / "run" / "checkpoints" / "last.ckpt").is_file()
    assert not (tmp_path / "run" / "metrics.json").exists()
    assert_same_run(reference, train(cfg, resume=True))


@pytest.mark.slow
def test_ctrl_c_says_what_was_kept_and_its_command_continues_exactly(
    tiny_inputs: TinyInputs, reference: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from rgasc.cli import main

    run = tmp_path / "run with space"
    with monkeypatch.context() as m:
        _stop_at(m, 2, KeyboardInterrupt())
        with pytest.raises(Interrupted) as info:
            train(tiny_config(tiny_inputs, run, EPOCHS))
    msg = str(info.value)
    assert "after epoch 2 of 3" in msg and "last.ckpt" in msg
    command = msg.split("`")[1]
    assert command.startswith("rgasc train --resume --out ")
    # run the suggestion exactly as printed (the CLI exits 0 when it finishes)
    with pytest.raises(SystemExit) as done:
        main(shlex.split(command)[1:] + ["--no-progress-bar"])
    assert done.value.code in (0, None)
    assert_same_run(reference, run)


def test_ctrl_c_in_the_first_epoch_says_to_start_again(
    tiny_inputs: TinyInputs, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    _stop_at(monkeypatch, 0, KeyboardInterrupt())
    with pytest.raises(Interrupted, match="nothing was kept; run the same `rgasc train`"):
        train(tiny_config(tiny_inputs, tmp_path / "run", {"optim.epochs": 1}))
    monkeypatch.undo()
    train(tiny_config(tiny_inputs, tmp_path / "run", {"optim.epochs": 1}))  # the advice works


_CHILD = """
import sys
sys.path[:0] = [{tests!r}]
from pathlib import Path
from helpers.training import TinyInputs, tiny_config
from rgasc.train.runner import train
inputs = TinyInputs(*map(Path, {paths!r}))
train(tiny_config(inputs, Path({run!r}), {changes!r}), resume={resume!r})
"""


def _child(inputs: TinyInputs, run: Path, resume: bool = False) -> subprocess.Popen[bytes]:
    """A fresh process training ``run``: every session of this test starts alike (a process
    that ran other tests may differ in thread count or library state)."""
    paths = [str(p) for p in (inputs.dataset, inputs.features, inputs.labels, inputs.relation)]
    code = _CHILD.format(
        tests=str(Path(__file__).parents[1]),
        paths=paths,
        run=str(run),
        changes=EPOCHS,
        resume=resume,
    )
    env = {**os.environ, "PYTHONPATH": str(Path(__file__).parents[2] / "src")}
    return subprocess.Popen([sys.executable, "-c", code], env=env, stderr=subprocess.DEVNULL)


@pytest.mark.slow
def test_sigkill_during_training_then_resume_equals_the_uninterrupted_run(
    tiny_inputs: TinyInputs, tmp_path: Path
) -> None:
    reference, run = tmp_path / "reference", tmp_path / "run"
    assert _child(tiny_inputs, reference).wait() == 0
    child = _child(tiny_inputs, run)
    last = run / "checkpoints" / "last.ckpt"
    deadline = time.monotonic() + 240
    while not last.is_file() and child.poll() is None and time.monotonic() < deadline:
        time.sleep(0.01)
    child.send_signal(signal.SIGKILL)  # no handler, no teardown: as `kill -9`
    child.wait()
    assert last.is_file() and not (run / "metrics.json").exists()
    assert _child(tiny_inputs, run, resume=True).wait() == 0
    assert_same_run(reference, run)

"""EMA and SWA arithmetic on tiny modules, against hand-computed averages."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from rgasc.train.algorithms.averaging import EmaWeights, SwaWeights, ema_decay_at, ema_update_


def _net(w: float, bias: float = 0.0) -> nn.Sequential:
    lin = nn.Linear(1, 1)
    with torch.no_grad():
        lin.weight.fill_(w)
        lin.bias.fill_(bias)
    return nn.Sequential(lin, nn.BatchNorm1d(1))


def _set(net: nn.Sequential, w: float, running_mean: float, batches: int) -> None:
    with torch.no_grad():
        net[0].weight.fill_(w)
        net[1].running_mean.fill_(running_mean)
        net[1].num_batches_tracked.fill_(batches)


def test_ema_decay_warmup() -> None:
    assert ema_decay_at(1, 0.999) == pytest.approx(2 / 11)
    assert ema_decay_at(8, 0.999) == pytest.approx(0.5)
    assert ema_decay_at(8991, 0.999) == pytest.approx(0.999)
    assert ema_decay_at(100000, 0.999) == 0.999
    assert ema_decay_at(1, 0.9, warmup=False) == 0.9


def test_ema_update_in_place() -> None:
    a, b = torch.tensor([1.0, 2.0]), torch.tensor([3.0, 6.0])
    ema_update_([a], [b], 0.75)
    torch.testing.assert_close(a, torch.tensor([1.5, 3.0]))  # 0.75 * a + 0.25 * b


def test_ema_weights_after_k_steps_equal_the_hand_computed_average() -> None:
    net = _net(1.0)
    ema = EmaWeights(net, decay=0.5, warmup=False)  # avg_0 = w_0 = 1
    for w, rm, n in ((2.0, 10.0, 1), (4.0, 20.0, 2), (0.0, 0.0, 3)):
        _set(net, w, rm, n)
        ema.update(net)
    # 1 -> 0.5*1 + 0.5*2 = 1.5 -> 0.5*1.5 + 0.5*4 = 2.75 -> 0.5*2.75 + 0 = 1.375
    assert ema.module[0].weight.item() == pytest.approx(1.375)
    assert ema.updates == 3
    # BN running mean averaged like a weight (0 -> 5 -> 12.5 -> 6.25); batch count copied
    assert ema.module[1].running_mean.item() == pytest.approx(6.25)
    assert ema.module[1].num_batches_tracked.item() == 3
    # the source is untouched and the copy does not track gradients
    assert net[0].weight.item() == 0.0 and not ema.module[0].weight.requires_grad


def test_ema_with_warmup_and_state_round_trip() -> None:
    net = _net(1.0)
    ema = EmaWeights(net, decay=0.9)
    _set(net, 2.0, 0.0, 1)
    ema.update(net)  # d_1 = min(0.9, 2/11): 2/11 * 1 + 9/11 * 2 = 20/11
    assert ema.module[0].weight.item() == pytest.approx(20 / 11)
    _set(net, 0.0, 0.0, 2)
    ema.update(net)  # d_2 = 3/12 = 0.25: 0.25 * 20/11
    assert ema.module[0].weight.item() == pytest.approx(5 / 11)
    again = EmaWeights(_net(7.0), decay=0.9)
    again.load_state_dict(ema.state_dict())
    assert again.updates == 2 and again.module[0].weight.item() == pytest.approx(5 / 11)


def test_swa_is_the_equal_weight_mean_and_bn_is_recomputed() -> None:
    net = _net(1.0, bias=1.0)
    swa = SwaWeights(net)
    assert swa.updates == 0
    for w in (1.0, 2.0, 6.0):
        _set(net, w, 0.0, 0)
        swa.update(net)
    assert swa.updates == 3
    assert swa.module[0].weight.item() == pytest.approx(3.0)  # (1 + 2 + 6) / 3
    assert swa.module[0].bias.item() == pytest.approx(1.0)
    # BN statistics of the averaged weights: y = 3 x + 1 over the data x = 0..3
    x = torch.arange(4.0).reshape(4, 1)
    batches = [(x[:2], torch.zeros(2)), (x[2:], torch.zeros(2))]
    swa.recompute_bn(batches, swa.module[0:2])
    y = 3 * x + 1  # mean 5.5; update_bn: cumulative mean of the batch statistics
    assert swa.module[1].running_mean.item() == pytest.approx(y.mean().item())
    assert not swa.module.training
    # reset starts a new window: the next update copies the weights
    swa.reset()
    _set(net, 10.0, 0.0, 0)
    swa.update(net)
    assert swa.updates == 1 and swa.module[0].weight.item() == pytest.approx(10.0)
    again = SwaWeights(_net(0.0))
    again.load_state_dict(swa.state_dict())
    assert again.updates == 1 and again.module[0].weight.item() == pytest.approx(10.0)

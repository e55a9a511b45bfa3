"""Batch augmentations (rgasc.train.algorithms.augment), the lr schedule and the soft-target scene
loss,
on hand-made tensors."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from rgasc.errors import ConfigError, LabelSpaceError
from rgasc.train.algorithms.augment import (
    BatchAugment,
    crop_time,
    draw_bands,
    draw_mix,
    draw_shifts,
    draw_starts,
    freq_mixstyle,
    mask_bands,
    mixup,
    roll_time,
)
from rgasc.train.algorithms.losses import scene_loss
from rgasc.train.algorithms.schedule import build_optimizer, lr_at, warmup_steps
from rgasc.train.config.recipes import AugmentConfig
from rgasc.train.config.tree import OptimConfig

B, T, F, K, E = 6, 40, 16, 3, 4


def _batch(seed: int = 0) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(B, T, F, generator=g) * 2 + 1
    scene = torch.tensor([0, 1, 2, 0, 1, 2])
    events = torch.rand(B, E, generator=g)
    return x, scene, events


# --- mixup ------------------------------------------------------------------------------------
def test_mixup_arithmetic_on_hand_made_targets() -> None:
    x = torch.tensor([[[1.0, 2.0]], [[3.0, 6.0]]])  # [B=2, T=1, F=2]
    scene = torch.tensor([[1.0, 0.0, 0.0], [0.0, 1.0, 0.0]])
    events = torch.tensor([[1.0, 0.0], [0.0, 0.5]])
    lam, perm = torch.tensor([0.75, 0.6]), torch.tensor([1, 0])
    mx, ms, me = mixup(x, scene, events, lam, perm)
    torch.testing.assert_close(mx, torch.tensor([[[1.5, 3.0]], [[2.2, 4.4]]]))
    torch.testing.assert_close(ms, torch.tensor([[0.75, 0.25, 0.0], [0.4, 0.6, 0.0]]))
    torch.testing.assert_close(me, torch.tensor([[0.75, 0.125], [0.4, 0.3]]))
    # lam = 1: the batch itself
    one = mixup(x, scene, events, torch.ones(2), perm)
    for a, b in zip(one, (x, scene, events), strict=True):
        torch.testing.assert_close(a, b)


def test_draw_mix_is_seeded_and_a_permutation() -> None:
    a = draw_mix(np.random.default_rng(3), 8, 0.3)
    b = draw_mix(np.random.default_rng(3), 8, 0.3)
    np.testing.assert_array_equal(a[0], b[0])
    np.testing.assert_array_equal(a[1], b[1])
    assert sorted(a[1]) == list(range(8)) and ((a[0] >= 0) & (a[0] <= 1)).all()


# --- Freq-MixStyle ----------------------------------------------------------------------------
def test_freq_mixstyle_mixes_the_band_statistics() -> None:
    x, _, _ = _batch()
    perm = torch.tensor([1, 2, 3, 4, 5, 0])
    # lam = 1 (or the clip paired with itself): the clip unchanged
    torch.testing.assert_close(freq_mixstyle(x, torch.ones(B), perm), x, rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(
        freq_mixstyle(x, torch.full((B,), 0.3), torch.arange(B)), x, rtol=1e-5, atol=1e-5
    )
    lam = torch.tensor([0.0, 0.2, 0.5, 0.7, 0.9, 1.0])
    out = freq_mixstyle(x, lam, perm)
    assert out.shape == x.shape and torch.isfinite(out).all()
    mu, sig = x.mean(1), x.std(1)  # [B, F]
    w = lam[:, None]
    # each clip's per-band mean is the mixed mean exactly, its std the mixed std
    torch.testing.assert_close(out.mean(1), w * mu + (1 - w) * mu[perm], rtol=1e-5, atol=1e-5)
    torch.testing.assert_close(out.std(1), w * sig + (1 - w) * sig[perm], rtol=1e-4, atol=1e-4)
    # lam = 0: clip 0 takes clip 1's statistics entirely
    torch.testing.assert_close(out[0].mean(0), mu[1], rtol=1e-5, atol=1e-5)
    # the batch's overall statistics stay in range: band means between the clips' extremes,
    # overall mean and std close to the input's
    lo, hi = mu.min(0).values, mu.max(0).values
    assert ((out.mean(1) >= lo - 1e-5) & (out.mean(1) <= hi + 1e-5)).all()
    assert abs(float(out.mean() - x.mean())) < 0.1 * float(x.std())
    assert 0.8 < float(out.std() / x.std()) < 1.2


# --- masks, roll, crop ------------------------------------------------------------------------
def test_masks_stay_within_their_limits() -> None:
    rng = np.random.default_rng(0)
    starts, widths = draw_bands(rng, 200, 2, 5, F)
    assert starts.shape == widths.shape == (200, 2)
    assert (widths >= 0).all() and (widths <= 5).all() and (starts + widths <= F).all()
    assert widths.max() == 5 and widths.min() == 0  # both ends reachable
    x, _, _ = _batch()
    s, w = draw_bands(np.random.default_rng(1), B, 2, 5, F)
    out = mask_bands(x, torch.as_tensor(s), torch.as_tensor(w), dim=2)
    assert out.shape == x.shape
    for b in range(B):
        hit = np.zeros(F, bool)
        for k in range(2):
            hit[s[b, k] : s[b, k] + w[b, k]] = True
        assert (out[b][:, hit] == 0).all() and hit.sum() <= 2 * 5
        torch.testing.assert_close(out[b][:, ~hit], x[b][:, ~hit], rtol=0, atol=0)
    # time masks: whole frames
    out = mask_bands(x, torch.tensor([[2]] * B), torch.tensor([[3]] * B), dim=1)
    assert (out[:, 2:5] == 0).all() and torch.equal(out[:, :2], x[:, :2])
    assert torch.equal(out[:, 5:], x[:, 5:])


def test_roll_and_crop_hand_values() -> None:
    x = torch.arange(2 * 5 * 1, dtype=torch.float32).reshape(2, 5, 1)  # frames 0..4, 5..9
    out = roll_time(x, torch.tensor([1, -2]))
    assert out[0, :, 0].tolist() == [4, 0, 1, 2, 3] and out[1, :, 0].tolist() == [7, 8, 9, 5, 6]
    assert torch.equal(roll_time(x, torch.zeros(2, dtype=torch.long)), x)
    out = crop_time(x, torch.tensor([0, 2]), 3)
    assert out.shape == (2, 3, 1)
    assert out[0, :, 0].tolist() == [0, 1, 2] and out[1, :, 0].tolist() == [7, 8, 9]
    shifts = draw_shifts(np.random.default_rng(0), 500, 4)
    assert shifts.min() == -4 and shifts.max() == 4
    starts = draw_starts(np.random.default_rng(0), 500, 15, T)
    assert starts.min() == 0 and starts.max() == T - 15


# --- the module -------------------------------------------------------------------------------
ALL_ON = AugmentConfig(
    mixup_alpha=0.3,
    mixstyle_p=1.0,
    freq_masks=1,
    freq_mask_width=4,
    time_masks=2,
    time_mask_width=3,
    time_roll=2,
    time_crop=32,
)


def test_batch_augment_off_is_the_identity() -> None:
    x, scene, events = _batch()
    aug = BatchAugment(AugmentConfig(), K, seed=0)
    out = aug(x, scene, events, step=5)
    assert all(a is b for a, b in zip(out, (x, scene, events), strict=True))
    assert not list(aug.parameters()) and not aug.state_dict()
    assert "off" in repr(aug)
    with pytest.raises(ConfigError, match="time_crop=16"):
        BatchAugment(AugmentConfig(time_crop=16), K)


def test_batch_augment_is_seeded_and_keeps_shapes() -> None:
    x, scene, events = _batch()
    aug = BatchAugment(ALL_ON, K, seed=7)
    a = aug(x, scene, events, step=3)
    b = BatchAugment(ALL_ON, K, seed=7)(x, scene, events, step=3)
    for u, v in zip(a, b, strict=True):
        torch.testing.assert_close(u, v, rtol=0, atol=0)
    assert not torch.equal(aug(x, scene, events, step=4)[0], a[0])  # another step
    assert not torch.equal(aug(x, scene, events, step=3, rank=1)[0], a[0])  # another rank
    assert not torch.equal(BatchAugment(ALL_ON, K, seed=8)(x, scene, events, step=3)[0], a[0])
    mx, ms, me = a
    assert mx.shape == (B, 32, F) and ms.shape == (B, K) and me.shape == events.shape
    torch.testing.assert_close(ms.sum(1), torch.ones(B))
    assert (ms.argmax(1) == scene).all() or (ms.max(1).values == 0.5).any()  # own label leads
    assert ((me >= 0) & (me <= 1)).all() and torch.isfinite(mx).all()
    # without mixup the scene targets stay class ids (the paper's hard-target loss)
    no_mix = BatchAugment(ALL_ON.replace(mixup_alpha=0.0), K)(x, scene, events, step=0)
    assert torch.equal(no_mix[1], scene) and torch.equal(no_mix[2], events)


def test_batch_augment_runs_on_the_batch_device() -> None:
    dev = "cuda" if torch.cuda.is_available() else "cpu"
    x, scene, events = (t.to(dev) for t in _batch())
    out = BatchAugment(ALL_ON, K, seed=1)(x, scene, events, step=0)
    assert all(t.device.type == dev for t in out)
    cpu = BatchAugment(ALL_ON, K, seed=1)(*(t.cpu() for t in (x, scene, events)), step=0)
    torch.testing.assert_close(out[1].cpu(), cpu[1])  # the same draws on any device


# --- schedule ---------------------------------------------------------------------------------
def test_lr_at_chosen_steps() -> None:
    # 91 steps, 10 of warm-up: the decay spans steps 10..90, r = (step - 10) / 80
    kw = {"lr": 1.0, "total_steps": 91, "warmup_steps": 10}
    # 1) warm-up: linear, the last warm-up step at lr
    assert lr_at(0, **kw, schedule="cosine") == pytest.approx(0.1)
    assert lr_at(4, **kw, schedule="cosine") == pytest.approx(0.5)
    assert lr_at(9, **kw, schedule="cosine") == pytest.approx(1.0)
    # 2) constant after the warm-up
    assert lr_at(50, **kw) == 1.0 and lr_at(500, **kw) == 1.0
    # 4) cosine from lr (step 10) to the floor (step 90)
    cos = {**kw, "schedule": "cosine", "floor": 0.01}
    assert lr_at(10, **cos) == pytest.approx(1.0)
    assert lr_at(30, **cos) == pytest.approx(0.01 + 0.99 * (1 + math.cos(math.pi / 4)) / 2)
    assert lr_at(50, **cos) == pytest.approx(0.01 + 0.99 * 0.5)
    # 3) the last step and past it: the floor
    assert lr_at(90, **cos) == pytest.approx(0.01) and lr_at(130, **cos) == pytest.approx(0.01)
    lin = {**kw, "schedule": "linear", "floor": 0.0}
    assert lr_at(50, **lin) == pytest.approx(0.5) and lr_at(70, **lin) == pytest.approx(0.25)
    assert lr_at(3, lr=2e-3, total_steps=5, schedule="constant") == 2e-3  # the paper
    assert lr_at(0, lr=1.0, total_steps=1, schedule="cosine", floor=0.1) == pytest.approx(0.1)
    assert warmup_steps(1000, 0.05) == 50
    with pytest.raises(ValueError, match="schedule"):
        lr_at(20, **kw, schedule="step")


def test_build_optimizer_paper_adamw_and_the_scheduler() -> None:
    params = [torch.nn.Parameter(torch.ones(2))]
    opt, sched = build_optimizer(params, OptimConfig())
    assert type(opt) is torch.optim.Adam and sched is None
    assert opt.defaults["weight_decay"] == 0 and opt.defaults["lr"] == 1e-3
    cfg = OptimConfig(
        optimizer="adamw", weight_decay=1e-4, schedule="cosine", warmup=0.1, lr_floor=0.01
    )
    opt, sched = build_optimizer(params, cfg, total_steps=20)
    assert type(opt) is torch.optim.AdamW and opt.defaults["weight_decay"] == 1e-4
    assert sched is not None
    seen = []
    for _ in range(20):
        seen.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    want = [
        lr_at(s, lr=1e-3, total_steps=20, warmup_steps=2, schedule="cosine", floor=0.01)
        for s in range(20)
    ]
    np.testing.assert_allclose(seen, want, rtol=1e-12)
    assert seen[1] == pytest.approx(1e-3) and seen[-1] == pytest.approx(1e-5)
    with pytest.raises(ValueError, match="steps"):
        build_optimizer(params, cfg)


# --- the scene loss on soft targets -----------------------------------------------------------
def test_scene_loss_soft_targets_and_label_smoothing() -> None:
    logits = torch.tensor([[2.0, 0.0, -1.0], [0.5, 1.5, 0.0]])
    ids = torch.tensor([0, 1])
    onehot = torch.nn.functional.one_hot(ids, 3).float()
    torch.testing.assert_close(scene_loss(logits, onehot), scene_loss(logits, ids))
    # a mixed target is the weighted sum of the two hard losses
    lam = torch.tensor([0.7, 0.6])
    soft = lam[:, None] * onehot + (1 - lam[:, None]) * onehot[[1, 0]]
    logp = torch.log_softmax(logits, 1)
    want = -(lam * logp[[0, 1], [0, 1]] + (1 - lam) * logp[[0, 1], [1, 0]]).mean()
    torch.testing.assert_close(scene_loss(logits, soft), want)
    # label smoothing eps: target (1 - eps) one-hot + eps / K
    eps = 0.1
    smooth = (1 - eps) * onehot + eps / 3
    want = -(smooth * logp).sum(1).mean()
    torch.testing.assert_close(scene_loss(logits, ids, eps), want)
    torch.testing.assert_close(scene_loss(logits, onehot, eps), want)
    with pytest.raises(LabelSpaceError, match="soft scene targets"):
        scene_loss(logits, torch.ones(2, 4) / 4)

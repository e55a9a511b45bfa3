"""The lr schedule on resume and the parameters weight decay skips (issue 24, item 5)."""

from __future__ import annotations

import pytest
import torch

from rgasc.models import RGASC, ModelConfig, RelationPrior
from rgasc.train.algorithms.losses import LossConfig
from rgasc.train.algorithms.schedule import (
    PlannedLr,
    build_optimizer,
    decay_exempt,
    param_groups,
    planned_steps,
)
from rgasc.train.config.tree import OptimConfig
from rgasc.train.loop.module import RGASCModule

COSINE = OptimConfig(optimizer="adamw", schedule="cosine", lr=1e-3, lr_floor=0.01)


def _lrs(opt: torch.optim.Optimizer, sched: torch.optim.lr_scheduler.LRScheduler, n: int) -> list:
    seen = []
    for _ in range(n):
        seen.append(opt.param_groups[0]["lr"])
        opt.step()
        sched.step()
    return seen


def test_a_resumed_longer_run_keeps_the_planned_schedule() -> None:
    """2 -> 4 epochs of 3 steps: the second session continues the 6-step plan, at the floor,
    instead of restarting a 12-step cosine (which jumped from 1e-5 back to 5.1e-4)."""
    p = torch.nn.Parameter(torch.ones(2))
    opt, sched = build_optimizer([p], COSINE, total_steps=6)
    assert sched is not None
    first = _lrs(opt, sched, 6)
    assert first[-1] == pytest.approx(1e-5)
    state = {"opt": opt.state_dict(), "sched": sched.state_dict()}
    # the resumed session: built for the new length, then restored (as Lightning does)
    opt2, sched2 = build_optimizer([p], COSINE, total_steps=12)
    assert sched2 is not None
    opt2.load_state_dict(state["opt"])
    sched2.load_state_dict(state["sched"])
    assert planned_steps(sched2) == 6
    assert _lrs(opt2, sched2, 6) == pytest.approx([1e-5] * 6)


def test_an_interrupted_run_resumes_on_the_same_curve() -> None:
    p = torch.nn.Parameter(torch.ones(2))
    opt, sched = build_optimizer([p], COSINE, total_steps=10)
    assert sched is not None
    whole = _lrs(opt, sched, 10)
    opt, sched = build_optimizer([p], COSINE, total_steps=10)
    assert sched is not None
    head = _lrs(opt, sched, 4)
    opt2, sched2 = build_optimizer([p], COSINE, total_steps=10)
    assert sched2 is not None
    opt2.load_state_dict(opt.state_dict())
    sched2.load_state_dict(sched.state_dict())
    assert head + _lrs(opt2, sched2, 6) == pytest.approx(whole, rel=1e-12)


def test_the_saved_plan_is_plain_data() -> None:
    """Lightning loads last.ckpt with weights_only=True: the plan must be ints/floats/str."""
    opt, sched = build_optimizer([torch.nn.Parameter(torch.ones(1))], COSINE, total_steps=8)
    assert sched is not None
    saved = sched.state_dict()["lr_lambdas"]
    assert saved == [{"total_steps": 8, "warmup_steps": 0, "schedule": "cosine", "floor": 0.01}]
    assert all(type(v) in (int, float, str) for v in saved[0].values())
    assert PlannedLr(**saved[0])(7) == pytest.approx(0.01)
    assert planned_steps(None) is None


def _module(optim: OptimConfig) -> RGASCModule:
    torch.manual_seed(0)
    model = RGASC(ModelConfig(n_scenes=3, n_events=4, width=1 / 16, shared_blocks=2))
    prior = RelationPrior(torch.rand(3, 4), learn=True)
    return RGASCModule(model, prior, LossConfig(), optim=optim)


def _groups(module: RGASCModule) -> list[dict]:
    opt = module.configure_optimizers()
    assert isinstance(opt, torch.optim.Optimizer)  # constant lr: no scheduler, no trainer
    return opt.param_groups


def _decay_of(groups: list[dict]) -> dict[int, float]:
    return {id(p): g["weight_decay"] for g in groups for p in g["params"]}


def test_weight_decay_skips_the_relation_matrix_norms_and_biases() -> None:
    module = _module(OptimConfig(optimizer="adamw", weight_decay=1e-4))
    decay = _decay_of(_groups(module))
    m = module.model
    assert decay[id(module.prior.raw)] == 0.0
    assert decay[id(m.shared[0].bn1.weight)] == 0.0 and decay[id(m.shared[0].bn1.bias)] == 0.0
    assert decay[id(m.scene_out.bias)] == 0.0 and decay[id(m.scene_fc1.bias)] == 0.0
    assert decay[id(m.scene_out.weight)] == 1e-4 and decay[id(m.shared[0].conv1.weight)] == 1e-4
    assert len(decay) == len(list(module.parameters()))  # every parameter, once


def test_a_decayed_step_leaves_the_exempt_parameters_alone() -> None:
    module = _module(OptimConfig(optimizer="adamw", weight_decay=0.1, lr=0.5))
    opt = module.configure_optimizers()
    before = {n: p.detach().clone() for n, p in module.named_parameters()}
    for p in module.parameters():
        p.grad = torch.zeros_like(p)  # no gradient: only weight decay moves a parameter
    opt.step()
    after = dict(module.named_parameters())
    exempt = {id(p) for p in decay_exempt(module)}
    for name, p in after.items():
        moved = not torch.equal(before[name], p.detach())
        assert moved == (id(p) not in exempt and bool(before[name].abs().sum() > 0)), name
    assert torch.equal(before["prior.raw"], after["prior.raw"].detach())


def test_stage_lr_scale_and_freeze_shared_groups_still_hold() -> None:
    cfg = OptimConfig(optimizer="adamw", weight_decay=1e-4, stage_lr_scale=0.1, freeze_shared=True)
    module = _module(cfg)
    groups = _groups(module)
    assert [(g["lr"], g["weight_decay"]) for g in groups] == [
        (1e-4, 1e-4),
        (1e-4, 0.0),
        (1e-3, 1e-4),
        (1e-3, 0.0),
    ]
    ids = {id(p) for g in groups for p in g["params"]}
    assert not ids & {id(p) for p in module.model.shared.parameters()}  # frozen: left out
    stage = {id(p) for g in groups[:2] for p in g["params"]}
    assert id(module.model.scene_tower[0].conv1.weight) in stage
    assert id(module.prior.raw) in {id(p) for p in groups[3]["params"]}


def test_without_weight_decay_the_groups_are_as_before() -> None:
    """The paper's Adam: one group over every parameter, nothing split."""
    module = _module(OptimConfig())
    (group,) = _groups(module)
    assert len(group["params"]) == len(list(module.parameters()))
    p = [torch.nn.Parameter(torch.ones(1))]
    assert param_groups(p, [], OptimConfig(), no_decay=p) == [{"params": p}]

"""The optimiser and the per-step learning rate: warm-up, then constant, cosine or linear decay.

:func:`lr_at` is a pure function of the step; :func:`build_optimizer` turns an
``OptimConfig`` into the optimiser and, when the lr changes over the run, a per-step
``LambdaLR``. The paper's settings (Adam, constant lr, no warm-up) give a bare
``torch.optim.Adam`` and no scheduler, so the paper's runs carry no trace of these options.

On resume the schedule keeps the length it was planned with: the first session's optimiser
steps (:class:`PlannedLr` is saved in every checkpoint with the scheduler's state). A run made
longer with ``--resume --epochs M`` therefore continues the planned curve, and trains the steps
past its end at the floor (case 3 of :func:`lr_at`); the lr never jumps back up. To decay over
more epochs, start a new run with them.

Weight decay (:func:`param_groups`) skips what it must not shrink towards 0: biases, the
normalisation layers' scales and shifts, and a learned relation matrix (its raw parameter at 0
is softplus(0) = 0.69, not an empty relation).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterable
from typing import Any

import torch
from torch import nn

from rgasc.models import RelationPrior
from rgasc.train.config.recipes import Optimizer, Schedule
from rgasc.train.config.tree import OptimConfig


def warmup_steps(total_steps: int, warmup: float) -> int:
    """Steps of the warm-up: ``warmup`` (a fraction) of ``total_steps``, rounded."""
    return round(warmup * total_steps)


def lr_at(
    step: int,
    *,
    lr: float,
    total_steps: int,
    warmup_steps: int = 0,
    schedule: str = Schedule.CONSTANT.value,
    floor: float = 0.0,
) -> float:
    """The learning rate of optimiser step ``step`` (0-based).

    1. ``step < warmup_steps``: linear warm-up, ``lr * (step + 1) / warmup_steps`` (the last
       warm-up step reaches ``lr``).
    2. ``schedule == "constant"``: ``lr``.
    3. ``step >= total_steps - 1``: the floor, ``floor * lr`` (the last step, and any after it
       when a resumed run trains past the steps it was planned for).
    4. in between, with ``r = (step - warmup_steps) / (total_steps - 1 - warmup_steps)`` from 0
       to 1: ``floor * lr + (1 - floor) * lr * c(r)``, ``c = (1 + cos(pi r)) / 2`` (cosine)
       or ``1 - r`` (linear).

    Args:
        lr: the peak learning rate. total_steps: optimiser steps of the whole run.
        warmup_steps: steps of the warm-up (0 = none). schedule: "constant", "cosine" or
            "linear". floor: the final lr as a fraction of ``lr``.
    """
    if step < warmup_steps:
        return lr * (step + 1) / warmup_steps
    if schedule == Schedule.CONSTANT:
        return lr
    if schedule not in (Schedule.COSINE, Schedule.LINEAR):
        raise ValueError(f"schedule must be constant, cosine or linear, not {schedule!r}")
    span = total_steps - 1 - warmup_steps
    if step >= total_steps - 1 or span <= 0:
        return floor * lr
    r = (step - warmup_steps) / span
    c = 0.5 * (1.0 + math.cos(math.pi * r)) if schedule == Schedule.COSINE else 1.0 - r
    return floor * lr + (1.0 - floor) * lr * c


class PlannedLr:
    """``lr_at`` as the multiplier of the base lr that ``LambdaLR`` wants (lr = 1), with the
    plan it was made for as plain attributes.

    ``LambdaLR.state_dict`` stores a callable object's ``__dict__`` (a function's or a
    ``functools.partial``'s arguments are not stored), so a checkpoint carries the planned
    ``total_steps`` and a resumed session's ``load_state_dict`` puts it back over the length the
    new session computed from its own epochs. Plain ints, floats and a str: Lightning loads
    checkpoints with ``weights_only=True``.
    """

    def __init__(self, total_steps: int, warmup_steps: int, schedule: str, floor: float) -> None:
        self.total_steps = int(total_steps)
        self.warmup_steps = int(warmup_steps)
        self.schedule = str(schedule)
        self.floor = float(floor)

    def __call__(self, step: int) -> float:
        return lr_at(
            step,
            lr=1.0,
            total_steps=self.total_steps,
            warmup_steps=self.warmup_steps,
            schedule=self.schedule,
            floor=self.floor,
        )


def planned_steps(scheduler: torch.optim.lr_scheduler.LRScheduler | None) -> int | None:
    """The optimiser steps a scheduler of :func:`build_optimizer` was planned for (after a
    resume: the first session's), or None when there is no such plan."""
    fns = getattr(scheduler, "lr_lambdas", None) or []
    plans = [f.total_steps for f in fns if isinstance(f, PlannedLr)]
    return plans[0] if plans else None


def needs_scheduler(cfg: OptimConfig) -> bool:
    """Whether the lr changes over the run (a warm-up or a decay)."""
    return cfg.warmup > 0 or cfg.schedule != Schedule.CONSTANT


#: Modules whose own parameters weight decay skips: the normalisation layers (a scale pulled
#: towards 0 silences a channel) and the relation prior (R_SE is data, not a weight to shrink).
_NO_DECAY_MODULES = (
    nn.modules.batchnorm._NormBase,
    nn.LayerNorm,
    nn.GroupNorm,
    RelationPrior,
)


def decay_exempt(module: nn.Module) -> list[nn.Parameter]:
    """The parameters of ``module`` that weight decay must skip: every bias, the parameters of
    normalisation layers, and a learned relation matrix (:class:`RelationPrior` ``raw``)."""
    out: dict[int, nn.Parameter] = {}
    for m in module.modules():
        for name, p in m.named_parameters(recurse=False):
            if name == "bias" or isinstance(m, _NO_DECAY_MODULES):
                out[id(p)] = p
    return list(out.values())


def param_groups(
    stages: Iterable[nn.Parameter],
    others: Iterable[nn.Parameter],
    cfg: OptimConfig,
    no_decay: Iterable[nn.Parameter] = (),
) -> list[dict[str, Any]]:
    """Optimiser parameter groups: the backbone's stages at ``stage_lr_scale`` x lr, the rest
    (heads, a learned R_SE) at lr; frozen parameters (``requires_grad`` False) left out.

    One group when the scale is 1 (the paper's single Adam over every parameter). With
    ``cfg.weight_decay > 0`` each group is split in two, the ``no_decay`` parameters
    (:func:`decay_exempt`) going to a copy with ``weight_decay`` 0 placed right after it; the
    first group stays the stages' (or the only) group, whose lr the training log shows.
    """
    stages = [p for p in stages if p.requires_grad]
    others = [p for p in others if p.requires_grad]
    if cfg.stage_lr_scale == 1.0:
        groups: list[dict[str, Any]] = [{"params": stages + others}]
    else:
        groups = [
            {"params": stages, "lr": cfg.lr * cfg.stage_lr_scale},
            {"params": others, "lr": cfg.lr},
        ]
    exempt = {id(p) for p in no_decay}
    if cfg.weight_decay == 0 or not exempt:
        return groups  # no decay to skip: the groups as they always were
    split: list[dict[str, Any]] = []
    for g in groups:
        split.append({**g, "params": [p for p in g["params"] if id(p) not in exempt]})
        split.append(
            {**g, "params": [p for p in g["params"] if id(p) in exempt], "weight_decay": 0.0}
        )
    return split


def build_optimizer(
    params: Iterable[nn.Parameter] | list[dict[str, Any]],
    cfg: OptimConfig,
    total_steps: int | None = None,
) -> tuple[torch.optim.Optimizer, torch.optim.lr_scheduler.LambdaLR | None]:
    """The optimiser of ``cfg`` and its per-step scheduler (None for a constant lr).

    Args:
        params: the parameters (a learnable R_SE included), or groups of them
            (:func:`param_groups`: a group's own ``lr`` is its peak; the schedule scales each).
        cfg: optimiser, lr, weight decay and schedule.
        total_steps: optimiser steps of the run; needed when :func:`needs_scheduler`. On
            resume, the plan saved in the checkpoint replaces it (:class:`PlannedLr`).
    """
    items: list[Any] = list(params)
    if cfg.optimizer == Optimizer.ADAMW:
        opt: torch.optim.Optimizer = torch.optim.AdamW(
            items, lr=cfg.lr, weight_decay=cfg.weight_decay
        )
    elif cfg.weight_decay > 0:
        opt = torch.optim.Adam(items, lr=cfg.lr, weight_decay=cfg.weight_decay)
    else:
        opt = torch.optim.Adam(items, lr=cfg.lr)  # the paper's optimiser: no extra arguments
    if not needs_scheduler(cfg):
        return opt, None
    if total_steps is None or total_steps < 1:
        raise ValueError(f"a {cfg.schedule} schedule needs the run's steps, got {total_steps}")
    fn = PlannedLr(total_steps, warmup_steps(total_steps, cfg.warmup), cfg.schedule, cfg.lr_floor)
    # one lambda per group (a copy each): LambdaLR restores each group's own saved plan
    fns: list[Callable[[int], float]] = [PlannedLr(**vars(fn)) for _ in opt.param_groups]
    return opt, torch.optim.lr_scheduler.LambdaLR(opt, fns)

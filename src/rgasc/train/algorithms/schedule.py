"""The optimiser and the per-step learning rate: warm-up, then constant, cosine or linear decay.

:func:`lr_at` is a pure function of the step; :func:`build_optimizer` turns an
``OptimConfig`` into the optimiser and, when the lr changes over the run, a per-step
``LambdaLR``. The paper's settings (Adam, constant lr, no warm-up) give a bare
``torch.optim.Adam`` and no scheduler, so the paper's runs carry no trace of these options.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Iterable
from typing import Any

import torch
from torch import nn

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


def _factor(step: int, **kwargs: Any) -> float:
    """``lr_at`` as the multiplier of the base lr that ``LambdaLR`` wants (lr = 1)."""
    return lr_at(step, lr=1.0, **kwargs)


def needs_scheduler(cfg: OptimConfig) -> bool:
    """Whether the lr changes over the run (a warm-up or a decay)."""
    return cfg.warmup > 0 or cfg.schedule != Schedule.CONSTANT


def param_groups(
    stages: Iterable[nn.Parameter], others: Iterable[nn.Parameter], cfg: OptimConfig
) -> list[dict[str, Any]]:
    """Optimiser parameter groups: the backbone's stages at ``stage_lr_scale`` x lr, the rest
    (heads, a learned R_SE) at lr; frozen parameters (``requires_grad`` False) left out.

    One group when the scale is 1 (the paper's single Adam over every parameter)."""
    stages = [p for p in stages if p.requires_grad]
    others = [p for p in others if p.requires_grad]
    if cfg.stage_lr_scale == 1.0:
        return [{"params": stages + others}]
    return [
        {"params": stages, "lr": cfg.lr * cfg.stage_lr_scale},
        {"params": others, "lr": cfg.lr},
    ]


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
        total_steps: optimiser steps of the run; needed when :func:`needs_scheduler`.
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
    fn = functools.partial(
        _factor,
        total_steps=total_steps,
        warmup_steps=warmup_steps(total_steps, cfg.warmup),
        schedule=cfg.schedule,
        floor=cfg.lr_floor,
    )
    return opt, torch.optim.lr_scheduler.LambdaLR(opt, fn)

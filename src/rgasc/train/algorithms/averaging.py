"""Weight averaging: an exponential moving average (EMA) and stochastic weight averaging (SWA).

Plain PyTorch (the Lightning side is :mod:`rgasc.train.loop.callbacks`). Both keep an averaged copy
of a module (the network and the relation prior, so that a learned R_SE is averaged too):

- :class:`EmaWeights`: after optimiser step k (1-based), ``avg <- d_k avg + (1 - d_k) w_k``,
  starting from the initial weights (``avg_0 = w_0``), with ``d_k = decay`` or, with warm-up,
  ``min(decay, (1 + k) / (10 + k))`` (:func:`ema_decay_at`). BatchNorm's running mean and
  variance are averaged the same way (floating buffers); integer buffers (BN's
  ``num_batches_tracked``) are copied.
- :class:`SwaWeights`: ``torch.optim.swa_utils.AveragedModel``, the equal-weight mean of the
  weights given to :meth:`SwaWeights.update` (once per epoch, at its end); BatchNorm
  statistics are then recomputed for the averaged weights with ``update_bn`` over the
  training data (:meth:`SwaWeights.recompute_bn`): averaged running statistics do not match
  averaged weights.
"""

from __future__ import annotations

import copy
from collections.abc import Iterable, Sequence
from typing import Any

import torch
from torch import Tensor, nn
from torch.optim.swa_utils import AveragedModel, update_bn


def ema_decay_at(step: int, decay: float, warmup: bool = True) -> float:
    """The decay used by EMA update number ``step`` (1-based).

    ``min(decay, (1 + step) / (10 + step))`` with warm-up (TensorFlow's
    ``ExponentialMovingAverage(num_updates=...)``): 2/11 at step 1, 0.5 at step 8, ``decay``
    from step ``(10 d - 1) / (1 - d)`` on (8991 for 0.999).
    """
    return min(decay, (1.0 + step) / (10.0 + step)) if warmup else decay


@torch.no_grad()
def ema_update_(avg: Sequence[Tensor], new: Sequence[Tensor], decay: float) -> None:
    """In place, for each pair: ``avg <- decay * avg + (1 - decay) * new`` (float tensors)."""
    if avg:
        torch._foreach_lerp_(list(avg), list(new), 1.0 - decay)


def _float_and_int(module: nn.Module) -> tuple[list[Tensor], list[Tensor]]:
    """(parameters and floating buffers, integer buffers) of a module, in a fixed order."""
    floats = [p.detach() for p in module.parameters()]
    ints: list[Tensor] = []
    for b in module.buffers():
        (floats if b.is_floating_point() else ints).append(b.detach())
    return floats, ints


class EmaWeights:
    """An exponential moving average of a module's weights and BN statistics.

    Args:
        source: the trained module (its structure is copied, its weights are ``avg_0``).
        decay, warmup: see :func:`ema_decay_at`.
    """

    tag = "ema"

    def __init__(self, source: nn.Module, decay: float = 0.999, warmup: bool = True) -> None:
        self.module = copy.deepcopy(source).eval().requires_grad_(False)
        self.decay = decay
        self.warmup = warmup
        self.updates = 0

    @torch.no_grad()
    def update(self, source: nn.Module) -> None:
        """One EMA step from the source's current weights (call after each optimiser step)."""
        self.updates += 1
        d = ema_decay_at(self.updates, self.decay, self.warmup)
        avg_f, avg_i = _float_and_int(self.module)
        new_f, new_i = _float_and_int(source)
        ema_update_(avg_f, [t.to(a.device, a.dtype) for a, t in zip(avg_f, new_f, strict=True)], d)
        for a, t in zip(avg_i, new_i, strict=True):
            a.copy_(t)

    def state_dict(self) -> dict[str, Any]:
        return {"module": self.module.state_dict(), "updates": self.updates}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.module.load_state_dict(state["module"])
        self.updates = int(state["updates"])


class SwaWeights:
    """Stochastic weight averaging of a module (``AveragedModel``, equal weights).

    Args:
        source: the trained module (structure copied; nothing averaged until :meth:`update`).
    """

    tag = "swa"

    def __init__(self, source: nn.Module) -> None:
        self.averaged = AveragedModel(source)
        self.averaged.eval().requires_grad_(False)

    @property
    def module(self) -> nn.Module:
        """The averaged copy of the source (same class and state-dict keys)."""
        m = self.averaged.module
        assert isinstance(m, nn.Module)
        return m

    @property
    def updates(self) -> int:
        return int(self.averaged.n_averaged.item())

    def reset(self) -> None:
        """Forget the average: the next :meth:`update` copies the weights (a new window)."""
        self.averaged.n_averaged.zero_()

    @torch.no_grad()
    def update(self, source: nn.Module) -> None:
        """Add the source's current weights to the mean."""
        self.averaged.update_parameters(source)

    @torch.no_grad()
    def recompute_bn(
        self, batches: Iterable[Any], forward: nn.Module | None = None, device: Any = None
    ) -> None:
        """BatchNorm statistics of the averaged weights from one pass over ``batches``.

        Args:
            batches: training batches (tensors, or tuples whose first item is the input).
            forward: the part of :attr:`module` that takes the input (default the module).
            device: where to move each input.
        """
        update_bn(batches, forward if forward is not None else self.module, device=device)
        self.module.eval()

    def state_dict(self) -> dict[str, Any]:
        return {"module": self.averaged.state_dict()}

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.averaged.load_state_dict(state["module"])

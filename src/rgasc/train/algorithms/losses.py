"""The four RGASC losses (paper eq. 4-7) and their weighted sum (eq. 8).

Pure functions of tensors; B clips, K scenes, E events, R the (K, E) scene-event relation
matrix R_SE. Every term is computed in float32 with autocast switched off, so a bf16/fp16
forward pass still gets full-precision losses (the 527-term sums of the relation losses lose
digits in bf16).

The two relation losses have two documented options:

``space``
    ``"prob"`` (the paper): the scene prediction is ``p = softmax(scene_logits)``.
    ``"log"`` (the authors' public code): it is ``log_softmax(scene_logits)`` instead, in both
    relation losses (so the "predicted events" ``log_softmax @ R`` are <= 0 and the scene
    side of eq. 7 is a log-probability).
``grad``
    ``"paper"``: the reference side of each loss is detached, so eq. 6 (event_by_scene, whose
    reference is the event output) trains only the scene side (scene tower, shared blocks, a
    learnable R) and eq. 7 (scene_by_event, reference = scene output) trains only the event
    side. ``"both"`` (the authors' code): nothing detached; both towers get both gradients.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Literal

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rgasc.errors import LabelSpaceError
from rgasc.models.two_tower import RelationPrior, TwoTowerOutput

# the config lives in the (torch-free) config tree; re-exported for the losses' users
from rgasc.train.config.tree import PAPER_LAMBDAS, LossConfig, RelationGrad, RelationSpace

Space = Literal["prob", "log"]
Grad = Literal["paper", "both"]
__all__ = [
    "PAPER_LAMBDAS",
    "TERMS",
    "LossConfig",
    "RGASCLoss",
    "event_by_scene_loss",
    "event_loss",
    "scene_by_event_loss",
    "scene_loss",
    "total_loss",
]
#: Keys of :func:`total_loss`'s result besides "loss", in the order of eq. 8's lambdas.
TERMS = ("scene", "s_by_event", "event", "e_by_scene")


@contextlib.contextmanager
def _fp32(device: torch.device) -> Iterator[None]:
    """Switch autocast off for ``device`` (a no-op where autocast does not exist)."""
    if device.type in ("cpu", "cuda", "xpu", "mps", "hpu"):
        with torch.autocast(device_type=device.type, enabled=False):
            yield
    else:
        yield


def scene_loss(scene_logits: Tensor, target: Tensor, label_smoothing: float = 0.0) -> Tensor:
    """Eq. 4, cross entropy of the scene prediction, against hard or soft targets.

    Soft targets (mixup's mixed one-hots) give ``-sum_k t_k log softmax(z)_k``, which equals
    the mixup-weighted sum of the two hard losses; class ids take PyTorch's hard-target path,
    so the paper's loss is computed exactly as before.

    Args:
        scene_logits: (B, K) pre-softmax scores.
        target: (B,) int64 class ids, or (B, K) class probabilities (rows sum to 1).
        label_smoothing: mixes the target with the uniform distribution (0 = none).

    Returns:
        Scalar, mean over the batch.
    """
    with _fp32(scene_logits.device):
        if target.dim() == 1:
            return F.cross_entropy(
                scene_logits.float(), target.long(), label_smoothing=label_smoothing
            )
        if target.shape != scene_logits.shape:
            raise LabelSpaceError(
                f"soft scene targets {tuple(target.shape)} do not match the scene output "
                f"{tuple(scene_logits.shape)}"
            )
        return F.cross_entropy(
            scene_logits.float(), target.float(), label_smoothing=label_smoothing
        )


def event_loss(event_logits: Tensor, target: Tensor) -> Tensor:
    """Eq. 5, binary cross entropy against the (soft) pseudo-labels.

    Computed from logits (``binary_cross_entropy_with_logits``): stable, and autocast-safe.

    Args:
        event_logits: (B, E) pre-sigmoid scores.
        target: (B, E) targets in [0, 1] (teacher probabilities or 0/1).

    Returns:
        Scalar, mean over B * E.
    """
    if target.shape != event_logits.shape:
        raise LabelSpaceError(
            f"event targets {tuple(target.shape)} do not match the event output "
            f"{tuple(event_logits.shape)}: the pseudo-labels and the model disagree on the events"
        )
    with _fp32(event_logits.device):
        return F.binary_cross_entropy_with_logits(event_logits.float(), target.float())


def _scene_side(scene_logits: Tensor, space: str) -> Tensor:
    """(B, K) softmax ("prob") or log-softmax ("log") of the scene logits, float32."""
    if space == "prob":
        return torch.softmax(scene_logits.float(), dim=-1)
    if space == "log":
        return torch.log_softmax(scene_logits.float(), dim=-1)
    raise ValueError(f"space must be one of {tuple(RelationSpace)}, not {space!r}")


def _check_relation(scene_logits: Tensor, event_probs: Tensor, R: Tensor, grad: str) -> None:
    if grad not in tuple(RelationGrad):
        raise ValueError(f"grad must be one of {tuple(RelationGrad)}, not {grad!r}")
    k, e = scene_logits.shape[-1], event_probs.shape[-1]
    if R.dim() != 2 or tuple(R.shape) != (k, e):
        raise LabelSpaceError(
            f"relation matrix has shape {tuple(R.shape)} but the model has {k} scenes and "
            f"{e} events: build R_SE with the same dataset and teacher as the model"
        )


def event_by_scene_loss(
    scene_logits: Tensor,
    event_probs: Tensor,
    R: Tensor,
    space: Space = "prob",
    grad: Grad = "paper",
) -> Tensor:
    """Eq. 6: the scene prediction mapped to event space should match the event output.

    ``y_e_tilde = s @ R`` with ``s = softmax(scene_logits)`` (``space="prob"``) or
    ``log_softmax(scene_logits)`` (``"log"``); loss ``= mean((event_probs - y_e_tilde)**2)``.
    ``grad="paper"`` detaches ``event_probs`` (the reference), so this trains the scene side.

    Args:
        scene_logits: (B, K). event_probs: (B, E) sigmoid outputs. R: (K, E).

    Returns:
        Scalar, mean over B * E.
    """
    _check_relation(scene_logits, event_probs, R, grad)
    with _fp32(scene_logits.device):
        y_e_tilde = _scene_side(scene_logits, space) @ R.float()  # (B, E)
        ref = event_probs.float()
        if grad == "paper":
            ref = ref.detach()
        return F.mse_loss(y_e_tilde, ref)


def scene_by_event_loss(
    scene_logits: Tensor,
    event_probs: Tensor,
    R: Tensor,
    space: Space = "prob",
    grad: Grad = "paper",
) -> Tensor:
    """Eq. 7: the event output mapped to scene space should match the scene prediction.

    ``y_s_tilde = event_probs @ R.T`` (B, K), not normalised (a sum over E events); loss
    ``= mean((s - y_s_tilde)**2)`` with ``s = softmax(scene_logits)`` (``"prob"``) or
    ``log_softmax(scene_logits)`` (``"log"``, the authors' ``MSE(inferred_scene,
    log_softmax(scene))``). ``grad="paper"`` detaches ``s`` (the reference), so this trains
    the event side.

    Args:
        scene_logits: (B, K). event_probs: (B, E) sigmoid outputs. R: (K, E).

    Returns:
        Scalar, mean over B * K.
    """
    _check_relation(scene_logits, event_probs, R, grad)
    with _fp32(scene_logits.device):
        y_s_tilde = event_probs.float() @ R.float().t()  # (B, K)
        ref = _scene_side(scene_logits, space)
        if grad == "paper":
            ref = ref.detach()
        return F.mse_loss(y_s_tilde, ref)


def total_loss(
    out: TwoTowerOutput,
    scene_target: Tensor,
    event_target: Tensor,
    R: Tensor,
    cfg: LossConfig,
) -> dict[str, Tensor]:
    """Eq. 8: ``l1 L_scene + l2 L_s_by_event + l3 L_event + l4 L_e_by_scene``.

    Args:
        out: the model output (scene_logits (B, K), event_logits/event_probs (B, E)).
        scene_target: (B,) int64 scene ids, or (B, K) soft targets (mixup).
        event_target: (B, E) pseudo-labels in [0, 1] (mixed alike under mixup).
        R: (K, E) relation matrix (``RelationPrior.matrix``).
        cfg: weights, relation options and the scene loss's label smoothing. The relation
            losses use no targets: they are the same under mixup.

    Returns:
        ``{"loss", "scene", "event", "e_by_scene", "s_by_event"}``: the weighted sum and the
        unweighted terms, all scalars. A term whose lambda is 0 is not computed: its entry is a
        constant 0 with no graph, and it adds nothing to ``loss``.
    """
    l1, l2, l3, l4 = cfg.lambdas
    space: Space = "log" if cfg.relation_space == "log" else "prob"
    grad: Grad = "both" if cfg.relation_grad == "both" else "paper"
    terms = {
        "scene": (
            l1,
            lambda: scene_loss(out.scene_logits, scene_target, cfg.label_smoothing),
        ),
        "s_by_event": (
            l2,
            lambda: scene_by_event_loss(out.scene_logits, out.event_probs, R, space, grad),
        ),
        "event": (l3, lambda: event_loss(out.event_logits, event_target)),
        "e_by_scene": (
            l4,
            lambda: event_by_scene_loss(out.scene_logits, out.event_probs, R, space, grad),
        ),
    }
    result: dict[str, Tensor] = {}
    loss: Tensor | None = None
    for name, (lam, fn) in terms.items():
        if lam == 0:
            result[name] = torch.zeros((), device=out.scene_logits.device)
            continue
        value = fn()
        result[name] = value
        loss = lam * value if loss is None else loss + lam * value
    assert loss is not None  # LossConfig guarantees one positive lambda
    return {"loss": loss, **result}


class RGASCLoss(nn.Module):
    """Module wrapper of :func:`total_loss` that owns the relation prior.

    Args:
        cfg: loss weights and options.
        relation: a :class:`RelationPrior` (learnable or not) or a (K, E) tensor (wrapped in a
            fixed prior). A learnable prior's parameter is this module's parameter, so give
            ``RGASCLoss.parameters()`` to the optimiser with the model's.

    ``forward(out, scene_target (B,), event_target (B, E))`` -> :func:`total_loss`'s dict.
    """

    def __init__(self, cfg: LossConfig, relation: RelationPrior | Tensor) -> None:
        super().__init__()
        self.cfg = cfg
        self.relation = relation if isinstance(relation, RelationPrior) else RelationPrior(relation)

    def forward(
        self, out: TwoTowerOutput, scene_target: Tensor, event_target: Tensor
    ) -> dict[str, Tensor]:
        return total_loss(out, scene_target, event_target, self.relation.matrix, self.cfg)

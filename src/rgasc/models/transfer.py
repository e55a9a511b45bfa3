"""Transfer learning: copy a CNN14 checkpoint's conv blocks and fc1 into an RGASC."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from rgasc.errors import ArtefactError
from rgasc.models.config import N_BLOCKS
from rgasc.models.two_tower import RGASC
from rgasc.models.yamnet import MobileNetV1


def _targets(model: RGASC, block: int) -> list[nn.Module]:
    """Where CNN14's ``conv_block{block}`` (1-based) lives: one shared block or two tower copies."""
    i = block - 1
    n = len(model.shared)
    if i < n:
        return [model.shared[i]]
    return [model.scene_tower[i - n], model.event_tower[i - n]]


def init_from_cnn14(model: RGASC, state: dict[str, Tensor]) -> list[str]:
    """Copy CNN14's conv blocks and ``fc1`` into an RGASC model, in place.

    ``conv_blockK.*`` goes to block K wherever it lives (the shared block, or both tower
    copies); ``fc1.*`` goes to ``scene_fc1`` and ``event_fc1``. BN running statistics
    (``running_mean``, ``running_var``, ``num_batches_tracked``) are copied too. Other keys
    (front-end, ``bn0``, ``fc_audioset``) are ignored: the output layers keep their init.

    Args:
        model: an :class:`RGASC` at width 1 (CNN14's shapes).
        state: a state dict with the official key names, e.g. from
            ``rgasc.teachers.panns.cnn14_block_state(path)``; a ``module.`` prefix (DataParallel)
            is accepted.

    Returns:
        The official keys copied, sorted.

    Raises:
        ArtefactError: a block or fc1 key is missing, or a shape differs (the model is not at
            width 1).
    """
    state = {k.removeprefix("module."): v for k, v in state.items()}
    copied: list[str] = []
    with torch.no_grad():
        for block in range(1, N_BLOCKS + 1):
            prefix = f"conv_block{block}."
            for target in _targets(model, block):
                copied += _copy(target, state, prefix, model)
        for fc in (model.scene_fc1, model.event_fc1):
            copied += _copy(fc, state, "fc1.", model)
    return sorted(set(copied))


def _copy(target: nn.Module, state: dict[str, Tensor], prefix: str, model: RGASC) -> list[str]:
    """Copy every ``prefix + name`` of ``state`` into ``target``'s parameter/buffer ``name``."""
    own = dict(target.state_dict(keep_vars=True))
    keys: list[str] = []
    for name, dst in own.items():
        key = prefix + name
        if key not in state:
            raise ArtefactError(
                f"CNN14 state dict lacks {key!r}: pass the official CNN14 checkpoint "
                "(rgasc.teachers.panns.cnn14_block_state)"
            )
        src = torch.as_tensor(state[key])
        if tuple(src.shape) != tuple(dst.shape):
            raise ArtefactError(
                f"CNN14 {key!r} has shape {tuple(src.shape)} but the model expects "
                f"{tuple(dst.shape)}: CNN14 initialisation needs width=1 "
                f"(this model has width={model.cfg.width})"
            )
        dst.copy_(src.to(dtype=dst.dtype, device=dst.device))
        keys.append(key)
    return keys


__all__ = ["init_from_cnn14"]


def init_from_yamnet(model: RGASC, net: MobileNetV1, *, event_head: bool) -> list[str]:
    """Copy a YAMNet :class:`~rgasc.models.yamnet.MobileNetV1`'s stages into a yamnet RGASC.

    Stage ``i`` goes wherever it lives (the shared stage, or both tower copies, which therefore
    start equal); with ``event_head``, the classifier (1024 -> 521) becomes the event tower's
    output layer: the event tower then starts as YAMNet itself, predicting the teacher's labels.
    The scene head keeps its initialisation (a new layer).

    Args:
        model: an :class:`RGASC` with ``backbone`` yamnet.
        net: the pretrained network (:func:`rgasc.models.yamnet.pretrained_yamnet`).
        event_head: the event labels are YAMNet's own (the yamnet teacher's), in its order.

    Returns:
        What was copied: ``stage{i}`` names and ``classifier``.

    Raises:
        ArtefactError: the model is not a yamnet RGASC, or the event head's shape differs.
    """
    if model.cfg.backbone != "yamnet":
        raise ArtefactError(f"YAMNet weights go into a yamnet model, not {model.cfg.backbone}")
    stages = net.stages()
    copied: list[str] = []
    n = len(model.shared)
    with torch.no_grad():
        for i, stage in enumerate(stages):
            state = stage.module.state_dict()
            targets = (
                [model.shared[i]]
                if i < n
                else [
                    model.scene_tower[i - n],
                    model.event_tower[i - n],
                ]
            )
            for target in targets:
                target.load_state_dict(state)
            copied.append(f"stage{i}")
        if event_head:
            cls = net.classifier
            if tuple(cls.weight.shape) != tuple(model.event_out.weight.shape):
                raise ArtefactError(
                    f"YAMNet's classifier is {tuple(cls.weight.shape)}, the event head "
                    f"{tuple(model.event_out.weight.shape)}: the events are not YAMNet's 521"
                )
            model.event_out.weight.copy_(cls.weight)
            model.event_out.bias.copy_(cls.bias)
            copied.append("classifier")
    return copied

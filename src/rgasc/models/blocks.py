"""The convolutional block shared by CNN14 (:mod:`rgasc.teachers.panns`) and the RGASC towers.

The attribute names (``conv1``, ``bn1``, ``conv2``, ``bn2``) are CNN14's, so the state dict
of an official ``conv_blockK`` copies into a :class:`ConvBlock` key by key.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn


class ConvBlock(nn.Module):
    """conv3x3 -> BN -> ReLU -> conv3x3 -> BN -> ReLU -> average pool.

    Args:
        cin: input channels.
        cout: output channels.
        pool: average-pooling kernel (= stride) over (time, frequency); ``(1, 1)`` skips the
            pooling, as CNN14's sixth block does.

    Shapes: ``(B, cin, T, F) -> (B, cout, T // pool[0], F // pool[1])``.
    """

    def __init__(self, cin: int, cout: int, pool: tuple[int, int] = (2, 2)) -> None:
        super().__init__()
        # No conv bias: the BatchNorm that follows has its own shift (CNN14 does the same).
        self.conv1 = nn.Conv2d(cin, cout, kernel_size=3, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(cout)
        self.conv2 = nn.Conv2d(cout, cout, kernel_size=3, padding=1, bias=False)
        self.bn2 = nn.BatchNorm2d(cout)
        self.pool: tuple[int, int] = (int(pool[0]), int(pool[1]))
        # Decided once here, so forward has no data-dependent branch (TorchScript/ONNX).
        self.do_pool: bool = self.pool != (1, 1)

    def forward(self, x: Tensor) -> Tensor:
        """``x``: (B, cin, T, F) -> (B, cout, T', F')."""
        x = F.relu(self.bn1(self.conv1(x)))
        x = F.relu(self.bn2(self.conv2(x)))
        if self.do_pool:
            x = F.avg_pool2d(x, kernel_size=self.pool)
        return x

    def extra_repr(self) -> str:
        return f"pool={self.pool}"


def pool_head(x: Tensor) -> Tensor:
    """CNN14's clip pooling: mean over frequency, then max + mean over time.

    ``x``: (B, C, T, F) -> (B, C). Uses reductions only (no ``view``), so it accepts
    channels-last tensors.
    """
    x = torch.mean(x, dim=3)
    return torch.amax(x, dim=2) + torch.mean(x, dim=2)


def he_uniform_(model: nn.Module) -> nn.Module:
    """Initialise in place: He (Kaiming) uniform conv/linear weights, zero biases, BN (1, 0).

    He-uniform with the ReLU gain (``fan_in`` mode) suits the ReLU after every conv and fc1.
    Note: the official PANNs code initialises its layers with Xavier-uniform; BN weights 1 and
    biases 0 are as there. BN running statistics are reset. Returns ``model``.
    """
    for m in model.modules():
        if isinstance(m, nn.Conv2d | nn.Linear):
            nn.init.kaiming_uniform_(m.weight, mode="fan_in", nonlinearity="relu")
            if m.bias is not None:
                nn.init.zeros_(m.bias)
        elif isinstance(m, nn.BatchNorm2d):
            m.reset_running_stats()
            nn.init.ones_(m.weight)
            nn.init.zeros_(m.bias)
    return model

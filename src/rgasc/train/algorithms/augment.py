"""Augmentations of a training batch: mixup, Freq-MixStyle, SpecAugment masks, time roll/crop.

Pure functions of tensors on any device: ``x`` is a batch of standardised log-mel clips
[B, T, F] (frames x mel bands), scene targets are one-hot or soft [B, K], event targets
(pseudo-labels) [B, E]. The random draws (mixup weights, pairings, mask positions, shifts) are
separate functions of a NumPy generator: a few numbers per clip, drawn on the host and copied
to the batch's device, so the arithmetic runs where the batch is (the GPU when training runs
there) and the same seed gives the same draws on any device.

:class:`BatchAugment` (an ``nn.Module`` without parameters or state) applies what an
:class:`~rgasc.train.config.recipes.AugmentConfig` switches on, with a generator seeded from the
run's
seed, the rank and the optimiser step: identical runs draw identically, a resumed run draws
what the uninterrupted one would have, and DDP ranks draw differently.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rgasc.errors import ConfigError
from rgasc.models.two_tower import MIN_FRAMES
from rgasc.train.config.recipes import AugmentConfig

#: Added to the per-band variance of Freq-MixStyle (CP-JKU's value).
MIXSTYLE_EPS = 1e-6


# --- draws ------------------------------------------------------------------------------
def draw_mix(rng: np.random.Generator, batch: int, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Mixing weights [B] from Beta(alpha, alpha) and a random pairing (a permutation) [B]."""
    lam = rng.beta(alpha, alpha, size=batch).astype(np.float32)
    return lam, rng.permutation(batch)


def draw_bands(
    rng: np.random.Generator, batch: int, count: int, max_width: int, size: int
) -> tuple[np.ndarray, np.ndarray]:
    """``count`` masks per clip on an axis of ``size``: starts and widths, each [B, count].

    Widths are uniform in 0..max_width (clipped to ``size``), starts uniform over the
    positions where the mask fits (torchaudio's ``FrequencyMasking``/``TimeMasking`` rule).
    """
    widths = rng.integers(0, min(max_width, size) + 1, size=(batch, count))
    starts = np.floor(rng.random((batch, count)) * (size - widths + 1)).astype(np.int64)
    return starts, widths


def draw_shifts(rng: np.random.Generator, batch: int, max_shift: int) -> np.ndarray:
    """Circular shifts [B], uniform in -max_shift..max_shift frames."""
    return rng.integers(-max_shift, max_shift + 1, size=batch)


def draw_starts(rng: np.random.Generator, batch: int, length: int, size: int) -> np.ndarray:
    """First frame [B] of a window of ``length`` frames in clips of ``size`` frames."""
    return rng.integers(0, size - length + 1, size=batch)


# --- the augmentations ------------------------------------------------------------------
def mixup(
    x: Tensor, scene: Tensor, events: Tensor, lam: Tensor, perm: Tensor
) -> tuple[Tensor, Tensor, Tensor]:
    """Mix each clip with its partner ``perm[i]``: ``lam x_i + (1 - lam) x_perm[i]``.

    The scene targets and the pseudo-labels are mixed with the same weight, so the scene loss
    (cross entropy on soft targets) is the weighted sum of the two clips' losses.

    Args:
        x: [B, T, F]. scene: [B, K] one-hot (or soft) targets. events: [B, E] pseudo-labels.
        lam: [B] weights in [0, 1]. perm: [B] partner indices (int64).

    Returns:
        (x [B, T, F], scene [B, K], events [B, E]).
    """
    w = lam.to(x.dtype)
    mixed = w[:, None, None] * x + (1 - w[:, None, None]) * x[perm]
    ws = lam.to(scene.dtype)[:, None]
    we = lam.to(events.dtype)[:, None]
    return mixed, ws * scene + (1 - ws) * scene[perm], we * events + (1 - we) * events[perm]


def freq_mixstyle(x: Tensor, lam: Tensor, perm: Tensor, eps: float = MIXSTYLE_EPS) -> Tensor:
    """Freq-MixStyle (Schmid et al., DCASE 2022): per clip and mel band, the mean and std over
    time are mixed with those of the partner clip, and the normalised clip is rescaled with
    the mixed statistics.

    ``mu, sig`` [B, 1, F] (sig from the unbiased variance + eps, as CP-JKU's code); the result
    is ``(x - mu) / sig * sig_mix + mu_mix`` with ``mu_mix = lam mu + (1 - lam) mu[perm]``
    (``sig_mix`` alike): each clip's per-band mean becomes ``mu_mix`` exactly.

    Args:
        x: [B, T, F], T >= 2. lam: [B] weights. perm: [B] partner indices.

    Returns:
        [B, T, F].
    """
    mu = x.mean(dim=1, keepdim=True)
    sig = (x.var(dim=1, keepdim=True) + eps).sqrt()
    w = lam.to(x.dtype)[:, None, None]
    mu_mix = w * mu + (1 - w) * mu[perm]
    sig_mix = w * sig + (1 - w) * sig[perm]
    return (x - mu) / sig * sig_mix + mu_mix


def mask_bands(x: Tensor, starts: Tensor, widths: Tensor, dim: int, value: float = 0.0) -> Tensor:
    """Set bands ``[start, start + width)`` of axis ``dim`` (1 = time, 2 = frequency) to
    ``value`` (0: the training mean, the input being standardised).

    Args:
        x: [B, T, F]. starts, widths: [B, n] (n masks per clip, overlaps allowed).

    Returns:
        [B, T, F], a new tensor.
    """
    idx = torch.arange(x.shape[dim], device=x.device)
    hit = (idx >= starts[..., None]) & (idx < (starts + widths)[..., None])  # [B, n, size]
    keep = ~hit.any(dim=1)  # [B, size]
    keep = keep[:, :, None] if dim == 1 else keep[:, None, :]
    return torch.where(keep, x, torch.as_tensor(value, dtype=x.dtype, device=x.device))


def roll_time(x: Tensor, shifts: Tensor) -> Tensor:
    """Circular shift of each clip's frames: ``out[b, t] = x[b, (t - shifts[b]) mod T]``.

    Args:
        x: [B, T, F]. shifts: [B] int64 (positive: later).

    Returns:
        [B, T, F].
    """
    t = x.shape[1]
    src = (torch.arange(t, device=x.device)[None, :] - shifts[:, None]) % t  # [B, T]
    return x.gather(1, src[:, :, None].expand(-1, -1, x.shape[2]))


def crop_time(x: Tensor, starts: Tensor, length: int) -> Tensor:
    """A window of ``length`` frames of each clip, from ``starts[b]``.

    Args:
        x: [B, T, F]. starts: [B] int64, each <= T - length.

    Returns:
        [B, length, F].
    """
    src = starts[:, None] + torch.arange(length, device=x.device)[None, :]  # [B, length]
    return x.gather(1, src[:, :, None].expand(-1, -1, x.shape[2]))


# --- the module -------------------------------------------------------------------------
class BatchAugment(nn.Module):
    """What ``cfg`` switches on, in order: crop, roll, Freq-MixStyle, mixup, masks.

    Args:
        cfg: the augmentation options (all off: :meth:`forward` returns its inputs).
        n_scenes: K, for the one-hot scene targets of mixup.
        seed: the run's seed (with the rank and the step, the seed of every draw).

    Raises:
        ConfigError: a crop shorter than the network's :data:`MIN_FRAMES`.

    ``forward(x [B, T, F], scene [B] ids, events [B, E], step, rank)`` returns the batch:
    scene targets stay ids unless mixup is on (then [B, K] soft targets), so the paper's
    hard-target loss is untouched when mixup is off.
    """

    def __init__(self, cfg: AugmentConfig, n_scenes: int, seed: int = 0) -> None:
        super().__init__()
        if 0 < cfg.time_crop < MIN_FRAMES:
            raise ConfigError(
                f"time_crop={cfg.time_crop}: the network pools 5 times and needs >= "
                f"{MIN_FRAMES} frames"
            )
        self.cfg = cfg
        self.n_scenes = n_scenes
        self.seed = seed

    def generator(self, step: int, rank: int = 0) -> np.random.Generator:
        """The draws' generator of one step (independent of every other step and rank)."""
        return np.random.default_rng([self.seed, rank, step])

    def forward(
        self, x: Tensor, scene: Tensor, events: Tensor, step: int = 0, rank: int = 0
    ) -> tuple[Tensor, Tensor, Tensor]:
        c = self.cfg
        if not c.enabled:
            return x, scene, events
        rng = self.generator(step, rank)
        b, t, f = x.shape
        dev = x.device

        def put(a: np.ndarray) -> Tensor:
            return torch.as_tensor(a, device=dev)

        if 0 < c.time_crop < t:
            x = crop_time(x, put(draw_starts(rng, b, c.time_crop, t)), c.time_crop)
            t = c.time_crop
        if c.time_roll > 0:
            x = roll_time(x, put(draw_shifts(rng, b, c.time_roll)))
        # the coin is tossed on every step (p = 1 too): the later draws never depend on p
        if c.mixstyle_p > 0 and rng.random() < c.mixstyle_p and b > 1 and t > 1:
            lam, perm = draw_mix(rng, b, c.mixstyle_alpha)
            x = freq_mixstyle(x, put(lam), put(perm))
        if c.mixup_alpha > 0:
            lam, perm = draw_mix(rng, b, c.mixup_alpha)
            # the larger weight on the clip itself (EfficientAT): its own label dominates
            lam = np.maximum(lam, 1 - lam)
            onehot = F.one_hot(scene.long(), self.n_scenes).float()
            x, scene, events = mixup(x, onehot, events, put(lam), put(perm))
        if c.freq_masks > 0:
            s, w = draw_bands(rng, b, c.freq_masks, c.freq_mask_width, f)
            x = mask_bands(x, put(s), put(w), dim=2)
        if c.time_masks > 0:
            s, w = draw_bands(rng, b, c.time_masks, c.time_mask_width, t)
            x = mask_bands(x, put(s), put(w), dim=1)
        return x, scene, events

    def extra_repr(self) -> str:
        if not self.cfg.enabled:
            return "off"
        return ", ".join(f"{k}={v}" for k, v in self.cfg.to_dict().items() if v)

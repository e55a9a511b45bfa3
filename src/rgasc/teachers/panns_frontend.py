"""CNN14's front-end in the official checkpoint layout: STFT as a 1-D convolution, log-mel.

The PANNs checkpoints store the front-end as weights: the STFT is a ``Conv1d`` whose kernels
are the windowed DFT basis (``spectrogram_extractor.stft.conv_real.weight`` and
``conv_imag.weight``, shape (n_fft/2+1, 1, n_fft)), and the mel filterbank is a matrix
``logmel_extractor.melW`` of shape (n_fft/2+1, mel_bins). These modules keep exactly that
layout, so ``load_state_dict(ckpt["model"], strict=True)`` takes the files unchanged.

Recipe (TEACHERS.md): periodic Hann window, ``center=True`` with reflect padding, power
spectrogram ``|X|^2``, Slaney mel filters, ``10 * log10(max(mel, 1e-10))`` (ref 1, no top_db).
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from rgasc.features.logmel import mel_filterbank

AMIN = 1e-10  # floor of the mel power before the log: silence maps to -100 dB, not -inf


def periodic_hann(n: int) -> np.ndarray:
    """Periodic ("DFT-even") Hann window of length n, float64: the window of a length-n FFT."""
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * np.arange(n) / n)


def dft_kernels(n_fft: int) -> tuple[np.ndarray, np.ndarray]:
    """Windowed one-sided DFT basis as conv kernels.

    Returns:
        (real, imag), each float32 [n_fft/2+1, 1, n_fft]: ``real[k, 0, n] = w[n] cos(2 pi k n
        / N)`` and ``imag[k, 0, n] = -w[n] sin(2 pi k n / N)``, so convolving frame x gives
        Re and Im of ``rfft(w * x)``.
    """
    n = np.arange(n_fft)
    k = np.arange(n_fft // 2 + 1)
    angle = 2.0 * np.pi * np.outer(k, n) / n_fft  # [bins, n_fft]
    w = periodic_hann(n_fft)
    real = (np.cos(angle) * w)[:, None, :]
    imag = (-np.sin(angle) * w)[:, None, :]
    return real.astype(np.float32), imag.astype(np.float32)


class _ConvStft(nn.Module):
    """Holds ``conv_real``/``conv_imag`` (the official key names)."""

    def __init__(self, n_fft: int, hop: int) -> None:
        super().__init__()
        bins = n_fft // 2 + 1
        self.conv_real = nn.Conv1d(1, bins, n_fft, stride=hop, bias=False)
        self.conv_imag = nn.Conv1d(1, bins, n_fft, stride=hop, bias=False)
        real, imag = dft_kernels(n_fft)
        with torch.no_grad():
            self.conv_real.weight.copy_(torch.from_numpy(real))
            self.conv_imag.weight.copy_(torch.from_numpy(imag))
        # a fixed transform, not learnt (the official model freezes it too)
        for p in self.parameters():
            p.requires_grad_(False)


class Spectrogram(nn.Module):
    """Power spectrogram by strided convolution.

    Input (batch, samples) -> output (batch, 1, frames, n_fft/2+1), frames = 1 + samples // hop
    (``center=True``: the signal is reflect-padded by n_fft/2 on both sides).
    """

    def __init__(self, n_fft: int, hop: int) -> None:
        super().__init__()
        self.n_fft = n_fft
        self.stft = _ConvStft(n_fft, hop)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        pad = self.n_fft // 2
        x = F.pad(x[:, None, :], (pad, pad), mode="reflect")  # (B, 1, samples + n_fft)
        real = self.stft.conv_real(x)  # (B, bins, frames)
        imag = self.stft.conv_imag(x)
        return (real.square() + imag.square()).transpose(1, 2)[:, None]


class LogMel(nn.Module):
    """(batch, 1, frames, bins) power -> (batch, 1, frames, mel_bins) dB, ``melW`` as in PANNs."""

    def __init__(self, sr: int, n_fft: int, mel_bins: int, fmin: float, fmax: float) -> None:
        super().__init__()
        fb = mel_filterbank(sr, n_fft, mel_bins, fmin, fmax)  # [mel, bins]
        self.melW = nn.Parameter(torch.from_numpy(np.ascontiguousarray(fb.T)), requires_grad=False)

    def forward(self, power: torch.Tensor) -> torch.Tensor:
        mel = torch.matmul(power, self.melW)
        return 10.0 * torch.log10(torch.clamp(mel, min=AMIN))

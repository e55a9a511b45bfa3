"""The log-mel front-end as a batched ``nn.Module`` (same numbers as :func:`logmel`)."""

from __future__ import annotations

import torch
from torch import nn

from rgasc.features.logmel import FeatureConfig, frontend_arrays


class LogMel(nn.Module):
    """(batch, samples) waveforms at ``cfg.sample_rate`` -> (batch, frames, n_mels) log-mel.

    The numbers of :func:`rgasc.features.logmel` for either front-end: frames without centring,
    the front-end's window and FFT size, magnitude (the paper's divided by ``sqrt(sum(w**2))``,
    what ``scipy.signal.spectrogram(mode="magnitude")`` returns), its mel filterbank and
    ``log(x + offset)``.
    Inputs are cropped/zero-padded at the end to ``cfg.clip_seconds`` first, so the output
    always has ``cfg.n_frames`` frames. Window and filterbank are buffers (they follow
    ``.to(device)``) and are not saved in a state dict: they are rebuilt from the config.
    """

    window: torch.Tensor
    fb: torch.Tensor

    def __init__(self, cfg: FeatureConfig = FeatureConfig()) -> None:
        super().__init__()
        self.cfg = cfg
        window, fb_t = frontend_arrays(cfg)
        self.register_buffer("window", torch.from_numpy(window.copy()), persistent=False)
        self.register_buffer("fb", torch.from_numpy(fb_t.copy()), persistent=False)  # [F, M]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """x: (batch, samples) or (samples,) float -> (batch, n_frames, n_mels) float32."""
        if x.ndim == 1:
            x = x.unsqueeze(0)
        x = x.to(torch.float32)
        n = self.cfg.n_samples
        # crop the end or zero-pad the end to exactly clip_seconds (see logmel())
        x = x[:, :n] if x.shape[1] >= n else nn.functional.pad(x, (0, n - x.shape[1]))
        # frames of win_length every hop (no centring), windowed, FFT of n_fft (YAMNet's
        # 400-sample frames are zero-padded at the end); the paper's 1/sqrt(sum(w^2)) scale is
        # folded into its window (FFT is linear)
        frames = x.unfold(1, self.cfg.win_length, self.cfg.hop_length) * self.window
        spec = torch.fft.rfft(frames, n=self.cfg.n_fft).abs().transpose(1, 2)  # (B, F, T)
        if self.cfg.power != 1.0:
            spec = spec.pow(self.cfg.power)
        mel = spec.transpose(1, 2) @ self.fb  # (batch, frames, n_mels)
        return torch.log(mel + self.cfg.log_offset)

    def extra_repr(self) -> str:
        c = self.cfg
        return (
            f"sr={c.sample_rate}, n_fft={c.n_fft}, hop={c.hop_length}, n_mels={c.n_mels}, "
            f"fmin={c.fmin}, fmax={c.fmax}, power={c.power}"
        )

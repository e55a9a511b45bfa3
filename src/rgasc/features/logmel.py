"""The paper's front-end: magnitude STFT -> Slaney mel -> log, as named constants and numpy.

The recipe is the one of the DCASE 2018 "CNN_Surrey" code the paper cites (PAPER.md,
"Features")::

    x  = mono waveform at 44.1 kHz, cropped/zero-padded at the end to 10 s
    S  = scipy.signal.spectrogram(x, window=np.hamming(2048), nperseg=2048, noverlap=672,
                                  detrend=False, mode="magnitude")   # |STFT| / sqrt(sum(w**2))
    M  = librosa.filters.mel(sr=44100, n_fft=2048, n_mels=64, fmin=50, fmax=22050) @ S
    F  = log(M + 1e-8).T                                            # (320 frames, 64 mel)

This module holds the numpy version (no torch import, so decoding worker processes start
fast); :class:`rgasc.features.module.LogMel` is the batched ``nn.Module`` with the same numbers.
"""

from __future__ import annotations

import dataclasses
import enum
from functools import lru_cache

import numpy as np

from rgasc.audio import fix_length
from rgasc.config import Config, option

# --- the paper's front-end, every derived number explained -------------------------------
SAMPLE_RATE = 44100  # Hz: every clip is resampled to this before the STFT
N_FFT = 2048  # samples per STFT frame (46.4 ms at 44.1 kHz); also the window length
OVERLAP = 672  # samples shared by consecutive frames (the authors' `noverlap`)
HOP_LENGTH = N_FFT - OVERLAP  # 1376 samples = 31.2 ms between frame starts
N_MELS = 64  # mel bands
FMIN = 50.0  # Hz, lowest mel edge
FMAX = SAMPLE_RATE / 2  # 22050 Hz: up to Nyquist
CLIP_SECONDS = 10.0  # DCASE clips are 10 s; other lengths are cropped/padded to this
N_SAMPLES = int(CLIP_SECONDS * SAMPLE_RATE)  # 441000 samples in a clip
# No centring or padding (scipy's default): frames start at 0, hop, 2*hop, ... while a whole
# window fits, i.e. 1 + (N_SAMPLES - N_FFT) // HOP_LENGTH == (N_SAMPLES - OVERLAP) // HOP_LENGTH
N_FRAMES = (N_SAMPLES - OVERLAP) // HOP_LENGTH  # (441000 - 672) // 1376 = 320 frames
N_FREQS = N_FFT // 2 + 1  # 1025 one-sided STFT bins
LOG_OFFSET = 1e-8  # added before the log so silence gives log(1e-8), not -inf

WINDOWS = ("hamming", "hann")  # symmetric (numpy's np.hamming / np.hanning), as the authors'

# --- YAMNet's front-end (the yamnet backbone's input contract and the yamnet teacher's) --------
YAMNET_SAMPLE_RATE = 16000
YAMNET_WINDOW = 400  # 25 ms frames at 16 kHz, periodic Hann, zero-padded to the FFT size
YAMNET_HOP = 160  # 10 ms
YAMNET_N_FFT = 512  # the power of two above the frame
YAMNET_N_MELS = 64
YAMNET_FMIN, YAMNET_FMAX = 125.0, 7500.0  # HTK mel bands, built in the mel domain
# YAMNet's own params use log(mel + 0.001); the int8 graph agrees: its input quantiser's floor,
# (0 - zero_point) * scale = -6.90, is ln(0.001)
YAMNET_LOG_OFFSET = 1e-3


class Frontend(enum.StrEnum):
    """How a waveform becomes log-mel frames."""

    PAPER = "paper"  # scipy's magnitude spectrogram, Slaney mel (the paper's, CNN_Surrey)
    YAMNET = "yamnet"  # YAMNet's: raw |FFT| of 25-ms frames, HTK mel, log(mel + 0.001)


@dataclasses.dataclass(frozen=True)
class FeatureConfig(Config):
    """Every parameter of the log-mel front-end; the defaults are the paper's recipe.

    Other recipes are just other configs (e.g. ``FeatureConfig(sample_rate=32000,
    n_mels=128, fmax=16000.0)``); a cache is keyed by :meth:`digest`, so changing any field
    computes new features instead of serving stale ones.
    """

    sample_rate: int = option(SAMPLE_RATE, help="Resample clips to this rate (Hz).")
    n_fft: int = option(N_FFT, help="STFT frame and window length in samples.")
    hop_length: int = option(HOP_LENGTH, help="STFT hop in samples; 1376 = 2048 - 672.")
    window: str = option("hamming", help="Symmetric STFT window: hamming or hann.")
    n_mels: int = option(N_MELS, help="Mel bands.")
    fmin: float = option(FMIN, help="Lowest mel edge (Hz).")
    # None: up to Nyquist of whatever sample_rate is chosen; stored resolved, so the default
    # (22050 at 44.1 kHz) keys a cache exactly as the number itself does
    fmax: float = option(None, help="Highest mel edge (Hz); default sample_rate / 2.")
    power: float = option(1.0, help="1 = magnitude (the authors' code), 2 = power.")
    log_offset: float = option(LOG_OFFSET, help="Added before the log (silence -> its log).")
    clip_seconds: float = option(CLIP_SECONDS, help="Crop or zero-pad every clip to this length.")
    frontend: Frontend = option(
        Frontend.PAPER,
        help="paper (magnitude STFT, Slaney mel) or yamnet (YAMNet's front-end: every other "
        "field fixed to its values; `--backbone yamnet` sets them).",
    )

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.fmax is None:
            object.__setattr__(self, "fmax", self.sample_rate / 2)
        if self.frontend == Frontend.YAMNET:
            fixed = [f"{k}={v}" for k, v in _YAMNET_FIELDS.items() if getattr(self, k) != v]
            if fixed:
                raise ValueError(
                    f"the yamnet front-end is fixed: {', '.join(fixed)} (only clip_seconds may "
                    "change; `--backbone yamnet` sets them)"
                )
        if self.window not in WINDOWS:
            raise ValueError(f"window must be one of {WINDOWS}, got {self.window!r}")
        if not 0 < self.hop_length <= self.n_fft:
            raise ValueError(f"hop_length must be in (0, {self.n_fft}], got {self.hop_length}")
        if not 0 <= self.fmin < self.fmax <= self.sample_rate / 2:
            raise ValueError(
                f"need 0 <= fmin < fmax <= sample_rate/2 = {self.sample_rate / 2}, "
                f"got fmin={self.fmin}, fmax={self.fmax}"
            )
        if self.n_mels < 1 or self.power <= 0 or self.log_offset <= 0:
            raise ValueError("n_mels, power and log_offset must be positive")
        if self.n_samples < self.win_length:
            raise ValueError(
                f"clip_seconds={self.clip_seconds} gives {self.n_samples} samples, fewer than "
                f"one STFT frame ({self.win_length})"
            )

    @property
    def n_samples(self) -> int:
        """Samples of a clip after crop/pad: 441000 for the default."""
        return int(round(self.clip_seconds * self.sample_rate))

    @property
    def win_length(self) -> int:
        """Samples per analysis frame: n_fft, or YAMNet's 400 (zero-padded to its FFT)."""
        return YAMNET_WINDOW if self.frontend == Frontend.YAMNET else self.n_fft

    @property
    def n_frames(self) -> int:
        """Frames of a clip: 1 + (n_samples - win_length) // hop, no padding; 320 for the
        paper's 10-s clips ((441000 - 2048) // 1376 + 1), 998 for YAMNet's."""
        return 1 + (self.n_samples - self.win_length) // self.hop_length

    @property
    def n_freqs(self) -> int:
        return self.n_fft // 2 + 1


_YAMNET_FIELDS: dict[str, object] = {
    "sample_rate": YAMNET_SAMPLE_RATE,
    "n_fft": YAMNET_N_FFT,
    "hop_length": YAMNET_HOP,
    "window": "hann",
    "n_mels": YAMNET_N_MELS,
    "fmin": YAMNET_FMIN,
    "fmax": YAMNET_FMAX,
    "power": 1.0,
    "log_offset": YAMNET_LOG_OFFSET,
}
#: YAMNet's front-end on 10-s clips: the yamnet backbone's input (998 x 64 per clip).
YAMNET_FEATURES = FeatureConfig(frontend=Frontend.YAMNET, **_YAMNET_FIELDS)  # type: ignore[arg-type]


# --- mel filterbank (Slaney mel scale, Slaney area normalisation) --------------------------
# Slaney's Auditory Toolbox scale: linear below 1 kHz (3 mel per 200 Hz), logarithmic above,
# with 27 steps per factor 6.4 in frequency, so both pieces meet at 1 kHz = 15 mel.
_F_SP = 200.0 / 3.0
_MIN_LOG_HZ = 1000.0
_MIN_LOG_MEL = _MIN_LOG_HZ / _F_SP
_LOGSTEP = np.log(6.4) / 27.0


def hz_to_mel(hz: np.ndarray | float) -> np.ndarray:
    """Slaney mel of frequencies in Hz (any shape)."""
    hz = np.asarray(hz, dtype=np.float64)
    lin = hz / _F_SP
    log = _MIN_LOG_MEL + np.log(np.maximum(hz, _MIN_LOG_HZ) / _MIN_LOG_HZ) / _LOGSTEP
    return np.where(hz >= _MIN_LOG_HZ, log, lin)


def mel_to_hz(mel: np.ndarray | float) -> np.ndarray:
    """Inverse of :func:`hz_to_mel`."""
    mel = np.asarray(mel, dtype=np.float64)
    lin = mel * _F_SP
    log = _MIN_LOG_HZ * np.exp(_LOGSTEP * (np.maximum(mel, _MIN_LOG_MEL) - _MIN_LOG_MEL))
    return np.where(mel >= _MIN_LOG_MEL, log, lin)


def mel_filterbank(sr: int, n_fft: int, n_mels: int, fmin: float, fmax: float) -> np.ndarray:
    """Triangular mel filters on the one-sided STFT bins.

    Band ``i`` rises linearly from mel point ``i`` to ``i+1`` and falls to ``i+2`` (points
    equally spaced in Slaney mel between fmin and fmax), and is scaled by
    ``2 / (f[i+2] - f[i])`` so every band has the same area (Slaney normalisation).

    Returns:
        float32 array of shape ``[n_mels, n_fft // 2 + 1]``.
    """
    bins_hz = np.arange(n_fft // 2 + 1, dtype=np.float64) * (sr / n_fft)
    edges_hz = mel_to_hz(np.linspace(hz_to_mel(fmin), hz_to_mel(fmax), n_mels + 2))
    widths = np.diff(edges_hz)  # [n_mels + 1]
    # distance of every edge to every bin: [n_mels + 2, n_bins]
    dist = edges_hz[:, None] - bins_hz[None, :]
    rising = -dist[:-2] / widths[:-1, None]
    falling = dist[2:] / widths[1:, None]
    weights = np.maximum(0.0, np.minimum(rising, falling))
    weights *= (2.0 / (edges_hz[2:] - edges_hz[:-2]))[:, None]
    return weights.astype(np.float32)


def htk_mel(hz: float | np.ndarray) -> np.ndarray:
    """HTK mel value(s) of frequencies in Hz."""
    return 1127.0 * np.log1p(np.asarray(hz, dtype=np.float64) / 700.0)


def yamnet_mel_matrix() -> np.ndarray:
    """[257 bins, 64 mels] triangular HTK filters, built in the mel domain like YAMNet's.

    Bin k (frequency k * 8000 / 256) has weight ``max(0, min(rise, fall))`` in band m, where
    rise/fall are linear in the bin's mel value between the band's edges; the DC bin is 0.
    """
    bins_mel = htk_mel(np.linspace(0.0, YAMNET_SAMPLE_RATE / 2, YAMNET_N_FFT // 2 + 1))[:, None]
    edges = np.linspace(htk_mel(YAMNET_FMIN), htk_mel(YAMNET_FMAX), YAMNET_N_MELS + 2)
    lo, mid, hi = edges[:-2], edges[1:-1], edges[2:]
    w = np.maximum(0.0, np.minimum((bins_mel - lo) / (mid - lo), (hi - bins_mel) / (hi - mid)))
    w[0] = 0.0  # the DC bin carries no band energy
    return w.astype(np.float32)


@lru_cache(maxsize=8)
def frontend_arrays(cfg: FeatureConfig) -> tuple[np.ndarray, np.ndarray]:
    """(analysis window [win_length], mel filterbank transposed [n_freqs, n_mels]).

    The paper's window is scaled by 1/sqrt(sum(w^2)): scipy's spectrogram(mode="magnitude")
    divides |STFT| by sqrt(fs * sum(w^2)) with fs=1, and folding the factor into the window is
    the same by linearity of the FFT. YAMNet's is its periodic Hann, unscaled.
    """
    if cfg.frontend == Frontend.YAMNET:
        n = np.arange(YAMNET_WINDOW)
        hann = (0.5 - 0.5 * np.cos(2 * np.pi * n / YAMNET_WINDOW)).astype(np.float32)
        return hann, yamnet_mel_matrix()
    w = window_array(cfg)
    scaled = (w / np.sqrt(np.sum(w.astype(np.float64) ** 2))).astype(np.float32)
    fb = mel_filterbank(cfg.sample_rate, cfg.n_fft, cfg.n_mels, cfg.fmin, cfg.fmax)
    return scaled, np.ascontiguousarray(fb.T)


def window_array(cfg: FeatureConfig) -> np.ndarray:
    """The symmetric analysis window of length n_fft (float32), unscaled."""
    w = np.hamming(cfg.n_fft) if cfg.window == "hamming" else np.hanning(cfg.n_fft)
    return w.astype(np.float32)


def spectral(waveform: np.ndarray, cfg: FeatureConfig) -> np.ndarray:
    """Log-mel frames of a waveform as it is (no crop or pad): (frames, n_mels) float32,
    frames = 1 + (samples - win_length) // hop."""
    import scipy.fft  # here, not at import: the CLI reads FeatureConfig at start-up

    window, fb_t = frontend_arrays(cfg)
    x = np.ascontiguousarray(waveform, dtype=np.float32)
    # (frames, win_length) strided view: frame t covers samples [t*hop, t*hop + win_length)
    frames = np.lib.stride_tricks.sliding_window_view(x, cfg.win_length)[:: cfg.hop_length]
    # scipy.fft keeps float32 (numpy's rfft works in float64 and is ~2x slower here); n pads
    # YAMNet's 400-sample frames at the end to its 512-point FFT
    spec = np.abs(scipy.fft.rfft(frames * window, n=cfg.n_fft, axis=-1))  # (frames, n_freqs)
    if cfg.power != 1.0:
        spec = spec**cfg.power
    # float32 sgemm; its last bit depends on the BLAS thread count, which is why the cache
    # (rgasc.features.compute) always runs this with one BLAS thread
    mel = spec.astype(np.float32, copy=False) @ fb_t  # (frames, n_mels)
    return np.log(mel + np.float32(cfg.log_offset))


def logmel(waveform: np.ndarray, cfg: FeatureConfig = FeatureConfig()) -> np.ndarray:
    """Log-mel features of one mono waveform.

    The waveform (samples at ``cfg.sample_rate``) is first cropped at the end or zero-padded at
    the end to ``cfg.clip_seconds``, so every clip gives exactly ``cfg.n_frames`` frames.

    Args:
        waveform: float array of shape (samples,).
        cfg: the front-end parameters.

    Returns:
        float32 array of shape (cfg.n_frames, cfg.n_mels), 320 x 64 for the default.
    """
    x = np.asarray(waveform, dtype=np.float32)
    if x.ndim != 1:
        raise ValueError(f"logmel expects a mono waveform of shape (samples,), got {x.shape}")
    return spectral(fix_length(x, cfg.n_samples), cfg)

"""Procedural sounds for the synthetic corpus: background beds and labelled events.

Everything is vectorised numpy driven by a caller-supplied ``np.random.Generator``, so a
seed fixes every sample. Event generators return a mono waveform ``(samples,)`` with peak
1; the corpus writer (:mod:`rgasc.data.synthetic`) sets level, position and panning.
The label names follow AudioSet's display names so teachers' outputs can be compared.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable

import numpy as np
import scipy.fft

Generator = Callable[[np.random.Generator, int], np.ndarray]


# --- building blocks ------------------------------------------------------------------
def _osc(freq: np.ndarray | float, n: int, sr: int, phase: float = 0.0) -> np.ndarray:
    """Sine of a (possibly time-varying) frequency in Hz: (samples,)."""
    f = np.broadcast_to(np.asarray(freq, dtype=np.float64), (n,))
    return np.sin(phase + 2 * np.pi * np.cumsum(f) / sr)


def _decay(n: int, sr: int, tau: float, attack: float = 0.002) -> np.ndarray:
    """Linear attack of ``attack`` s, then exponential decay with time constant ``tau`` s."""
    t = np.arange(n) / sr
    return np.minimum(t / max(attack, 1.0 / sr), 1.0) * np.exp(-np.maximum(t - attack, 0) / tau)


def _fades(n: int, sr: int, fade: float) -> np.ndarray:
    """Raised-cosine fade in and out, so no event starts or ends with a click."""
    k = min(int(fade * sr), n // 2)
    env = np.ones(n)
    if k > 0:
        ramp = 0.5 - 0.5 * np.cos(np.linspace(0, np.pi, k))
        env[:k], env[n - k :] = ramp, ramp[::-1]
    return env


def _spectral_noise(
    rng: np.random.Generator, n: int, gain: np.ndarray, channels: int = 1
) -> np.ndarray:
    """Gaussian noise with magnitude response ``gain`` (n // 2 + 1 bins): (samples, ch) float32.

    Drawing the spectrum directly (complex normal bins) gives the same statistics as
    filtering white noise, at one inverse FFT instead of two.
    """
    m = n // 2 + 1
    spec = np.empty((m, channels), dtype=np.complex64)
    spec.real = rng.standard_normal((m, channels), dtype=np.float32)
    spec.imag = rng.standard_normal((m, channels), dtype=np.float32)
    spec *= gain.astype(np.float32)[:, None]
    return scipy.fft.irfft(spec, n=n, axis=0)


def _band_noise(
    rng: np.random.Generator, n: int, sr: int, lo: float, hi: float, channels: int = 1
) -> np.ndarray:
    """Noise band-limited to [lo, hi] Hz (brick-wall mask): (samples, ch) float32."""
    m = n // 2 + 1
    # Only the bins inside the band are drawn: a narrow band costs almost nothing.
    i0, i1 = int(np.ceil(lo * n / sr)), min(m, int(np.floor(hi * n / sr)) + 1)
    spec = np.zeros((m, channels), dtype=np.complex64)
    if i1 > i0:
        spec.real[i0:i1] = rng.standard_normal((i1 - i0, channels), dtype=np.float32)
        spec.imag[i0:i1] = rng.standard_normal((i1 - i0, channels), dtype=np.float32)
    return scipy.fft.irfft(spec, n=n, axis=0)


def _unit(x: np.ndarray) -> np.ndarray:
    """Scale to unit RMS (band-limited noise has an RMS that depends on band and rate)."""
    return x / (np.sqrt(np.mean(x**2)) + 1e-12)


def _smooth_random(rng: np.random.Generator, n: int, sr: int, rate: float) -> np.ndarray:
    """A slow random curve in [-1, 1] changing ``rate`` times per second: (samples,) float32.

    Linear between random knots, evaluated every millisecond and held in between: a
    full-rate np.interp (float64) dominated the cost of a 10 s background.
    """
    k = max(2, int(n / sr * rate) + 2)
    knots = rng.uniform(-1, 1, k)
    hop = max(1, sr // 1000)
    coarse = np.interp(np.arange(0, n, hop), np.linspace(0, n, k), knots).astype(np.float32)
    return np.repeat(coarse, hop)[:n]


def _place(out: np.ndarray, sig: np.ndarray, start: int) -> None:
    """Add ``sig`` into ``out`` from ``start``, cropped at the end of ``out``."""
    end = min(out.shape[0], start + sig.shape[0])
    if end > start:
        out[start:end] += sig[: end - start]


def _sequence(
    rng: np.random.Generator, sr: int, count: int, gap: tuple[float, float], make: Generator
) -> np.ndarray:
    """``count`` calls of ``make`` laid one after another with random gaps (seconds)."""
    parts = [make(rng, sr) for _ in range(count)]
    starts, pos = [], 0
    for p in parts:
        starts.append(pos)
        pos += p.shape[0] + int(rng.uniform(*gap) * sr)
    out = np.zeros(starts[-1] + parts[-1].shape[0])
    for p, s in zip(parts, starts, strict=True):
        _place(out, p, s)
    return out


def _peak1(x: np.ndarray) -> np.ndarray:
    peak = float(np.max(np.abs(x))) if x.size else 0.0
    return (x / peak if peak > 0 else x).astype(np.float32)


def _nyq(f: np.ndarray | float, sr: int) -> np.ndarray:
    # Keep partials under Nyquist so a low sample rate never aliases an event.
    return np.minimum(np.asarray(f, dtype=np.float64), 0.45 * sr)


# --- events ----------------------------------------------------------------------------
def _chirp(rng: np.random.Generator, sr: int) -> np.ndarray:
    n = int(rng.uniform(0.05, 0.15) * sr)
    f1 = rng.uniform(2500, 4500)
    f = np.linspace(f1, f1 + rng.uniform(-1500, 1500), n)
    f = f * (1 + 0.03 * np.sin(2 * np.pi * rng.uniform(20, 40) * np.arange(n) / sr))
    return _osc(_nyq(f, sr), n, sr) * np.sin(np.linspace(0, np.pi, n)) ** 2


def bird(rng: np.random.Generator, sr: int) -> np.ndarray:
    """3-8 frequency-swept chirps at 2-6 kHz."""
    return _peak1(_sequence(rng, sr, int(rng.integers(3, 9)), (0.04, 0.3), _chirp))


def car_horn(rng: np.random.Generator, sr: int) -> np.ndarray:
    """One or two honks: two buzzy harmonic tones a major third apart."""

    def honk(r: np.random.Generator, s: int) -> np.ndarray:
        n = int(r.uniform(0.25, 0.9) * s)
        f0 = r.uniform(350, 450)
        x = sum(
            _osc(_nyq(k * f0 * ratio, s), n, s) / k for ratio in (1.0, 1.26) for k in range(1, 7)
        )
        return np.tanh(1.5 * np.asarray(x)) * _fades(n, s, 0.01)

    return _peak1(_sequence(rng, sr, int(rng.integers(1, 3)), (0.08, 0.25), honk))


def engine(rng: np.random.Generator, sr: int) -> np.ndarray:
    """A low harmonic hum (25-60 Hz fundamental) that speeds up or slows down, with rumble."""
    n = int(rng.uniform(1.5, 4.0) * sr)
    f0 = rng.uniform(25, 60) * (1 + rng.uniform(-0.3, 0.3) * np.linspace(0, 1, n))
    x = sum(_osc(_nyq(k * f0, sr), n, sr, rng.uniform(0, 6.3)) / k**0.7 for k in range(1, 13))
    x = _unit(np.asarray(x)) + 0.7 * _unit(_band_noise(rng, n, sr, 20, 400)[:, 0])
    return _peak1(x * (1 + 0.3 * _smooth_random(rng, n, sr, 4)) * _fades(n, sr, 0.4))


# (F1, F2, F3) of five vowels in Hz: the formant peaks that make harmonics sound voiced.
_VOWELS = np.array(
    [[730, 1090, 2440], [270, 2290, 3010], [300, 870, 2240], [530, 1840, 2480], [570, 840, 2410]],
    dtype=np.float64,
)


def speech(rng: np.random.Generator, sr: int) -> np.ndarray:
    """Formant babble: a harmonic voice whose vowel changes 4-6 times a second."""
    n = int(rng.uniform(0.8, 2.5) * sr)
    t = np.arange(n) / sr
    f0 = rng.uniform(100, 240) * (1 + 0.08 * _smooth_random(rng, n, sr, 3))
    rate = rng.uniform(4, 6)
    n_syl = int(t[-1] * rate) + 2
    # Harmonic amplitudes change slowly: compute them every 2 ms, then hold. (K, frames)
    hop = max(1, sr // 500)
    tc = t[::hop]
    anchors = _VOWELS[rng.integers(0, len(_VOWELS), n_syl)]  # one vowel per syllable
    grid = np.arange(n_syl) / rate
    k = np.arange(1, 25)[:, None]  # 24 harmonics: (K, 1)
    hk = k * f0[::hop][None, :]  # harmonic frequencies: (K, frames)
    amp = np.zeros_like(hk)
    for i, (g, bw) in enumerate(((1.0, 120.0), (0.6, 180.0), (0.3, 250.0))):
        formant = np.interp(tc, grid, anchors[:, i])[None, :]
        amp += g * np.exp(-(((hk - formant) / bw) ** 2)) * (hk < 0.45 * sr)
    amp_full = np.repeat(amp.astype(np.float32), hop, axis=1)[:, :n]
    # Phase wrapped to [0, 2 pi) first: k * phase then stays small enough for float32.
    phase = (2 * np.pi * np.cumsum(f0) / sr) % (2 * np.pi)
    x = (amp_full * np.sin(k.astype(np.float32) * phase.astype(np.float32)[None, :])).sum(0)
    x *= np.abs(np.sin(np.pi * rate * t)) ** 0.7  # syllable envelope
    return _peak1(x * _fades(n, sr, 0.03))


def _step(rng: np.random.Generator, sr: int) -> np.ndarray:
    n = int(0.12 * sr)
    hit = _band_noise(rng, n, sr, 80, rng.uniform(1500, 4000))[:, 0] * _decay(n, sr, 0.02)
    toe = np.roll(hit * 0.5, int(rng.uniform(0.03, 0.06) * sr))
    return hit + toe


def footsteps(rng: np.random.Generator, sr: int) -> np.ndarray:
    """3-8 steps about half a second apart, each a heel and toe noise burst."""
    return _peak1(_sequence(rng, sr, int(rng.integers(3, 9)), (0.3, 0.45), _step))


def bell(rng: np.random.Generator, sr: int) -> np.ndarray:
    """1-3 strikes of an inharmonic bell (hum, prime, tierce, quint, nominal partials)."""

    def strike(r: np.random.Generator, s: int) -> np.ndarray:
        n = int(r.uniform(1.0, 2.5) * s)
        f0 = r.uniform(300, 900)
        ratios = (0.5, 1.0, 1.19, 1.5, 2.0, 2.74, 3.0)
        x = sum(
            _osc(_nyq(f0 * q, s), n, s)
            * _decay(n, s, r.uniform(0.3, 1.2) / (1 + j * 0.2))
            / (1 + j)
            for j, q in enumerate(ratios)
        )
        return np.asarray(x)

    return _peak1(_sequence(rng, sr, int(rng.integers(1, 4)), (-0.6, -0.2), strike))


def rain(rng: np.random.Generator, sr: int) -> np.ndarray:
    """2-5 s of high-passed hiss with scattered droplet clicks."""
    n = int(rng.uniform(2.0, 5.0) * sr)
    drops = (rng.random(n) < rng.uniform(80, 300) / sr) * rng.uniform(0, 1, n)
    spec = np.fft.rfft(drops)
    f = np.fft.rfftfreq(n, 1.0 / sr)
    drops = np.fft.irfft(spec * (f > 2000) / (1 + (f / 8000) ** 2), n=n)
    hiss = _band_noise(rng, n, sr, 1000, 0.45 * sr)[:, 0]
    x = _unit(hiss) + 3 * _unit(drops)
    return _peak1(x * (1 + 0.3 * _smooth_random(rng, n, sr, 2)) * _fades(n, sr, 0.5))


def train_squeal(rng: np.random.Generator, sr: int) -> np.ndarray:
    """1-3 s of a narrow 2.5-5 kHz tone with fast vibrato and a wavering level."""
    n = int(rng.uniform(1.0, 3.0) * sr)
    t = np.arange(n) / sr
    f = rng.uniform(2500, 5000) * (1 + 0.05 * _smooth_random(rng, n, sr, 1))
    f = f * (1 + rng.uniform(0.005, 0.02) * np.sin(2 * np.pi * rng.uniform(8, 15) * t))
    x = _osc(_nyq(f, sr), n, sr) + 0.3 * _osc(_nyq(1.5 * f, sr), n, sr)
    return _peak1(x * (0.6 + 0.4 * _smooth_random(rng, n, sr, 6)) * _fades(n, sr, 0.15))


def door(rng: np.random.Generator, sr: int) -> np.ndarray:
    """A latch click followed by a low thud."""
    n = int(rng.uniform(0.25, 0.6) * sr)
    click = np.zeros(n)
    m = int(0.015 * sr)
    click[:m] = _band_noise(rng, m, sr, 2000, 0.45 * sr)[:, 0] * _decay(m, sr, 0.003)
    start = int(rng.uniform(0.05, 0.15) * sr)
    k = n - start
    thud = _osc(rng.uniform(60, 120), k, sr) + 0.5 * _unit(_band_noise(rng, k, sr, 40, 400)[:, 0])
    _place(click, 2 * thud * _decay(k, sr, rng.uniform(0.05, 0.12)), start)
    return _peak1(click)


# A major pentatonic scale in semitones above the tonic, over two octaves.
_PENTATONIC = np.array([0, 2, 4, 7, 9, 12, 14, 16, 19, 21])


def music(rng: np.random.Generator, sr: int) -> np.ndarray:
    """2-4 s of a pentatonic melody of harmonic notes over a held bass note."""
    tonic = rng.uniform(200, 400)
    note_len = rng.uniform(0.15, 0.4)
    n_notes = int(rng.uniform(2.0, 4.0) / note_len)

    def note(r: np.random.Generator, s: int) -> np.ndarray:
        n = int(note_len * s)
        f = tonic * 2 ** (r.choice(_PENTATONIC) / 12)
        x = sum(_osc(_nyq(k * f, s), n, s) / k**1.5 for k in range(1, 6))
        return np.asarray(x) * _decay(n, s, note_len / 2, attack=0.01) * _fades(n, s, 0.005)

    mel = _sequence(rng, sr, n_notes, (0.0, 0.0), note)
    bass = _osc(tonic / 2, mel.shape[0], sr) * _fades(mel.shape[0], sr, 0.1)
    return _peak1(mel + 0.4 * bass)


def siren(rng: np.random.Generator, sr: int) -> np.ndarray:
    """2-5 s of a wailing (swept) or hi-lo (two-tone) siren with three harmonics."""
    n = int(rng.uniform(2.0, 5.0) * sr)
    t = np.arange(n) / sr
    period = rng.uniform(0.8, 3.0)
    if rng.random() < 0.5:
        f = rng.uniform(800, 1100) + rng.uniform(250, 450) * np.sin(2 * np.pi * t / period)
    else:
        f = np.where((t / period) % 1 < 0.5, rng.uniform(600, 700), rng.uniform(850, 1000))
    x = sum(_osc(_nyq(k * f, sr), n, sr) / k for k in range(1, 4))
    return _peak1(np.asarray(x) * _fades(n, sr, 0.2))


def beep(rng: np.random.Generator, sr: int) -> np.ndarray:
    """1-4 short pure beeps at 1-3 kHz (card readers, scanners, door warnings)."""
    f = rng.uniform(1000, 3000)
    dur = rng.uniform(0.08, 0.25)

    def one(r: np.random.Generator, s: int) -> np.ndarray:
        n = int(dur * s)
        return _osc(_nyq(f, s), n, s) * _fades(n, s, 0.005)

    return _peak1(_sequence(rng, sr, int(rng.integers(1, 5)), (0.08, 0.3), one))


def chime(rng: np.random.Generator, sr: int) -> np.ndarray:
    """An announcement chime: 2-4 bell-like notes of a major triad, each ringing on."""
    root = rng.uniform(400, 800)
    steps = rng.permutation([0, 4, 7, 12])[: int(rng.integers(2, 5))]

    def ding(r: np.random.Generator, s: int, semis: float) -> np.ndarray:
        n = int(1.2 * s)
        f = root * 2 ** (semis / 12)
        return (_osc(_nyq(f, s), n, s) + 0.3 * _osc(_nyq(2.76 * f, s), n, s)) * _decay(n, s, 0.4)

    gap = int(rng.uniform(0.35, 0.6) * sr)
    out = np.zeros(gap * (len(steps) - 1) + int(1.2 * sr))
    for i, st in enumerate(steps):
        _place(out, ding(rng, sr, float(st)), i * gap)
    return _peak1(out)


def dog(rng: np.random.Generator, sr: int) -> np.ndarray:
    """1-4 barks: short harmonic bursts gliding down in pitch, roughened by noise."""

    def bark(r: np.random.Generator, s: int) -> np.ndarray:
        n = int(r.uniform(0.1, 0.25) * s)
        f = np.linspace(r.uniform(600, 900), r.uniform(300, 450), n)
        x = sum(_osc(_nyq(k * f, s), n, s) / k for k in range(1, 8))
        x = _unit(np.asarray(x)) + 0.5 * _unit(_band_noise(r, n, s, 300, 3000)[:, 0])
        return np.tanh(2 * x) * _decay(n, s, 0.06, attack=0.01)

    return _peak1(_sequence(rng, sr, int(rng.integers(1, 5)), (0.15, 0.45), bark))


# The event vocabulary (AudioSet display names) and the generator of each label.
EVENT_GENERATORS: dict[str, Generator] = {
    "Beep, bleep": beep,
    "Bell": bell,
    "Bird": bird,
    "Car horn": car_horn,
    "Chime": chime,
    "Dog": dog,
    "Door": door,
    "Engine": engine,
    "Footsteps": footsteps,
    "Music": music,
    "Rain": rain,
    "Siren": siren,
    "Speech": speech,
    "Train wheels squealing": train_squeal,
}
EVENT_LABELS: tuple[str, ...] = tuple(EVENT_GENERATORS)


# --- backgrounds -----------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Background:
    """A background texture. Levels are in dB relative to the broadband bed.

    Attributes:
        tilt: spectral slope in dB per octave (around 1 kHz); more negative = darker.
        rumble: low-frequency (< ~150 Hz) boost in dB (vehicles, ventilation, traffic).
        babble: boost in dB of a 4 Hz-modulated speech band (300-3000 Hz) (crowds).
        hum: level in dB of a 50 Hz harmonic hum (motors, mains, air handling).
        swell: depth (0-1) of slow level changes (passing traffic, accelerating vehicles).
        level: overall RMS level in dBFS.
    """

    tilt: float
    rumble: float
    babble: float
    hum: float
    swell: float
    level: float

    def jitter(self, rng: np.random.Generator, scale: float) -> Background:
        """A variant with independent normal offsets (std scaled by ``scale``)."""
        d = rng.normal(0, scale, 6) * np.array([0.8, 3.0, 3.0, 3.0, 0.1, 3.0])
        return Background(
            self.tilt + d[0],
            self.rumble + d[1],
            self.babble + d[2],
            self.hum + d[3],
            float(np.clip(self.swell + d[4], 0.0, 0.9)),
            self.level + d[5],
        )


def background(rng: np.random.Generator, n: int, sr: int, p: Background) -> np.ndarray:
    """Render a stereo background texture: (samples, 2) float32 at RMS ``p.level`` dBFS."""
    f = np.maximum(np.fft.rfftfreq(n, 1.0 / sr), 20.0)
    gain_db = p.tilt * np.log2(f / 1000.0) + p.rumble * np.exp(-((f / 150.0) ** 2))
    gain_db -= 12.0 * np.log2(np.maximum(f / 12000.0, 1.0))  # air absorption above 12 kHz
    a, b = _spectral_noise(rng, n, 10 ** (gain_db / 20), channels=2).T
    # Partly correlated channels (correlation 0.6), like a spaced stereo pair in a diffuse field.
    bed = np.stack([a, 0.6 * a + 0.8 * b], axis=1)
    bed /= np.sqrt(np.mean(bed**2)) + 1e-12
    babble = _band_noise(rng, n, sr, 300, 3000)[:, 0]
    babble *= 1 + 0.6 * _smooth_random(rng, n, sr, 8).astype(np.float32)
    babble *= 0.3 * 10 ** (p.babble / 20) / (np.sqrt(np.mean(babble**2)) + 1e-12)
    x = bed + np.stack([babble, np.roll(babble, int(0.0007 * sr))], axis=1)
    if p.hum > -40:
        t = np.arange(n, dtype=np.float32) / np.float32(sr)
        hum = sum(
            np.sin(np.float32(2 * np.pi * min(50.0 * k, 0.45 * sr)) * t + rng.uniform(0, 6.3)) / k
            for k in range(1, 6)
        )
        x += np.float32(10 ** (p.hum / 20) * 0.1) * np.asarray(hum, dtype=np.float32)[:, None]
    x *= (1 + p.swell * _smooth_random(rng, n, sr, 0.4)).astype(np.float32)[:, None]
    return x * np.float32(10 ** (p.level / 20) / (np.sqrt(np.mean(x**2)) + 1e-12))

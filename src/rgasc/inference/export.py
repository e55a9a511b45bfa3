"""Export a trained model (ONNX, TorchScript) with a parity check; parameter and MAC counts.

The exported graph is :class:`Exportable`: **un-normalised** log-mel (B, T, F) from the
checkpoint's front-end (``rgasc.features.logmel`` with its ``feature_config``) -> per-band
standardisation with the training statistics (inside the graph, so a user cannot forget it)
-> RGASC -> (scene probabilities (B, K) softmax, event probabilities (B, E) sigmoid). The batch
axis is dynamic; T is the checkpoint's ``n_frames``. Scene/event names, the feature config
and this input contract travel in the file (ONNX ``metadata_props``; TorchScript extra file
``rgasc.json``).
"""

# No `from __future__ import annotations`: torch.jit.script must see real annotations.
import dataclasses
import json
import logging
import os
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from rgasc.artefacts import CHECKPOINTS_DIR, METRICS_FILE
from rgasc.errors import ArtefactError, RgascError
from rgasc.features.normalize import EPS
from rgasc.models import RGASC, n_parameters, tower_parameters
from rgasc.models.checkpoint import ModelInfo
from rgasc.models.checkpoint import load_model as load_checkpoint
from rgasc.utils import atomic_path

EXPORT_FORMATS = ("onnx", "torchscript")
PARITY_TOLERANCE = 1e-4
INPUT_CONTRACT = (
    "input 'logmel': float32 (batch, frames, mel) un-normalised log-mel of the feature_config; "
    "standardisation is inside the graph; outputs 'scene_probs' (batch, scenes) softmax, "
    "'event_probs' (batch, events) sigmoid"
)


class Exportable(nn.Module):
    """Raw log-mel (B, T, F) -> (scene probs (B, K), event probs (B, E)); see module doc."""

    mean: Tensor
    inv_std: Tensor

    def __init__(self, model: RGASC, norm_mean: np.ndarray, norm_std: np.ndarray) -> None:
        super().__init__()
        self.model = model.eval()
        self.register_buffer("mean", torch.as_tensor(norm_mean, dtype=torch.float32).clone())
        std = torch.as_tensor(norm_std, dtype=torch.float32).clamp_min(EPS)
        self.register_buffer("inv_std", 1.0 / std)

    def forward(self, logmel: Tensor) -> tuple[Tensor, Tensor]:
        out = self.model((logmel - self.mean) * self.inv_std)
        return torch.softmax(out.scene_logits, dim=-1), out.event_probs


def metadata(info: ModelInfo) -> dict[str, str]:
    """String key/values describing the exported file (labels, front-end, input contract)."""
    return {
        "rgasc.scenes": json.dumps(info.scenes),
        "rgasc.events": json.dumps(info.events),
        "rgasc.feature_config": json.dumps(info.feature_config.to_dict()),
        "rgasc.model_config": json.dumps(info.model_config.to_dict()),
        "rgasc.input": INPUT_CONTRACT,
    }


def example_input(info: ModelInfo, batch: int = 2, seed: int = 0) -> Tensor:
    """Log-mel-like input (B, T, F): the training statistics plus unit noise in standard units."""
    g = torch.Generator().manual_seed(seed)
    t, f = info.feature_config.n_frames, len(info.norm_mean)
    z = torch.randn(batch, t, f, generator=g)
    return torch.as_tensor(info.norm_mean) + z * torch.as_tensor(info.norm_std)


@dataclasses.dataclass
class ExportResult:
    path: Path
    format: str
    max_abs_diff_scene: float
    max_abs_diff_event: float

    @property
    def max_abs_diff(self) -> float:
        return max(self.max_abs_diff_scene, self.max_abs_diff_event)


def export_model(
    run_or_checkpoint: str | os.PathLike[str],
    out: str | os.PathLike[str],
    fmt: str = "onnx",
    *,
    dynamo: bool = True,
    opset: int = 18,
) -> ExportResult:
    """Export a checkpoint to ``out`` and check it against PyTorch on a batch of 3.

    Args:
        fmt: ``onnx`` or ``torchscript``. dynamo: ONNX via ``torch.export`` (PyTorch's default
            exporter) or, with False, the older TorchScript-based exporter (much faster).

    Raises:
        ArtefactError: unknown format, or the exported file disagrees with PyTorch by more
            than :data:`PARITY_TOLERANCE`.
    """
    if fmt not in EXPORT_FORMATS:
        raise ArtefactError(f"unknown export format {fmt!r}; use {' or '.join(EXPORT_FORMATS)}")
    model, info = load_checkpoint(run_or_checkpoint)
    wrapper = Exportable(model, info.norm_mean, info.norm_std).eval()
    out = Path(out)
    # a batch size other than the traced one (2) also checks the dynamic batch axis
    x = example_input(info, batch=3, seed=1)
    with torch.inference_mode():
        ref_s, ref_e = (t.numpy() for t in wrapper(x))
    with atomic_path(out) as tmp:  # a file that fails the parity check is never left behind
        if fmt == "onnx":
            _export_onnx(wrapper, info, tmp, dynamo=dynamo, opset=opset)
        else:
            extra = {"rgasc.json": json.dumps(metadata(info))}
            torch.jit.save(torch.jit.script(wrapper), str(tmp), _extra_files=extra)
        got_s, got_e = run_exported(tmp, x.numpy(), fmt)
        result = ExportResult(
            out, fmt, float(np.abs(got_s - ref_s).max()), float(np.abs(got_e - ref_e).max())
        )
        if not result.max_abs_diff <= PARITY_TOLERANCE:
            raise ArtefactError(
                f"{out}: exported model differs from PyTorch by {result.max_abs_diff:.3g} "
                f"(> {PARITY_TOLERANCE}); try the other ONNX exporter (--legacy) or TorchScript"
            )
    return result


def _export_onnx(
    wrapper: Exportable, info: ModelInfo, out: Path, *, dynamo: bool, opset: int
) -> None:
    import onnx

    x = example_input(info, batch=2)
    names: dict[str, Any] = {
        "input_names": ["logmel"],
        "output_names": ["scene_probs", "event_probs"],
    }
    quiet = logging.getLogger("torch.onnx")  # "torchvision is not installed" notices
    level = quiet.level
    quiet.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # exporter deprecation/trace chatter
            if dynamo:
                batch = torch.export.Dim("batch", min=1, max=65536)
                torch.onnx.export(
                    wrapper,
                    (x,),
                    str(out),
                    dynamo=True,
                    external_data=False,
                    dynamic_shapes={"logmel": {0: batch}},
                    opset_version=opset,
                    verbose=False,
                    **names,
                )
            else:
                axes = {n: {0: "batch"} for n in ("logmel", "scene_probs", "event_probs")}
                torch.onnx.export(
                    wrapper,
                    (x,),
                    str(out),
                    dynamo=False,
                    dynamic_axes=axes,
                    opset_version=min(opset, 17),
                    **names,
                )
    finally:
        quiet.setLevel(level)
    proto = onnx.load(str(out))
    for k, v in metadata(info).items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = k, v
    onnx.save(proto, str(out))


def run_exported(path: str | os.PathLike[str], x: np.ndarray, fmt: str) -> tuple[np.ndarray, ...]:
    """Run an exported file on raw log-mel x (B, T, F): (scene probs, event probs) as numpy."""
    if fmt == "onnx":
        import onnxruntime as ort

        sess = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        s, e = sess.run(["scene_probs", "event_probs"], {"logmel": x.astype(np.float32)})
        return np.asarray(s), np.asarray(e)
    loaded = torch.jit.load(str(path), map_location="cpu")
    with torch.inference_mode():
        s_t, e_t = loaded(torch.from_numpy(x.astype(np.float32)))
    return s_t.numpy(), e_t.numpy()


# --- parameters and MACs ---------------------------------------------------------------------
def count_macs(model: nn.Module, x: Tensor) -> dict[str, int]:
    """Multiply-accumulates of one forward pass on ``x``, from conv and linear layers.

    Forward hooks on every ``nn.Conv1d/2d/3d`` (``out elements x in_channels/groups x kernel
    size``) and ``nn.Linear`` (``out elements x in_features``) count the MACs they did; biases,
    BatchNorm, pooling and activations are not counted (the usual convention, they are a few
    per mille here).

    Kept rather than ``torch.utils.flop_counter.FlopCounterMode``, which gives exactly twice
    these numbers on this model (tests/inference/test_export.py checks it, total and per
    tower): the hooks give the per-child breakdown ``rgasc info`` prints directly, where
    FlopCounterMode's report is keyed by nested, root-class-prefixed names whose subtotals
    would have to be picked apart (a ModuleList of blocks has no entry of its own), and they
    state the conv + linear convention explicitly (FlopCounterMode would also count any
    functional matmul; the model has none).

    Returns:
        {"total": n, <top-level child name>: n, ...} for the whole input batch.
    """
    counts: dict[str, int] = {"total": 0}
    hooks = []

    def hook(name: str) -> Any:
        def fn(mod: nn.Module, _inp: Any, out: Tensor) -> None:
            if isinstance(mod, nn.Linear):
                macs = out.numel() * mod.in_features
            else:
                assert isinstance(mod, nn.Conv1d | nn.Conv2d | nn.Conv3d)
                macs = out.numel() * (mod.in_channels // mod.groups) * int(np.prod(mod.kernel_size))
            counts["total"] += int(macs)
            top = name.split(".")[0] or "model"
            counts[top] = counts.get(top, 0) + int(macs)

        return fn

    for name, mod in model.named_modules():
        if isinstance(mod, nn.Conv1d | nn.Conv2d | nn.Conv3d | nn.Linear):
            hooks.append(mod.register_forward_hook(hook(name)))
    try:
        with torch.inference_mode():
            model(x)
    finally:
        for h in hooks:
            h.remove()
    return counts


def model_summary(run_or_checkpoint: str | os.PathLike[str]) -> dict[str, Any]:
    """``rgasc info``: sizes, MACs per 10-s clip, front-end, labels and training provenance."""
    model, info = load_checkpoint(run_or_checkpoint)
    cfg10 = info.feature_config.replace(clip_seconds=10.0)
    t10 = cfg10.n_frames
    macs = count_macs(model.eval(), torch.zeros(1, t10, len(info.norm_mean)))
    towers = {
        "scene": macs.get("scene_tower", 0) + macs.get("scene_fc1", 0) + macs.get("scene_out", 0),
        "event": macs.get("event_tower", 0) + macs.get("event_fc1", 0) + macs.get("event_out", 0),
    }
    extra = {k: v for k, v in info.extra.items() if k not in ("train_config", "relation_prior")}
    summary: dict[str, Any] = {
        "checkpoint": str(info.path),
        "parameters": {
            "total": n_parameters(model),
            **{
                p: sum(t.numel() for t in tower_parameters(model, p))
                for p in ("shared", "scene", "event")
            },
        },
        "macs_per_10s_clip": {"total": macs["total"], "shared": macs.get("shared", 0), **towers},
        "frames_per_10s_clip": t10,
        "model_config": info.model_config.to_dict(),
        "feature_config": info.feature_config.to_dict(),
        "n_scenes": len(info.scenes),
        "n_events": len(info.events),
        "scenes": info.scenes,
        "training": extra,
        "versions": info.versions,
    }
    metrics = info.path.parent.parent / METRICS_FILE
    if info.path.parent.name == CHECKPOINTS_DIR and metrics.is_file():
        try:
            m = json.loads(metrics.read_text())
            summary["test"] = {
                k: m["test"][k] for k in ("macro_accuracy", "log_loss") if k in m.get("test", {})
            }
        except (ValueError, TypeError, AttributeError) as e:
            raise RgascError(f"{metrics}: unreadable metrics file ({e})") from e
    return summary


def flat_items(d: Mapping[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """Nested mappings as (dotted key, leaf value) pairs, in order: ``{"optim": {"lr": 1e-3}}``
    -> ``[("optim.lr", 0.001)]``. An empty mapping is a leaf (shown as ``{}``)."""
    out: list[tuple[str, Any]] = []
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, Mapping) and v:
            out += flat_items(v, key + ".")
        else:
            out.append((key, v))
    return out


def one_based_epochs(d: Mapping[str, Any]) -> dict[str, Any]:
    """``d`` with every stored 0-based ``epoch`` (Lightning's index, as best.pt keeps it) shown
    as the 1-based ``selected_epoch`` a person counts, at any depth."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        if k == "epoch" and isinstance(v, int) and not isinstance(v, bool):
            out["selected_epoch"] = v + 1
        else:
            out[k] = one_based_epochs(v) if isinstance(v, Mapping) else v
    return out


def _value(v: Any, most: int = 8) -> str:
    """A leaf as a person reads it: floats in 6 significant digits, lists comma-separated
    (the first ``most`` of a longer one, and its length)."""
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, list | tuple):
        head = ", ".join(_value(x) for x in v[:most])
        return head if len(v) <= most else f"{head}, ... ({len(v)} values)"
    return "-" if v is None else str(v)


def aligned(title: str, d: Mapping[str, Any], width: int = 12) -> list[str]:
    """``d`` flattened (:func:`flat_items`) as one line per leaf, keys and values in two
    columns, the first line headed by ``title`` in a ``width``-wide first column."""
    items = flat_items(d)
    if not items:
        return []
    pad = max(len(k) for k, _ in items)
    heads = [title] + [""] * (len(items) - 1)
    return [
        f"{h:<{width}}{k:<{pad}}  {_value(v)}".rstrip()
        for h, (k, v) in zip(heads, items, strict=True)
    ]


def format_summary(s: dict[str, Any]) -> str:
    """Human-readable lines of :func:`model_summary`; nested training metadata flattened to
    aligned ``key  value`` lines. The selected epoch is shown 1-based (``selected_epoch``;
    the stored ``epoch`` is Lightning's 0-based index: :func:`one_based_epochs`)."""
    p, m, mc = s["parameters"], s["macs_per_10s_clip"], s["model_config"]
    fc = s["feature_config"]
    lines = [
        f"checkpoint  {s['checkpoint']}",
        f"model       RGASC over {mc.get('backbone', 'cnn14')}, N={mc['shared_blocks']} shared "
        f"stages, width {mc['width']:g}, learned R: {mc['learn_relation']}",
        f"parameters  {p['total']:,} (shared {p['shared']:,}, scene tower {p['scene']:,}, "
        f"event tower {p['event']:,})",
        f"MACs/10 s   {m['total'] / 1e9:.3f} G (shared {m['shared'] / 1e9:.3f} G, scene "
        f"{m['scene'] / 1e9:.3f} G, event {m['event'] / 1e9:.3f} G) on "
        f"{s['frames_per_10s_clip']} frames",
        f"features    {fc.get('frontend', 'paper')} front-end, {fc['sample_rate']} Hz, "
        f"n_fft {fc['n_fft']}, hop {fc['hop_length']}, "
        f"{fc['n_mels']} mel {fc['fmin']:g}-{fc['fmax']:g} Hz, power {fc['power']:g}, "
        f"clips {fc['clip_seconds']:g} s",
        f"labels      {s['n_scenes']} scenes x {s['n_events']} events",
        f"scenes      {', '.join(s['scenes'])}",
    ]
    lines += aligned("training", one_based_epochs(s["training"]))
    lines += aligned("test", s.get("test") or {})
    lines += aligned("versions", s["versions"])
    return "\n".join(lines)

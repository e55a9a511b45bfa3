"""rgasc.inference.export: ONNX/TorchScript parity, the input contract, MAC counter, summary."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch
from torch import nn

import rgasc
from helpers.checkpoints import EVENTS, SCENES, make_run, tone
from helpers.scene_head import randomise_scene_head
from rgasc.errors import ArtefactError
from rgasc.inference.export import (
    PARITY_TOLERANCE,
    count_macs,
    example_input,
    export_model,
    model_summary,
    run_exported,
)
from rgasc.models import n_parameters
from rgasc.models.checkpoint import load_model as load_checkpoint

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    # random scene head: an untrained one gives constant scene outputs (see the helper)
    return randomise_scene_head(make_run(tmp_path_factory.mktemp("h8exp")))


def _check_against_predictor(run: Path, path: Path, fmt: str) -> None:
    """The exported file on raw log-mel equals the Predictor on the same audio."""
    p = rgasc.load_model(run)
    wav = torch.from_numpy(np.stack([tone(1.0, 16000, seed=s) for s in range(4)]))
    raw = p.frontend(wav).numpy()  # un-normalised log-mel: the exported input
    scene, event = run_exported(path, raw, fmt)
    ref_s, ref_e = p.predict_windows(wav.numpy())
    assert scene.shape == (4, len(SCENES)) and event.shape == (4, len(EVENTS))
    np.testing.assert_allclose(scene, ref_s, atol=PARITY_TOLERANCE)
    np.testing.assert_allclose(event, ref_e, atol=PARITY_TOLERANCE)


def test_torchscript_parity(run: Path, tmp_path: Path) -> None:
    out = tmp_path / "m.pt"
    r = export_model(run, out, "torchscript")
    assert r.max_abs_diff < PARITY_TOLERANCE and out.is_file()
    _check_against_predictor(run, out, "torchscript")
    extra = {"rgasc.json": ""}
    torch.jit.load(str(out), _extra_files=extra)
    assert json.loads(json.loads(extra["rgasc.json"])["rgasc.scenes"]) == SCENES


def test_onnx_parity_with_onnxruntime(run: Path, tmp_path: Path) -> None:
    import onnx

    out = tmp_path / "m.onnx"
    r = export_model(run, out, "onnx", dynamo=False)
    assert r.max_abs_diff < PARITY_TOLERANCE
    _check_against_predictor(run, out, "onnx")  # batch 4: the batch axis is dynamic
    meta = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert json.loads(meta["rgasc.events"]) == EVENTS and "un-normalised" in meta["rgasc.input"]


@pytest.mark.slow
def test_onnx_dynamo_exporter(run: Path, tmp_path: Path) -> None:
    out = tmp_path / "d.onnx"
    assert export_model(run, out, "onnx", dynamo=True).max_abs_diff < PARITY_TOLERANCE
    _check_against_predictor(run, out, "onnx")


def test_export_refuses_unknown_format(run: Path, tmp_path: Path) -> None:
    with pytest.raises(ArtefactError, match="onnx or torchscript"):
        export_model(run, tmp_path / "m.tflite", "tflite")
    assert not (tmp_path / "m.tflite").exists()


def test_example_input_is_in_the_training_range(run: Path) -> None:
    _, info = load_checkpoint(run)
    x = example_input(info, batch=64)
    assert x.shape == (64, 61, 64)
    np.testing.assert_allclose(x.mean((0, 1)).numpy(), info.norm_mean, atol=0.5)


# --- MACs and info -------------------------------------------------------------------------------
def test_mac_counter_hand_computed() -> None:
    net = nn.Sequential(
        nn.Conv2d(2, 3, kernel_size=3, padding=1),  # out 3x4x5, 2*9 MACs each: 60*18 = 1080
        nn.Conv2d(3, 6, kernel_size=(1, 3), groups=3),  # out 6x4x3, (3/3)*3 each: 72*3 = 216
        nn.Flatten(),
        nn.Linear(72, 10),  # 720
        nn.ReLU(),
        nn.Linear(10, 4),  # 40
    )
    counts = count_macs(net, torch.zeros(1, 2, 4, 5))
    assert counts["0"] == 1080 and counts["1"] == 216 and counts["3"] == 720
    assert counts["total"] == 1080 + 216 + 720 + 40
    # batch 2 counts twice, and the hooks are gone afterwards
    assert count_macs(net, torch.zeros(2, 2, 4, 5))["total"] == 2 * counts["total"]
    assert all(not m._forward_hooks for m in net.modules())


def test_mac_counter_equals_half_of_torch_flop_counter() -> None:
    """Our conv + linear MACs are FlopCounterMode's FLOPs / 2, in total and per tower.

    FlopCounterMode counts every matmul-like aten op (conv, mm, addmm, bmm...); the model has
    no other, so the two agree exactly. A functional matmul added to the model would show
    up here as a difference.
    """
    from torch.utils.flop_counter import FlopCounterMode

    from rgasc.models import RGASC, ModelConfig

    torch.manual_seed(0)
    model = RGASC(ModelConfig(n_scenes=3, n_events=7, shared_blocks=2, width=1 / 16)).eval()
    x = torch.zeros(2, 96, 64)
    ours = count_macs(model, x)
    flops = FlopCounterMode(display=False)
    with flops, torch.inference_mode():
        model(x)
    assert 2 * ours["total"] == flops.get_total_flops() > 0
    # FlopCounterMode keys modules "RGASC.<path>" (subtree totals; a ModuleList, never
    # called, has no entry): add up the leaf layers under each top-level child
    by_module = {k: sum(v.values()) for k, v in flops.get_flop_counts().items()}
    leaves = [n for n, m in model.named_modules() if n and not list(m.children())]
    for child in ("shared", "scene_tower", "event_tower", "scene_fc1", "scene_out", "event_out"):
        theirs = sum(by_module.get(f"RGASC.{n}", 0) for n in leaves if n.split(".")[0] == child)
        assert 2 * ours[child] == theirs > 0


def test_model_summary(run: Path) -> None:
    s = model_summary(run)
    model, _ = load_checkpoint(run)
    p = s["parameters"]
    assert p["total"] == n_parameters(model) == p["shared"] + p["scene"] + p["event"]
    m = s["macs_per_10s_clip"]
    assert s["frames_per_10s_clip"] == (160000 - 256) // 256  # 10 s of the 16-kHz front-end
    assert m["total"] == m["shared"] + m["scene"] + m["event"] > 0
    # the first conv (1 -> 4 channels, 3x3) alone does T*F*4*9 MACs on the 10-s input
    assert m["shared"] > s["frames_per_10s_clip"] * 64 * 4 * 9
    assert s["n_scenes"] == 3 and s["n_events"] == 5 and s["training"]["epoch"] == 3
    assert s["test"]["macro_accuracy"] == 0.5

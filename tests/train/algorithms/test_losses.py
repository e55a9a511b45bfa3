"""rgasc.train.algorithms.losses: each equation against hand-computed values, detach semantics,
eq. 8."""

from __future__ import annotations

import math

import pytest
import torch

from rgasc.errors import LabelSpaceError, RgascError
from rgasc.models import RGASC, ModelConfig, RelationPrior, TwoTowerOutput, tower_parameters
from rgasc.train.algorithms.losses import (
    LossConfig,
    RGASCLoss,
    event_by_scene_loss,
    event_loss,
    scene_by_event_loss,
    scene_loss,
    total_loss,
)

# Hand-made case, K = 2 scenes, E = 3 events:
# scene logits [0, ln 3] -> softmax p = [1/4, 3/4];
# R = [[1, 0, 1/2], [0, 1, 1/2]] -> p @ R = [1/4, 3/4, 1/2];
# event probs q = [1/4, 1/4, 1] -> q @ R^T = [1/4 + 1/2, 1/4 + 1/2] = [3/4, 3/4].
LN3 = math.log(3.0)
SCENE = torch.tensor([[0.0, LN3]])
R = torch.tensor([[1.0, 0.0, 0.5], [0.0, 1.0, 0.5]])
Q = torch.tensor([[0.25, 0.25, 1.0]])


def close(a: torch.Tensor, b: float | torch.Tensor) -> None:
    x, y = float(a.detach()), float(torch.as_tensor(b).detach())
    assert abs(x - y) < 1e-6, (x, y)


def test_scene_loss_hand_value() -> None:
    logits = torch.tensor([[0.0, LN3], [0.0, LN3]])
    # -log(3/4) for target 1, -log(1/4) for target 0, mean of the two.
    close(scene_loss(logits, torch.tensor([1, 0])), (math.log(4 / 3) + math.log(4)) / 2)


def test_event_loss_hand_value() -> None:
    logits = torch.tensor([[0.0, LN3]])  # sigmoid: 1/2, 3/4
    target = torch.tensor([[1.0, 0.5]])
    # -log(1/2); -(1/2 log 3/4 + 1/2 log 1/4) = 1/2 log(16/3); mean over E = 2.
    close(event_loss(logits, target), (math.log(2) + 0.5 * math.log(16 / 3)) / 2)
    # Soft targets: for a target t the minimum sits at sigmoid(logit) = t (zero gradient).
    at_t = logits.clone().requires_grad_()
    (g,) = torch.autograd.grad(event_loss(at_t, torch.sigmoid(logits)), [at_t])
    assert float(g.abs().max()) < 1e-7
    with pytest.raises(LabelSpaceError):
        event_loss(logits, torch.zeros(1, 3))


def test_event_by_scene_hand_values() -> None:
    # prob: (p @ R - q) = [0, 1/2, -1/2] -> mean of squares over 3 = 1/6.
    close(event_by_scene_loss(SCENE, Q, R), 1 / 6)
    # log: log p = [ln 1/4, ln 3/4]; log p @ R = [ln 1/4, ln 3/4, (ln 1/4 + ln 3/4) / 2].
    a, b = math.log(0.25), math.log(0.75)
    want = ((a - 0.25) ** 2 + (b - 0.25) ** 2 + ((a + b) / 2 - 1.0) ** 2) / 3
    close(event_by_scene_loss(SCENE, Q, R, space="log"), want)
    # Minimal (0) when the event output equals the mapped scene prediction.
    close(event_by_scene_loss(SCENE, torch.tensor([[0.25, 0.75, 0.5]]), R), 0.0)


def test_scene_by_event_hand_values() -> None:
    # prob: q @ R^T = [3/4, 3/4] against p = [1/4, 3/4] -> (1/4 + 0) / 2 = 1/8.
    close(scene_by_event_loss(SCENE, Q, R), 1 / 8)
    a, b = math.log(0.25), math.log(0.75)
    close(scene_by_event_loss(SCENE, Q, R, space="log"), ((0.75 - a) ** 2 + (0.75 - b) ** 2) / 2)


def test_relation_shape_mismatch_is_a_label_space_error() -> None:
    with pytest.raises(LabelSpaceError, match="relation matrix"):
        event_by_scene_loss(SCENE, Q, R.t())
    with pytest.raises(LabelSpaceError):
        scene_by_event_loss(SCENE, torch.rand(1, 4), R)


def fake_output(scene: torch.Tensor, event_logits: torch.Tensor) -> TwoTowerOutput:
    emb = torch.zeros(scene.shape[0], 1)
    return TwoTowerOutput(scene, event_logits, torch.sigmoid(event_logits), emb, emb)


def test_total_loss_is_the_weighted_sum() -> None:
    ev = torch.log(Q / (1 - Q.clamp(max=0.999)))  # logits whose sigmoid is ~Q
    out = fake_output(SCENE, ev)
    ys, ye = torch.tensor([1]), torch.tensor([[1.0, 0.0, 1.0]])
    cfg = LossConfig(lambdas=(1.0, 0.01, 0.5, 0.01))
    d = total_loss(out, ys, ye, R, cfg)
    assert set(d) == {"loss", "scene", "event", "e_by_scene", "s_by_event"}
    close(d["scene"], math.log(4 / 3))
    close(d["e_by_scene"], event_by_scene_loss(SCENE, out.event_probs, R))
    want = d["scene"] + 0.01 * d["s_by_event"] + 0.5 * d["event"] + 0.01 * d["e_by_scene"]
    close(d["loss"], want)


def test_zero_lambda_removes_the_term() -> None:
    out = fake_output(SCENE.clone().requires_grad_(), torch.randn(1, 3).requires_grad_())
    ys, ye = torch.tensor([0]), torch.rand(1, 3)
    d = total_loss(out, ys, ye, R, LossConfig(lambdas=(1.0, 0.0, 0.5, 0.0)))
    close(d["loss"], d["scene"] + 0.5 * d["event"])
    for name in ("s_by_event", "e_by_scene"):
        assert float(d[name]) == 0.0 and d[name].grad_fn is None


def tiny_model() -> RGASC:
    torch.manual_seed(0)
    return RGASC(ModelConfig(shared_blocks=2, width=1 / 16, n_scenes=4, n_events=6)).eval()


def grads(loss: torch.Tensor, params: list[torch.nn.Parameter]) -> list[torch.Tensor | None]:
    return list(torch.autograd.grad(loss, params, allow_unused=True, retain_graph=True))


def any_nonzero(gs: list[torch.Tensor | None]) -> bool:
    return any(g is not None and bool(g.abs().sum() > 0) for g in gs)


@pytest.mark.parametrize("space", ["prob", "log"])
def test_detach_semantics(space: str) -> None:
    model = tiny_model()
    out = model(torch.randn(3, 64, 64))
    rel = torch.rand(4, 6)
    scene_p, event_p = tower_parameters(model, "scene"), tower_parameters(model, "event")
    for grad_mode in ("paper", "both"):
        e_by_s = event_by_scene_loss(out.scene_logits, out.event_probs, rel, space, grad_mode)
        s_by_e = scene_by_event_loss(out.scene_logits, out.event_probs, rel, space, grad_mode)
        # Eq. 6 always trains the scene side, eq. 7 always the event side.
        assert any_nonzero(grads(e_by_s, scene_p))
        assert any_nonzero(grads(s_by_e, event_p))
        # The reference side gets a gradient only without detach ("both", authors' code).
        assert any_nonzero(grads(e_by_s, event_p)) == (grad_mode == "both")
        assert any_nonzero(grads(s_by_e, scene_p)) == (grad_mode == "both")


def test_zero_lambda_leaves_no_grad_path() -> None:
    model = tiny_model()
    out = model(torch.randn(2, 64, 64))
    ys, ye, rel = torch.tensor([0, 3]), torch.rand(2, 6), torch.rand(4, 6)
    scene_only = total_loss(out, ys, ye, rel, LossConfig(lambdas=(1.0, 0.0, 0.0, 0.0)))["loss"]
    assert not any_nonzero(grads(scene_only, tower_parameters(model, "event")))
    event_only = total_loss(out, ys, ye, rel, LossConfig(lambdas=(0.0, 0.0, 1.0, 0.0)))["loss"]
    assert not any_nonzero(grads(event_only, tower_parameters(model, "scene")))
    # With the relation terms on and grad="both", each tower reaches the other's loss.
    both = LossConfig(lambdas=(1.0, 1.0, 0.0, 0.0), relation_grad="both")
    assert any_nonzero(
        grads(total_loss(out, ys, ye, rel, both)["loss"], tower_parameters(model, "event"))
    )


def test_finite_gradients_on_saturated_outputs() -> None:
    scene = torch.tensor([[60.0, -60.0, 0.0]], requires_grad=True)
    ev = torch.tensor([[80.0, -80.0]], requires_grad=True)
    rel = torch.rand(3, 2)
    for space in ("prob", "log"):
        out = fake_output(scene, ev)
        cfg = LossConfig(lambdas=(1, 1, 1, 1), relation_space=space, relation_grad="both")
        d = total_loss(out, torch.tensor([1]), torch.tensor([[0.0, 1.0]]), rel, cfg)
        g_scene, g_ev = torch.autograd.grad(d["loss"], [scene, ev])
        assert bool(torch.isfinite(d["loss"])) and bool(torch.isfinite(g_scene).all())
        assert bool(torch.isfinite(g_ev).all())


def test_loss_config_validation_and_yaml_round_trip() -> None:
    cfg = LossConfig.from_dict({"lambdas": [1, 0, 0.5, 0], "relation_space": "log"})
    assert cfg.lambdas == (1.0, 0.0, 0.5, 0.0)
    assert LossConfig.from_dict(cfg.to_dict()) == cfg
    for bad in (
        {"lambdas": (0.0, 0.0, 0.0, 0.0)},
        {"lambdas": (1.0, -1.0, 0.0, 0.0)},
        {"lambdas": (1.0, 1.0)},
        {"relation_space": "logit"},
        {"relation_grad": "none"},
    ):
        with pytest.raises(RgascError):
            LossConfig(**bad)


def test_module_wrapper_trains_a_learnable_relation() -> None:
    prior = RelationPrior(torch.rand(2, 3), learn=True)
    crit = RGASCLoss(LossConfig(lambdas=(1.0, 1.0, 1.0, 1.0)), prior)
    assert [p is prior.raw for p in crit.parameters()] == [True]
    out = fake_output(SCENE, torch.randn(1, 3))
    d = crit(out, torch.tensor([0]), torch.rand(1, 3))
    d["loss"].backward()
    assert prior.raw.grad is not None and bool(prior.raw.grad.abs().sum() > 0)
    fixed = RGASCLoss(LossConfig(), R)
    assert list(fixed.parameters()) == []
    close(fixed(out, torch.tensor([1]), torch.rand(1, 3))["scene"], math.log(4 / 3))

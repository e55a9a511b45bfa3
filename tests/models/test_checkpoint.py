"""Self-describing checkpoints: weights-only loading, model rebuild, clear errors."""

from __future__ import annotations

import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from rgasc.errors import ArtefactError
from rgasc.features import FeatureConfig
from rgasc.models import RGASC, ModelConfig
from rgasc.models.checkpoint import FORMAT, load_model, save_model

SCENES = ["airport", "bus", "park"]
EVENTS = ["Speech", "Vehicle", "Bird", "Music"]


def _save(path: Path, **extra: object) -> tuple[RGASC, FeatureConfig, np.ndarray]:
    torch.manual_seed(0)
    cfg = ModelConfig(n_scenes=3, n_events=4, shared_blocks=2, width=1 / 16, n_mels=32)
    model = RGASC(cfg)
    with torch.no_grad():  # make the BN buffers non-trivial: they must round-trip too
        model.train()(torch.randn(4, 32, 32))
    fcfg = FeatureConfig(
        sample_rate=16000, n_fft=512, hop_length=256, n_mels=32, fmax=8000.0, clip_seconds=1.0
    )
    rel = np.random.default_rng(0).uniform(size=(3, 4)).astype(np.float32)
    save_model(
        path,
        model,
        model_config=cfg,
        feature_config=fcfg,
        scenes=SCENES,
        events=EVENTS,
        relation=rel,
        norm_mean=np.arange(32, dtype=np.float32),
        norm_std=np.ones(32, np.float32),
        extra={"epoch": 3, **extra},
    )
    return model, fcfg, rel


def test_checkpoint_loads_weights_only_and_rebuilds_the_model(tmp_path: Path) -> None:
    path = tmp_path / "best.pt"
    model, fcfg, rel = _save(path, note=Path("/x"), score=np.float32(0.5), arr=np.zeros(2))
    raw = torch.load(path, weights_only=True)
    assert raw["format"] == FORMAT and raw["scenes"] == SCENES and raw["events"] == EVENTS
    assert raw["extra"]["note"] == "/x" and raw["extra"]["score"] == 0.5
    assert set(raw["versions"]) >= {"rgasc", "torch", "lightning"}

    loaded, info = load_model(path)
    assert not loaded.training
    assert info.model_config == model.cfg and info.feature_config == fcfg
    assert info.scenes == SCENES and info.events == EVENTS and info.extra["epoch"] == 3
    np.testing.assert_array_equal(info.relation, rel)
    np.testing.assert_array_equal(info.norm_mean, np.arange(32))
    x = torch.randn(2, 40, 32)
    with torch.inference_mode():
        a, b = model.eval()(x), loaded(x)
    for u, v in zip(a, b, strict=True):
        torch.testing.assert_close(u, v)


def test_run_folder_resolves_to_best_pt(tmp_path: Path) -> None:
    (tmp_path / "checkpoints").mkdir()
    _save(tmp_path / "checkpoints" / "best.pt")
    _, info = load_model(tmp_path)
    assert info.path == tmp_path / "checkpoints" / "best.pt"
    with pytest.raises(ArtefactError, match="--resume"):
        load_model(tmp_path / "checkpoints")  # a folder without best.pt


def test_wrong_files_raise_artefact_errors(tmp_path: Path) -> None:
    with pytest.raises(ArtefactError, match="no such"):
        load_model(tmp_path / "missing.pt")
    (tmp_path / "text.pt").write_text("hello")
    with pytest.raises(ArtefactError, match="damaged or truncated checkpoint"):
        load_model(tmp_path / "text.pt")
    torch.save({"state_dict": {}}, tmp_path / "other.pt")
    with pytest.raises(ArtefactError, match="format None"):
        load_model(tmp_path / "other.pt")
    # a pickled class is refused by the weights-only loader (no code runs)
    (tmp_path / "obj.ckpt").write_bytes(pickle.dumps(ArtefactError("x")))
    with pytest.raises(ArtefactError, match="Lightning .ckpt"):
        load_model(tmp_path / "obj.ckpt")
    # weights that do not fit their config
    _save(tmp_path / "bad.pt")
    raw = torch.load(tmp_path / "bad.pt", weights_only=True)
    raw["model_config"]["width"] = 0.125
    torch.save(raw, tmp_path / "bad.pt")
    with pytest.raises(ArtefactError, match="does not rebuild"):
        load_model(tmp_path / "bad.pt")


def test_save_checks_names_and_extra(tmp_path: Path) -> None:
    cfg = ModelConfig(n_scenes=3, n_events=4, width=1 / 16, n_mels=32)
    model = RGASC(cfg)
    kw = dict(
        model_config=cfg,
        feature_config=FeatureConfig(),
        scenes=SCENES,
        relation=np.zeros((3, 4)),
        norm_mean=np.zeros(64),
        norm_std=np.ones(64),
    )
    with pytest.raises(ArtefactError, match="4 events"):
        save_model(tmp_path / "a.pt", model, events=EVENTS[:3], **kw)  # type: ignore[arg-type]
    with pytest.raises(TypeError, match="extra.obj"):
        save_model(tmp_path / "b.pt", model, events=EVENTS, extra={"obj": object()}, **kw)  # type: ignore[arg-type]
    assert not list(tmp_path.glob("*.pt"))


def _one_line_damage(message: str, path: Path) -> None:
    """The message a damaged checkpoint must give: one line, our words, the fix."""
    assert message.startswith(f"{path}: damaged or truncated checkpoint (")
    assert message.endswith("); copy it again") and "\n" not in message
    # torch's own text is cut mid-sentence or advises weights_only=False: never quoted
    assert "weights_only" not in message and "miniz" not in message


@pytest.mark.parametrize("keep", [0.0, 0.01, 0.5, 0.99])
def test_truncated_checkpoint_says_so_in_one_line(tmp_path: Path, keep: float) -> None:
    whole = tmp_path / "whole.pt"
    _save(whole)
    data = whole.read_bytes()
    cut = tmp_path / "best.pt"
    cut.write_bytes(data[: int(len(data) * keep)])
    with pytest.raises(ArtefactError) as info:
        load_model(cut)
    _one_line_damage(str(info.value), cut)


@pytest.mark.parametrize(
    "garbage",
    [b"hello world" * 40, bytes(range(256)) * 4, b"\x80\x04\x95 torn pickle", b"PK\x03\x04rest"],
)
def test_garbage_checkpoint_says_damaged_without_torch_advice(
    tmp_path: Path, garbage: bytes
) -> None:
    path = tmp_path / "best.pt"
    path.write_bytes(garbage)
    with pytest.raises(ArtefactError) as info:
        load_model(path)
    _one_line_damage(str(info.value), path)


@pytest.mark.parametrize("command", ["info", "predict"])
def test_cli_reports_a_truncated_checkpoint_in_one_line(
    tmp_path: Path, command: str, capsys: pytest.CaptureFixture[str]
) -> None:
    from rgasc.cli import main

    _save(tmp_path / "whole.pt")
    cut = tmp_path / "best.pt"
    cut.write_bytes((tmp_path / "whole.pt").read_bytes()[:5000])
    (tmp_path / "a.wav").write_bytes(b"")  # never read: the model loads first
    args = ["--model", str(cut)] + ([str(tmp_path / "a.wav")] if command == "predict" else [])
    with pytest.raises(SystemExit) as done:
        main([command, *args])
    assert done.value.code == 2
    err = capsys.readouterr().err.strip()
    assert err.startswith("error: ") and "\n" not in err
    _one_line_damage(err.removeprefix("error: "), cut)

"""`rgasc download`, `rgasc synth` and `rgasc features`."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from rgasc.cli import app
from rgasc.data import DcaseDataset
from rgasc.features import FeatureConfig, open_cache

CFG = FeatureConfig(clip_seconds=1.0)


def test_cli_download_list_and_unknown_name() -> None:
    res = CliRunner().invoke(app, ["download", "--list"])
    assert res.exit_code == 0 and "tut2018" in res.output and "21.4 GB" in res.output
    # a name outside the registry is a usage error that lists the known ones
    res = CliRunner().invoke(app, ["download", "tut2099", "--root", "/nonexistent"])
    assert res.exit_code == 2 and "tut2018" in res.output


def test_cli_synth(tmp_path: Path) -> None:
    out = tmp_path / "cli"
    res = CliRunner().invoke(
        app, ["synth", str(out), "--clips", "3", "--duration", "0.5", "--scenes", "park,bus,tram"]
    )
    assert res.exit_code == 0, res.output
    assert "3 clips" in res.output and "park 1" in res.output
    assert len(DcaseDataset(out)) == 3


def test_cli_features(tiny_dataset: Path, tmp_path: Path) -> None:
    args = ["features", str(tiny_dataset), "--out", str(tmp_path / "out"), "--clip-seconds", "1"]
    res = CliRunner().invoke(app, [*args, "--n-mels", "40", "--no-progress"])
    assert res.exit_code == 0, res.output
    cache = open_cache(tmp_path / "out")
    assert cache.features.shape == (24, CFG.n_frames, 40)
    assert cache.config == CFG.replace(n_mels=40)


def test_cli_features_hop_length_and_its_old_spelling(tiny_dataset: Path, tmp_path: Path) -> None:
    base = ["features", str(tiny_dataset), "--clip-seconds", "1", "--no-progress"]
    res = CliRunner().invoke(app, [*base, "--out", str(tmp_path / "new"), "--hop-length", "1024"])
    assert res.exit_code == 0, res.output
    assert res.stderr == ""
    assert open_cache(tmp_path / "new").config == CFG.replace(hop_length=1024)

    res = CliRunner().invoke(app, [*base, "--out", str(tmp_path / "old"), "--hop", "1024"])
    assert res.exit_code == 0, res.output
    assert "--hop is deprecated, use --hop-length" in res.stderr
    assert open_cache(tmp_path / "old").config == CFG.replace(hop_length=1024)

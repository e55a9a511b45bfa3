"""`rgasc download`, `rgasc synth` and `rgasc features`."""

from __future__ import annotations

import dataclasses
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
        app,
        [
            "synth",
            "--out",
            str(out),
            "--clips",
            "3",
            "--clip-seconds",
            "0.5",
            "--scenes",
            "park,bus,tram",
        ],
    )
    assert res.exit_code == 0, res.output
    assert "3 clips" in res.output and "park 1" in res.output
    assert len(DcaseDataset(out)) == 3


def test_cli_features(tiny_dataset: Path, tmp_path: Path) -> None:
    args = [
        "features",
        "--dataset",
        str(tiny_dataset),
        "--out",
        str(tmp_path / "out"),
        "--clip-seconds",
        "1",
    ]
    res = CliRunner().invoke(app, [*args, "--n-mels", "40", "--no-progress"])
    assert res.exit_code == 0, res.output
    cache = open_cache(tmp_path / "out")
    assert cache.features.shape == (24, CFG.n_frames, 40)
    assert cache.config == CFG.replace(n_mels=40)


def test_cli_features_options_come_from_the_config(tiny_dataset: Path, tmp_path: Path) -> None:
    base = ["features", "--dataset", str(tiny_dataset), "--clip-seconds", "1", "--no-progress"]
    res = CliRunner().invoke(app, [*base, "--out", str(tmp_path / "new"), "--hop-length", "1024"])
    assert res.exit_code == 0, res.output
    assert res.stderr == ""
    assert open_cache(tmp_path / "new").config == CFG.replace(hop_length=1024)

    # every FeatureConfig field is an option, with the dataclass's default in --help
    res = CliRunner().invoke(app, [*base, "--out", str(tmp_path / "hann"), "--window", "hann"])
    assert res.exit_code == 0, res.output
    assert open_cache(tmp_path / "hann").config == CFG.replace(window="hann")
    res = CliRunner().invoke(app, ["features", "--help"], env={"COLUMNS": "200"})
    for field in dataclasses.fields(FeatureConfig):
        assert "--" + field.name.replace("_", "-") in res.output, field.name
    assert "(1376)" in res.output  # the hop length, from the dataclass
    # a value the config refuses is a usage error naming it
    res = CliRunner().invoke(app, [*base, "--out", str(tmp_path / "x"), "--hop-length", "4096"])
    assert res.exit_code == 2 and "hop_length" in res.output

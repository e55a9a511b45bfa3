"""`rgasc download`, `rgasc synth` and `rgasc features`."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
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


def test_cli_prepare_help_shows_the_defaults() -> None:
    res = CliRunner().invoke(app, ["prepare", "--help"], env={"COLUMNS": "200"})
    assert res.exit_code == 0
    lines = {ln.split()[1]: ln for ln in res.output.splitlines() if ln.strip("│ ").startswith("--")}
    assert "[default: link]" in lines["--copy"]
    assert "[default: no-skip-bad]" in lines["--skip-bad"]


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


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """``rgasc ARGS`` through the real entry point: (exit code, stdout, stderr)."""
    from rgasc.cli import main

    with pytest.raises(SystemExit) as done:
        main(args)
    out = capsys.readouterr()
    return int(done.value.code or 0), out.out, out.err


def test_cli_features_lists_every_bad_clip_in_one_pass(
    tiny_dataset: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Three bad files: one run names all three, keeps the good work, and suggests the
    user's own command with --skip-bad; that command then finishes, counting apart."""
    import shlex

    ds = DcaseDataset(tiny_dataset)
    bad = [ds.clips[i] for i in (2, 9, 17)]
    for c in bad:
        ds.audio_path(c).write_bytes(b"RIFF not a wave")
    feat = tmp_path / "feat"
    args = ["features", "--dataset", str(ds.root), "--out", str(feat), "--clip-seconds", "1"]
    code, _, err = _run([*args, "--n-mels", "40", "--no-progress"], capsys)
    assert code == 2
    msg = err.strip()
    assert msg.startswith("error: 3 of 24 clips are bad: ") and "\n" not in msg
    assert all(c.filename in msg for c in bad)
    assert "bad_clips.csv)" in msg
    command = msg.split("`")[-2]
    words = shlex.split(command)

    def value(flag: str) -> str:
        return words[words.index(flag) + 1]

    # the user's whole command (every option they gave), with --skip-bad added
    assert words[:2] == ["rgasc", "features"] and "--skip-bad" in words
    assert (value("--dataset"), value("--out"), value("--n-mels")) == (
        str(ds.root),
        str(feat),
        "40",
    )
    assert float(value("--clip-seconds")) == 1.0 and "--no-progress" in words
    code, out, _ = _run(shlex.split(command)[1:], capsys)
    assert code == 0
    # the 21 good clips were computed by the failed run and kept: only counted as reused
    assert "21 reused, 0 computed, 3 bad" in out
    code, out, _ = _run(
        [*args, "--n-mels", "40", "--out", str(tmp_path / "b"), "--skip-bad"], capsys
    )
    assert code == 0 and "0 reused, 21 computed, 3 bad" in out

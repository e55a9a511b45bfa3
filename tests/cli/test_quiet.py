"""`rgasc train` output: one line per stage, Lightning's banners silenced (back with
--verbose), bad clips as one clean line; evaluate refuses features older than the audio."""

from __future__ import annotations

from pathlib import Path

import pytest
import soundfile as sf

from helpers.training import make_inputs


def _run(capfd: pytest.CaptureFixture[str], args: list[str]) -> tuple[int, list[str]]:
    from rgasc.cli import main

    with pytest.raises(SystemExit) as e:
        main(args)
    out, err = capfd.readouterr()
    lines = [ln for ln in (out + err).splitlines() if ln.strip()]
    return int(e.value.code or 0), lines


def test_one_epoch_train_prints_a_handful_of_lines(
    tmp_path: Path, capfd: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    from helpers.training import TINY_FEATURES
    from rgasc.data import DcaseDataset
    from rgasc.features import compute_features

    inputs = make_inputs(tmp_path / "in")
    ds = DcaseDataset(inputs.dataset)
    bad = next(c for c in ds.split("train") if c.scene == "bus")
    good_bytes = ds.audio_path(bad).read_bytes()
    ds.audio_path(bad).write_bytes(b"not a wav")
    compute_features(ds, inputs.features, TINY_FEATURES, skip_bad=True, progress=False)
    capfd.readouterr()
    run = tmp_path / "run"
    args = [
        "train",
        "--dataset",
        str(inputs.dataset),
        "--features",
        str(inputs.features),
        "--labels",
        str(inputs.labels),
        "--relation",
        str(inputs.relation),
        "--out",
        str(run),
        "--epochs",
        "1",
        "--width",
        "0.0625",
        "--batch-size",
        "8",
        "--accelerator",
        "cpu",
        "--no-progress-bar",
    ]
    code, lines = _run(capfd, args)
    assert code == 0, lines
    text = "\n".join(lines)
    assert len(lines) <= 6, text  # run, selected epoch, val, test, the bad-clip line
    for noise in (
        "GPU available",
        "TPU available",
        "litlogger",
        "site-packages",
        "log_every_n_steps",
        "UserWarning",
    ):
        assert noise not in text, noise
    warned = [ln for ln in lines if "leaving out 1 train clip" in ln]
    assert len(warned) == 1 and warned[0].startswith("warning: ")

    assert "GPU available" not in caplog.text
    code, lines = _run(
        capfd,
        ["train", "--resume", "--out", str(run), "--epochs", "2", "--verbose", "--no-progress-bar"],
    )
    # Lightning logs to stderr, or (when pytest's handlers came first) to pytest's capture
    assert code == 0 and "GPU available" in "\n".join(lines) + caplog.text

    # evaluate: the audio of a clip changed after its features were computed
    ds.audio_path(bad).write_bytes(good_bytes)
    clip = ds.audio_path(ds.split("test")[0])
    x, sr = sf.read(clip)
    sf.write(clip, 0.5 * x, sr)
    code, lines = _run(capfd, ["evaluate", "--model", str(run), "--accelerator", "cpu"])
    assert code == 2 and len(lines) == 1
    assert "computed before their audio" in lines[0] and "rgasc features" in lines[0]

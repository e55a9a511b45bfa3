"""`rgasc tag` and `rgasc relation`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import soundfile as sf
from typer.testing import CliRunner

from helpers.relation import expected_relation, hand_labels
from helpers.teachers import write_events
from rgasc.cli import app
from rgasc.data.datasets import DcaseDataset
from rgasc.errors import RgascError
from rgasc.labels.files import read_labels, write_labels
from rgasc.labels.tagging import tag_dataset
from rgasc.relation import load_relation
from rgasc.teachers import get_teacher


# --- tag ---------------------------------------------------------------------------------------
def test_annotations_teacher_and_cli(tiny_dataset: Path, tmp_path: Path) -> None:
    ds = DcaseDataset(tiny_dataset)
    write_events(
        ds.root,
        [c.filename for c in ds.clips],
        {c.key: ["engine"] if c.scene == "bus" else ["bird", "wind"] for c in ds.clips},
    )
    out = tmp_path / "ann.csv"
    res = CliRunner().invoke(
        app, ["tag", "--dataset", str(ds.root), "--teacher", "annotations", "--out", str(out)]
    )
    assert res.exit_code == 0, res.output
    pl = read_labels(out)
    assert pl.labels == ["bird", "engine", "wind"]
    bus = [i for i, f in enumerate(pl.filenames) if "bus-" in f]
    np.testing.assert_array_equal(pl.probs[bus], [[0, 1, 0]] * len(bus))
    direct = tag_dataset(
        ds,
        get_teacher("annotations", dataset=ds.root, noise=0.2),
        tmp_path / "n.h5",
        progress=False,
    )
    assert (direct.probs != pl.probs).any()
    res = CliRunner().invoke(
        app,
        [
            "tag",
            "--dataset",
            str(ds.root),
            "--teacher",
            "annotations",
            "--out",
            str(tmp_path / "y.txt"),
        ],
    )
    assert res.exit_code != 0


def test_tag_class_labels_and_device_options(
    tiny_dataset: Path, tmp_path: Path, built: list[dict[str, Any]]
) -> None:
    csv = tmp_path / "class_labels_indices.csv"
    base = ["tag", "--dataset", str(tiny_dataset), "--teacher", "panns-cnn14-16k"]
    new = ["--class-labels", str(csv), "--accelerator", "cpu", "--devices", "1"]
    res = CliRunner().invoke(app, [*base, "--out", str(tmp_path / "a.h5"), *new])
    assert res.exit_code == 0, res.output
    assert built[-1]["name"] == "panns-cnn14-16k"
    assert built[-1]["labels"] == csv and built[-1]["device"] == "cpu"
    assert built[-1]["gain"] == "rms:-20"  # the measured default level rule
    assert read_labels(tmp_path / "a.h5").probs.shape[0] > 0
    res = CliRunner().invoke(app, [*base, "--out", str(tmp_path / "c.h5"), "--gain", "none"])
    assert res.exit_code == 0 and built[-1]["gain"] == "none"
    # --labels is always a pseudo-label file: the teacher's class list is --class-labels only
    res = CliRunner().invoke(app, [*base, "--out", str(tmp_path / "b.h5"), "--labels", str(csv)])
    assert res.exit_code == 2 and "--class-labels" in res.output


def test_tag_teacher_typo_is_a_usage_error(tiny_dataset: Path, tmp_path: Path) -> None:
    res = CliRunner().invoke(
        app,
        [
            "tag",
            "--dataset",
            str(tiny_dataset),
            "--teacher",
            "pans",
            "--out",
            str(tmp_path / "x.h5"),
        ],
    )
    assert res.exit_code == 2
    for name in ("panns-cnn14-16k", "panns-cnn14", "yamnet", "annotations"):
        assert name in res.output


# --- relation ----------------------------------------------------------------------------------
def test_cli_relation(tiny_dataset: Path, tmp_path: Path) -> None:
    ds = DcaseDataset(tiny_dataset)
    labels = tmp_path / "labels.csv"
    write_labels(labels, hand_labels(ds))
    out = tmp_path / "rel"
    args = ["relation", "--labels", str(labels), "--dataset", str(ds.root), "--out", str(out)]
    res = CliRunner().invoke(app, [*args, "--top-k", "2", "--evaluate"])
    assert res.exit_code == 0, res.output
    assert "macro accuracy 1.0000" in res.output
    assert json.loads((out / "lookup.json").read_text())["macro_accuracy"] == 1.0
    rel = load_relation(out)
    expected = expected_relation(ds, hand_labels(ds), "train")
    np.testing.assert_allclose(rel.matrix, expected, atol=1e-5)
    assert len((out / "top_events.csv").read_text().splitlines()) == 1 + 2 * len(ds.scenes)

    res = CliRunner().invoke(app, [*args, "--split", "all", "--binarize", "0.5"])
    assert res.exit_code == 0, res.output
    assert load_relation(out).meta["split"] == "all"

    # the test split is not a choice: a usage error that lists the valid ones
    res = CliRunner().invoke(app, [*args, "--split", "test"])
    assert res.exit_code == 2 and not isinstance(res.exception, RgascError)
    assert "train" in res.output and "trainval" in res.output and "all" in res.output


def test_cli_relation_prints_top_k_events_per_scene(tiny_dataset: Path, tmp_path: Path) -> None:
    ds = DcaseDataset(tiny_dataset)
    labels = tmp_path / "labels.csv"
    write_labels(labels, hand_labels(ds))
    args = ["relation", "--labels", str(labels), "--dataset", str(ds.root)]
    for k, shown in ((1, 1), (2, 2), (10, 3)):  # a preview: at most 3 in the terminal
        res = CliRunner().invoke(app, [*args, "--out", str(tmp_path / f"r{k}"), "--top-k", str(k)])
        assert res.exit_code == 0, res.output
        rows = [ln for ln in res.output.splitlines() if ln.startswith("  ")]
        assert [r.split(":")[0].strip() for r in rows] == ds.scenes
        assert all(r.count(", ") == shown - 1 for r in rows), rows


def _run(args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    """``rgasc ARGS`` through the real entry point: (exit code, stdout, stderr)."""
    from rgasc.cli import main

    with pytest.raises(SystemExit) as done:
        main(args)
    out = capsys.readouterr()
    return int(done.value.code or 0), out.out, out.err


def test_tag_rerun_reuses_the_label_file_and_says_so(
    tiny_dataset: Path,
    tmp_path: Path,
    built: list[dict[str, Any]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    out = tmp_path / "l.h5"
    args = ["tag", "--dataset", str(tiny_dataset), "--teacher", "panns-cnn14-16k"]
    args += ["--out", str(out), "--no-progress", "--accelerator", "cpu"]
    code, first, err = _run(args, capsys)
    assert code == 0 and "reused" not in first
    assert "clip/s" not in err  # --no-progress: no bar
    code, second, _ = _run(args, capsys)
    assert code == 0 and f"reused 24 clips of {out}\n" in second
    # one clip re-exported: the others are reused, it is tagged again
    ds = DcaseDataset(tiny_dataset)
    path = ds.audio_path(ds.clips[0])
    x, sr = sf.read(path)
    sf.write(path, 0.5 * x, sr)
    code, third, _ = _run(args, capsys)
    assert code == 0 and f"reused 23 clips of {out}\n" in third


def test_tag_lists_every_bad_clip_in_one_pass(
    tiny_dataset: Path,
    tmp_path: Path,
    built: list[dict[str, Any]],
    capsys: pytest.CaptureFixture[str],
) -> None:
    import shlex

    ds = DcaseDataset(tiny_dataset)
    bad = [ds.clips[i] for i in (1, 8, 20)]
    for c in bad:
        ds.audio_path(c).write_bytes(b"RIFF not a wave")
    out = tmp_path / "l.h5"
    args = ["tag", "--dataset", str(ds.root), "--teacher", "panns-cnn14-16k", "--out", str(out)]
    code, _, err = _run([*args, "--batch-size", "4", "--no-progress"], capsys)
    assert code == 2
    msg = err.strip()
    assert msg.startswith("error: 3 of 24 clips are bad: ") and "\n" not in msg
    assert all(c.filename in msg for c in bad) and f"{out}.bad_clips.csv" in msg
    words = shlex.split(msg.split("`")[-2])
    assert words[:2] == ["rgasc", "tag"] and "--skip-bad" in words
    assert words[words.index("--batch-size") + 1] == "4" and "--no-progress" in words
    code, done, _ = _run(words[1:], capsys)
    assert code == 0
    # the failed run's 21 good clips were kept (in the partial file): none tagged again
    assert "21 clips x" in done and "3 bad clip(s) left out" in done


def test_cli_relation_builds_on_the_runs_validation_carve(
    tiny_dataset: Path, tmp_path: Path
) -> None:
    ds = DcaseDataset(tiny_dataset)
    labels = tmp_path / "labels.csv"
    write_labels(labels, hand_labels(ds))
    args = [
        "relation",
        "--labels",
        str(labels),
        "--dataset",
        str(ds.root),
        "--out",
        str(tmp_path / "r"),
    ]
    res = CliRunner().invoke(app, [*args, "--val-fraction", "0.5", "--split-seed", "2"])
    assert res.exit_code == 0, res.output
    rel = load_relation(tmp_path / "r")
    assert rel.clips == [c.filename for c in ds.split("train", val_fraction=0.5, seed=2)]
    assert (rel.meta["val_fraction"], rel.meta["seed"]) == (0.5, 2)

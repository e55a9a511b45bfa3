"""`rgasc tag` and `rgasc relation`."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np
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
    assert read_labels(tmp_path / "a.h5").probs.shape[0] > 0
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

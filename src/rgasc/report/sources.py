"""Reading what a run already wrote: config.yaml, the evaluation folder, the checkpoint's R_SE.

A run folder (:mod:`rgasc.artefacts`) holds ``config.yaml`` (the resolved training config, the
data summary, the versions) and, once ``rgasc evaluate`` ran on a split, ``eval_SPLIT/`` with
``metrics.json``, ``predictions.csv`` (filename, true scene, predicted scene, one probability
column per scene) and the figures. The summaries shown on the page (:func:`config_summary`,
:func:`provenance`, :func:`headline`) are pure functions of those dicts.
"""

from __future__ import annotations

import csv
import dataclasses
import math
import os
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import numpy as np

from rgasc.artefacts import CONFIG_FILE, METRICS_FILE, eval_dir
from rgasc.config import flatten, load_yaml
from rgasc.errors import ArtefactError
from rgasc.utils import read_json

#: What ``rgasc evaluate`` writes per clip (rgasc.evaluate.run).
PREDICTIONS_FILE = "predictions.csv"
#: The figures ``rgasc evaluate`` draws (file name, caption), copied into the page's assets.
EVAL_FIGURES = (
    ("curves.png", "Training curves"),
    ("tsne.png", "t-SNE of the scene embeddings"),
    ("confusion.png", "Confusion matrix (row-normalised)"),
)
#: R_SE as ``rgasc relation`` draws it (rgasc.relation.io).
RELATION_FIGURE = ("relation.png", "R_SE: scene-event relation matrix")
#: Options worth a glance, as dotted keys of config.yaml's ``train`` section.
SUMMARY_KEYS = (
    "recipe",
    "seed",
    "model.backbone",
    "model.shared_blocks",
    "model.width",
    "model.learn_relation",
    "loss.lambdas",
    "loss.relation_space",
    "optim.epochs",
    "optim.batch_size",
    "optim.lr",
    "optim.optimizer",
    "optim.schedule",
    "optim.select_on",
    "select.rule",
    "average.method",
    "augment.mixup_alpha",
)
FEATURE_KEYS = ("sample_rate", "n_mels", "hop_length", "clip_seconds", "frontend")


def report_dir(run: str | os.PathLike[str], split: str) -> Path:
    """Where ``rgasc report RUN --split SPLIT`` writes its page by default."""
    return Path(run) / f"report_{split}"


@dataclasses.dataclass(frozen=True)
class RunFiles:
    """A run folder's files as read (config.yaml's dict and text, the split's metrics)."""

    run: Path
    split: str
    config: dict[str, Any]
    config_text: str
    metrics: dict[str, Any]
    eval_dir: Path

    @property
    def data(self) -> dict[str, Any]:
        """``train.data``: the dataset, features, labels and relation the run was trained on."""
        return dict(self.config["train"]["data"])


def read_config(run: Path) -> tuple[dict[str, Any], str]:
    """config.yaml of a run folder (dict and text).

    Raises:
        ArtefactError: no config.yaml, or one without a ``train.data`` section.
    """
    path = run / CONFIG_FILE
    if not path.is_file():
        raise ArtefactError(
            f"{path}: missing; {run} is not a run folder of `rgasc train` (or an experiment "
            "folder of `rgasc experiment`); give the folder `rgasc train --out` wrote"
        )
    config = load_yaml(path)
    train = config.get("train")
    if not isinstance(train, Mapping) or not isinstance(train.get("data"), Mapping):
        raise ArtefactError(f"{path}: no 'train.data' section; was it edited? Re-run the training")
    return config, path.read_text()


def read_run(run: str | os.PathLike[str], split: str) -> RunFiles:
    """The run's config and its evaluation of ``split`` (which must exist: see
    :func:`rgasc.report.outputs.ensure_evaluated`)."""
    folder = Path(run)
    config, text = read_config(folder)
    d = eval_dir(folder, split)
    path = d / METRICS_FILE
    if not path.is_file():
        raise ArtefactError(
            f"{path}: missing; evaluate the split first: `rgasc evaluate --model {folder} "
            f"--split {split}`"
        )
    return RunFiles(folder, split, config, text, read_json(path), d)


@dataclasses.dataclass(frozen=True)
class Predictions:
    """``predictions.csv``: N clip names, K scenes, true and predicted ids [N], probs [N, K]."""

    names: list[str]
    scenes: list[str]
    y: np.ndarray
    pred: np.ndarray
    probs: np.ndarray


def read_predictions(path: Path) -> Predictions:
    """Read ``predictions.csv`` of ``rgasc evaluate``.

    The predicted scene is the ``predicted`` column (the argmax of the unrounded
    probabilities), not the argmax of the rounded columns, which can tie.

    Raises:
        ArtefactError: a missing file, a header without scenes, a row naming another scene.
    """
    if not path.is_file():
        raise ArtefactError(f"{path}: missing; run `rgasc evaluate` on this split first")
    with open(path, newline="") as f:
        rows = list(csv.reader(f))
    if not rows or rows[0][:3] != ["filename", "scene", "predicted"] or len(rows[0]) < 4:
        raise ArtefactError(
            f"{path}: not a predictions file of `rgasc evaluate` (header filename, scene, "
            "predicted, one column per scene); run `rgasc evaluate` again"
        )
    scenes = rows[0][3:]
    index = {s: i for i, s in enumerate(scenes)}
    names, y, pred, probs = [], [], [], []
    for n, r in enumerate(rows[1:], start=2):
        if not r:
            continue
        if len(r) != len(rows[0]) or r[1] not in index or r[2] not in index:
            raise ArtefactError(f"{path}: line {n} does not fit the header; re-run evaluate")
        names.append(r[0])
        y.append(index[r[1]])
        pred.append(index[r[2]])
        try:
            probs.append([float(v) for v in r[3:]])
        except ValueError as e:
            raise ArtefactError(f"{path}: line {n}: {e}; re-run evaluate") from e
    return Predictions(
        names,
        scenes,
        np.asarray(y, np.int64),
        np.asarray(pred, np.int64),
        np.asarray(probs, np.float64).reshape(-1, len(scenes)),
    )


def _fmt(value: Any) -> str:
    if isinstance(value, float):
        return f"{value:g}"
    if isinstance(value, list | tuple):
        return ", ".join(_fmt(v) for v in value)
    return "—" if value is None else str(value)


def config_summary(config: Mapping[str, Any]) -> list[tuple[str, str]]:
    """(option, value) pairs of :data:`SUMMARY_KEYS` and the front-end, as strings."""
    train = flatten(dict(config.get("train", {})))
    out = [(k, _fmt(train[k])) for k in SUMMARY_KEYS if k in train]
    features = config.get("features") or {}
    out += [(f"features.{k}", _fmt(features[k])) for k in FEATURE_KEYS if k in features]
    return out


def provenance(config: Mapping[str, Any], run: Path) -> list[tuple[str, str]]:
    """Where the run's inputs came from: dataset, features, labels (and teacher), relation,
    the feature cache used, the selection, config digest and versions."""
    data = dict(config.get("train", {}).get("data", {}))
    summary = dict(config.get("data") or {})
    out = [("run", str(run.resolve()))]
    out += [(k, _fmt(data[k])) for k in ("dataset", "features", "labels", "relation") if k in data]
    out += [
        (f"data.{k}", _fmt(data[k])) for k in ("fold", "val_fraction", "split_seed") if k in data
    ]
    if summary.get("feature_cache"):
        out.append(("feature cache", str(summary["feature_cache"])))
    attrs = summary.get("label_attrs") or {}
    if attrs.get("teacher"):
        out.append(("teacher", _fmt(attrs["teacher"])))
    clips = summary.get("clips") or {}
    if clips:
        out.append(("clips", ", ".join(f"{k} {v}" for k, v in clips.items())))
    selection = config.get("selection") or {}
    if selection.get("note"):
        out.append(("selection", str(selection["note"])))
    if config.get("config_digest"):
        out.append(("config digest", str(config["config_digest"])))
    versions = config.get("versions") or {}
    if versions:
        out.append(("versions", ", ".join(f"{k} {v}" for k, v in versions.items())))
    return out


def _num(x: Any, digits: int = 4) -> str:
    return f"{x:.{digits}f}" if isinstance(x, int | float) and math.isfinite(x) else "n/a"


def headline(metrics: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The split's headline numbers from evaluate's metrics.json (None = NaN = "n/a")."""
    out = [
        ("clips", str(metrics.get("n", "n/a"))),
        ("macro accuracy", _num(metrics.get("macro_accuracy"))),
        ("overall accuracy", _num(metrics.get("overall_accuracy"))),
        ("log loss", _num(metrics.get("log_loss"))),
    ]
    ev = metrics.get("event_vs_teacher") or {}
    if "mAP" in ev:
        out.append(("event tower vs teacher: mAP", _num(ev.get("mAP"))))
        out.append(("event tower vs teacher: mean clip AUC", _num(ev.get("mean_clip_auc"))))
    epoch = selected_epoch(metrics)
    if epoch is not None:
        out.append(("selected epoch", str(epoch)))
    if metrics.get("selection"):
        out.append(("selection", str(metrics["selection"])))
    return out


def device_table(metrics: Mapping[str, Any]) -> list[dict[str, str]]:
    """Per-device rows (device, unseen, clips, macro accuracy, log loss) and the seen/unseen
    means, as strings; [] on a one-device split."""
    report = metrics.get("devices")
    if not isinstance(report, Mapping):
        return []
    rows = [
        {
            "device": str(r["device"]),
            "unseen": "yes" if r.get("unseen") else "no",
            "n": str(r.get("n", "")),
            "macro_accuracy": _num(r.get("macro_accuracy")),
            "log_loss": _num(r.get("log_loss")),
        }
        for r in report.get("rows", [])
    ]
    for side in ("seen", "unseen"):
        s = report.get(side) or {}
        if s.get("devices"):
            rows.append(
                {
                    "device": f"mean of {side} ({', '.join(s['devices'])})",
                    "unseen": "",
                    "n": str(s.get("n", "")),
                    "macro_accuracy": _num(s.get("macro_accuracy")),
                    "log_loss": _num(s.get("log_loss")),
                }
            )
    return rows


def selected_epoch(metrics: Mapping[str, Any]) -> int | None:
    """The 1-based epoch whose weights were selected: ``selected_epoch``, or the stored
    0-based ``best_epoch`` + 1 (runs and evaluations written before selected_epoch)."""
    if metrics.get("selected_epoch") is not None:
        return int(metrics["selected_epoch"])
    if metrics.get("best_epoch") is not None:
        return int(metrics["best_epoch"]) + 1
    return None

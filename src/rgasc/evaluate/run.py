"""Evaluate a finished run on one split: metrics, the per-class table and the figures.

``evaluate_run(RUN, split)`` loads ``RUN/checkpoints/best.pt`` and the run's config (dataset,
feature cache, label file), predicts the split and writes ``RUN/eval_<split>/``. ``RUN`` may
also be given as its ``best.pt``; a checkpoint outside its run is read with the training
config it records::

    metrics.json     macro accuracy (the paper's Acc), overall accuracy, log loss, per-device
                     accuracy, event tower vs teacher (mAP, mean per-clip AUC), selection split;
                     ``devices`` (per-device rows, seen/unseen means) when 2+ devices
    per_class.csv    class, n, correct, accuracy (the paper's Table V layout)
    per_device.csv   device, unseen, n, classes, macro/overall accuracy, log loss (2+ devices)
    predictions.csv  filename, true scene, predicted scene, one probability column per scene
    confusion.png    row-normalised confusion matrix; tsne.png: scene-tower embeddings (Fig. 3)
    curves.png       training curves from the run's Lightning CSV log
"""

from __future__ import annotations

import csv
import os
from pathlib import Path
from typing import Any

import numpy as np
import torch

from rgasc.artefacts import (
    BEST_MODEL,
    CHECKPOINTS_DIR,
    CONFIG_FILE,
    METRICS_FILE,
    TRAINING_LOG,
    eval_dir,
)
from rgasc.config import load_yaml
from rgasc.data.datasets import DcaseDataset
from rgasc.errors import ArtefactError, LabelSpaceError
from rgasc.features import FeatureCache, open_cache
from rgasc.inputs import check_inputs, check_leak, run_hashes
from rgasc.labels.files import PseudoLabels, read_labels
from rgasc.models.checkpoint import ModelInfo, load_model, resolve_checkpoint
from rgasc.relation import load_relation
from rgasc.scoring.devices import write_device_csv
from rgasc.scoring.plots import (
    confusion_figure,
    curves_figure,
    read_csv_log,
    save_figure,
    tsne_figure,
)
from rgasc.scoring.score import predict_arrays, score_split
from rgasc.utils import atomic_path, json_safe, write_json

SPLITS = ("test", "val", "train")


def write_per_class(path: Path, rows: list[dict[str, Any]]) -> None:
    """Table V layout: class, n, correct, accuracy."""
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["class", "n", "correct", "accuracy"])
        for r in rows:
            acc = r["accuracy"]
            w.writerow([r["class"], r["n"], r["correct"], "" if acc != acc else f"{acc:.4f}"])


def _write_predictions(
    path: Path, names: list[str], y: np.ndarray, probs: np.ndarray, scenes: list[str]
) -> None:
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["filename", "scene", "predicted", *scenes])
        for name, t, p in zip(names, y, probs, strict=True):
            w.writerow([name, scenes[int(t)], scenes[int(p.argmax())], *(f"{v:.5f}" for v in p)])


def _run_settings(run: Path) -> tuple[dict[str, Any], dict[str, Any]]:
    """The data and selection sections of a run's config.yaml, read as they were written (the
    evaluate stage sits below training: it reads the run's files, not its config classes)."""
    path = run / CONFIG_FILE
    if not path.is_file():
        raise ArtefactError(f"{path}: missing; {run} is not a run folder of `rgasc train`")
    saved = load_yaml(path)
    try:
        return dict(saved["train"]["data"]), dict(saved["selection"])
    except (KeyError, TypeError) as e:
        raise ArtefactError(f"{path}: no valid 'train' section ({e}); was it edited?") from e


def _checkpoint_settings(info: ModelInfo) -> tuple[dict[str, Any], dict[str, Any]]:
    """The same two sections from what a checkpoint records of its run (``rgasc train``
    stores the whole training config in it), for a checkpoint outside its run folder."""
    extra = info.extra
    try:
        trained = extra["train_config"]
        data = dict(trained["data"])
        selection = {
            "split": extra["selection_split"],
            "note": extra["selection"],
            "rule": trained.get("select", {}).get("rule", extra.get("selection_rule")),
        }
    except (KeyError, TypeError, AttributeError) as e:
        raise ArtefactError(
            f"{info.path}: records no training config ({e}) and sits outside a run folder; "
            "give the run folder written by `rgasc train` as --model"
        ) from e
    return data, selection


def _check_relation_leak(
    dataset: DcaseDataset, cache: FeatureCache, labels: PseudoLabels, data: dict[str, Any]
) -> None:
    """Warn when the run's R_SE saw its validation or test clips: the model is trained
    already (with its own copy of R), so its scores are still reported, with the caveat.
    An R_SE folder that is gone, or was written before R_SE recorded its clips, says
    nothing."""
    path = data.get("relation")
    if not path:
        return
    try:
        relation = load_relation(path)
    except ArtefactError:  # gone or damaged since training: the model has its own copy
        return
    check_leak(
        dataset,
        relation,
        path,
        data["labels"],
        run_hashes(cache, labels),
        fold=data["fold"],
        val_fraction=data["val_fraction"],
        seed=data["split_seed"],
        refuse=False,
    )


def locate(model: str | os.PathLike[str]) -> tuple[Path | None, Path]:
    """(the run folder, or None; the checkpoint file) of ``--model``: a run folder, its
    ``checkpoints/best.pt`` (or another checkpoint there), or a checkpoint anywhere."""
    path = Path(model)
    if path.is_dir():
        return path, path / BEST_MODEL  # load_model says so when it is missing
    ckpt = resolve_checkpoint(path)
    run = ckpt.parent.parent
    if ckpt.parent.name == CHECKPOINTS_DIR and (run / CONFIG_FILE).is_file():
        return run, ckpt
    return None, ckpt


def report_dir(model: str | os.PathLike[str], split: str) -> Path:
    """Where :func:`evaluate_run` writes by default: ``RUN/eval_SPLIT`` for the run's best.pt
    (given as the run folder or as the file); beside the run (or the file) with the
    checkpoint's name added for any other one, so two models never share a report."""
    run, ckpt = locate(model)
    base = run if run is not None else ckpt.parent
    if ckpt.name == BEST_MODEL.name:
        return eval_dir(base, split)
    return base / f"eval_{split}-{ckpt.stem}"


def evaluate_run(
    run_dir: str | os.PathLike[str],
    split: str = "test",
    out: str | os.PathLike[str] | None = None,
    *,
    batch_size: int = 64,
    device: str | None = None,
    tsne: bool = True,
) -> dict[str, Any]:
    """Evaluate a run's best model on one split and write the report folder.

    Args:
        run_dir: a run folder written by ``rgasc train``, its ``checkpoints/best.pt`` (or
            another checkpoint there), or a checkpoint outside its run (its recorded training
            config then names the dataset, features and labels).
        split: "test" (the fold's evaluate list), "val" (the carved validation locations) or
            "train".
        out: report folder (default :func:`report_dir`: ``RUN/eval_<split>``).
        device: where to run the model (default: CUDA when available).
        tsne: also draw the t-SNE figure (the slowest part on large splits).

    Returns:
        The dict written to ``metrics.json``.

    Raises:
        ArtefactError / LabelSpaceError when the run, its checkpoint or its inputs disagree.
    """
    if split not in SPLITS:
        raise ArtefactError(f"split={split!r}: use one of {SPLITS}")
    run, ckpt = locate(run_dir)
    settings = _run_settings(run) if run is not None else None
    dev = device or ("cuda" if torch.cuda.is_available() else "cpu")
    model, info = load_model(ckpt, device=dev)
    data, selection = settings or _checkpoint_settings(info)
    dataset = DcaseDataset(data["dataset"])
    if list(dataset.scenes) != info.scenes:
        raise LabelSpaceError(
            f"{data['dataset']}: scenes {dataset.scenes} differ from the model's {info.scenes} "
            f"({info.path}); evaluate on the dataset the run was trained on"
        )
    # the cache made with the model's own front-end, even if a newer one is "latest"
    cache = open_cache(data["features"], cfg=info.feature_config)
    # the run's own split: its fold and validation carve (readers use features, not audio)
    clips = dataset.split(
        split,
        fold=data["fold"],
        val_fraction=data["val_fraction"],
        seed=data["split_seed"],
        check_audio=False,
    )
    usable = set(cache.usable([c.filename for c in clips]))
    clips = [c for c in clips if c.filename in usable]
    names = [c.filename for c in clips]
    labels = read_labels(data["labels"])
    # the features (and the teacher's labels the event tower is scored against) must still be
    # those of this dataset's audio
    check_inputs(dataset, cache, labels, data["labels"], clips)
    _check_relation_leak(dataset, cache, labels, data)
    y = dataset.labels(clips)
    probs, event_probs, emb = predict_arrays(
        model, cache, cache.index(names), info.norm_mean, info.norm_std, batch_size, dev
    )

    same_events = list(labels.labels) == info.events
    result: dict[str, Any] = {
        "run": str((run if run is not None else ckpt).resolve()),
        "checkpoint": str(ckpt.resolve()),
        "split": split,
        "selection_split": selection["split"],
        "selection": selection["note"],
        "selection_rule": selection["rule"],
        "best_epoch": info.extra.get("epoch"),  # 0-based, as Lightning and best.pt count
        "selected_epoch": None if info.extra.get("epoch") is None else info.extra["epoch"] + 1,
        # unseen = devices the training fold lacks (registry list, else derived from the folds)
        **score_split(
            y,
            probs,
            info.scenes,
            devices=[c.device for c in clips],
            unseen=dataset.unseen_devices(data["fold"]),
            event_probs=event_probs,
            event_targets=(
                labels.select(names, source=str(data["labels"])) if same_events else None
            ),
            skipped_events=f"{data['labels']} has another label space",
        ),
    }

    dest = Path(out) if out is not None else report_dir(run_dir, split)
    dest.mkdir(parents=True, exist_ok=True)
    write_per_class(dest / "per_class.csv", result["per_class"])
    if result["devices"] is not None:
        write_device_csv(dest / "per_device.csv", result["devices"]["rows"])
    _write_predictions(dest / "predictions.csv", names, y, probs, info.scenes)
    tag = f"{split} split, macro acc {result['macro_accuracy']:.3f}"
    if selection["split"] == "test":
        tag += " [test-set selection]"
    save_figure(
        confusion_figure(np.asarray(result["confusion"]), info.scenes, title=f"Confusion ({tag})"),
        dest / "confusion.png",
    )
    if tsne and len(names) >= 2:
        save_figure(
            tsne_figure(emb, y, info.scenes, title=f"t-SNE of scene embeddings ({split})"),
            dest / "tsne.png",
        )
    # written when the run finished (every session merged); a lone checkpoint has none
    log = run / TRAINING_LOG if run is not None else None
    history = read_csv_log(log) if log is not None and log.is_file() else []
    if history and run is not None:
        save_figure(
            curves_figure(history, title=f"Training curves ({run.name})"), dest / "curves.png"
        )
    result = json_safe(result)
    write_json(dest / METRICS_FILE, result)
    return result

"""Scoring a model on a split: the one function behind ``train``'s final scores and
``rgasc evaluate``, so both write the same numbers under the same keys.

:func:`predict_arrays` runs the network over cached clips; :func:`score_split` turns its
outputs into the split's metrics dict::

    n, macro_accuracy, overall_accuracy, log_loss     the scene metrics (the paper's Acc first)
    per_class, confusion, per_device                  Table V rows, K x K counts, device -> acc
    devices                                           per-device rows + seen/unseen means, or
                                                      None on a one-device split
    event_vs_teacher                                  the event tower against the teacher's
                                                      pseudo-labels: threshold, mAP,
                                                      mean_clip_auc (or ``skipped`` and why)
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import torch
from torch import nn

from rgasc.errors import ArtefactError
from rgasc.features.normalize import EPS
from rgasc.scoring.devices import device_report
from rgasc.scoring.metrics import mean_average_precision, mean_clip_auc, summarize

#: Soft teacher targets at or above this count as a present event (the authors' binarisation).
EVENT_THRESHOLD = 0.5


def predict_arrays(
    model: nn.Module,
    cache: Any,
    rows: np.ndarray,
    mean: np.ndarray,
    std: np.ndarray,
    batch_size: int = 64,
    device: str | torch.device | None = None,
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Run a trained RGASC model over cached clips.

    Args:
        model: an :class:`rgasc.models.RGASC` (put in eval mode here).
        cache: a :class:`rgasc.features.FeatureCache` or any (clips, T, F) array-like.
        rows: int [N] rows to predict, in output order.
        mean, std: float32 [F] normalisation of the training split (from the checkpoint).
        device: where to run (default: where the model's parameters are).

    Returns:
        (scene probabilities [N, K], event probabilities [N, E], scene embeddings [N, D]),
        float32 numpy arrays.
    """
    features = getattr(cache, "features", cache)
    rows = np.asarray(rows, dtype=np.int64)
    dev = torch.device(device) if device is not None else next(model.parameters()).device
    model.eval().to(dev)
    m = torch.as_tensor(np.asarray(mean, np.float32), device=dev)
    s = torch.as_tensor(np.maximum(np.asarray(std, np.float32), EPS), device=dev)
    scene, event, emb = [], [], []
    with torch.inference_mode():
        for start in range(0, rows.size, batch_size):
            x = np.asarray(features[rows[start : start + batch_size]], dtype=np.float32)
            xt = (torch.from_numpy(x).to(dev) - m) / s
            out = model(xt)
            scene.append(torch.softmax(out.scene_logits.float(), dim=1).cpu())
            event.append(out.event_probs.float().cpu())
            emb.append(out.scene_embedding.float().cpu())
    if not scene:
        raise ArtefactError("nothing to predict: the split has no clips")
    return (
        torch.cat(scene).numpy(),
        torch.cat(event).numpy(),
        torch.cat(emb).numpy(),
    )


def score_split(
    y: np.ndarray,
    probs: np.ndarray,
    scenes: Sequence[str],
    *,
    devices: Sequence[str],
    unseen: Sequence[str] = (),
    event_probs: np.ndarray | None = None,
    event_targets: np.ndarray | None = None,
    skipped_events: str = "",
) -> dict[str, Any]:
    """Every metric of one split, from the model's outputs.

    Args:
        y: int [N] true scene ids; probs: float [N, K] scene probabilities; scenes: K names.
        devices: the recording device of each clip; unseen: devices training never heard.
        event_probs, event_targets: float [N, E] event tower outputs and the teacher's
            pseudo-labels of the same clips (binarised at :data:`EVENT_THRESHOLD`); when
            either is None, ``event_vs_teacher`` says ``skipped_events`` instead.

    Returns:
        The dict of the module docstring (not yet JSON-safe: NaN stays NaN).
    """
    out = summarize(y, probs, scenes, devices=devices)
    out["devices"] = device_report(y, probs, devices, unseen)
    if event_probs is None or event_targets is None:
        out["event_vs_teacher"] = {"skipped": skipped_events or "no event targets"}
    else:
        out["event_vs_teacher"] = {
            "threshold": EVENT_THRESHOLD,
            "mAP": mean_average_precision(event_targets, event_probs, EVENT_THRESHOLD),
            "mean_clip_auc": mean_clip_auc(event_targets, event_probs, EVENT_THRESHOLD),
        }
    return out

"""The benchmark's three folds: which locations and event recordings each may hear.

Train, validate and evaluate are location-disjoint and recording-disjoint (per scene and per
event label, 1 in EVAL_SHARE items evaluate, then 1 in EVAL_SHARE of the rest validate), so
no training recording is heard at validation or test time. All draws come from generators
seeded by (seed, names) through crc32: the same seed gives the same folds on any machine.
"""

from __future__ import annotations

import zlib
from collections.abc import Mapping, Sequence

import numpy as np

EVAL_SHARE = 3  # 1 in EVAL_SHARE locations / event recordings (at least one) is evaluate
FOLDS = ("train", "validate", "evaluate")  # the clips of a fold hear only its recordings


def seeded_rng(seed: int, *salt: str | int) -> np.random.Generator:
    # crc32 of strings: stable across runs and Python versions, unlike hash()
    parts = [zlib.crc32(s.encode()) if isinstance(s, str) else int(s) for s in salt]
    return np.random.default_rng([seed, *parts])


def split_folds(groups: Mapping[str, Sequence[str]], seed: int, salt: str) -> dict[str, str]:
    """{item: "train"|"validate"|"evaluate"}, per group: 1 in EVAL_SHARE items (at least 1)
    evaluate; of the rest, 1 in EVAL_SHARE (at least 1 when 2 or more remain) validate.

    Evaluate is drawn first from the same permutation as when there were two folds, so the
    evaluate fold (the test set) did not move when the validate fold was added.

    Raises:
        ValueError: a group has fewer than 2 items (it could not be in train and evaluate).
    """
    fold: dict[str, str] = {}
    for group in sorted(groups):
        items = sorted(groups[group])
        if len(items) < 2:
            raise ValueError(f"{group!r}: {len(items)} recording(s); both folds need one")
        order = seeded_rng(seed, salt, group).permutation(len(items))
        n_eval = max(1, len(items) // EVAL_SHARE)
        rest = len(items) - n_eval
        n_val = max(1, rest // EVAL_SHARE) if rest >= 2 else 0
        for rank, i in enumerate(order):
            fold[items[i]] = (
                "evaluate" if rank < n_eval else "validate" if rank < n_eval + n_val else "train"
            )
    return fold


def event_pools(
    events: Mapping[str, Sequence[str]], fold: Mapping[str, str]
) -> dict[str, dict[str, list[str]]]:
    """{fold: {label: recordings}} that the clips of each fold draw their events from.

    A label with a single training recording has no validation recording of its own
    (:func:`split_folds`); its validation clips draw from the evaluate recordings, so the
    validate fold never hears a training recording. Such labels are :func:`shared_labels`.
    """
    pools = {
        f: {lab: sorted(k for k in keys if fold[k] == f) for lab, keys in events.items()}
        for f in FOLDS
    }
    for lab, keys in pools["validate"].items():
        if not keys:
            keys.extend(pools["evaluate"][lab])
    return pools


def shared_labels(events: Mapping[str, Sequence[str]], fold: Mapping[str, str]) -> list[str]:
    """Event labels whose validation clips reuse the evaluate recordings (see event_pools)."""
    return sorted(lab for lab, keys in events.items() if "validate" not in {fold[k] for k in keys})

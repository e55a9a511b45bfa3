"""Reference numbers of a built real-scenes benchmark: linear probes on fixed features.

Logistic regression (scikit-learn, standardised inputs) on

* log-mel mean+std: the per-band mean and standard deviation over time of the rgasc feature
  cache (``rgasc features --dataset DATA --out FEATS --export-npz FEATS.npz``);
* the teacher's clip probabilities (``rgasc tag --dataset DATA --teacher yamnet --out LABELS.h5``);
* both concatenated;
* the ground-truth events: multi-hot presence from the dataset's events.csv.

C is chosen on the validation split rgasc uses (``DcaseDataset.split("val")``: the build's
own validate fold, whose clips hear no training recording; for an older build without one, a
carve of the training fold by location), and the evaluate fold is scored once: macro class
accuracy (mean per-scene recall). With a shipped validate fold the model is not refitted on
train + validate (those clips may hear evaluate recordings, see the builder's
``event_pools``); with a carve it is refitted on the whole training fold, as before. The
event-only lookup comes from ``rgasc relation --labels LABELS --dataset DATA --out REL
--evaluate`` (REL/lookup.json); pass those files with ``--lookup NAME=REL/lookup.json``.

Usage::

    python benchmarks/realscenes/reference.py --data data/realscenes \
        --features feats.npz --labels yamnet.h5 --lookup yamnet=rel/lookup.json
"""

from __future__ import annotations

import argparse
import csv
import json
import sys
from collections import defaultdict
from collections.abc import Sequence
from pathlib import Path

import numpy as np

C_GRID = (0.001, 0.01, 0.1, 1.0, 10.0, 100.0)


def clip_key(name: str) -> str:
    """File name without folders or .wav: how the rgasc artefacts join clips."""
    base = name.replace("\\", "/").rsplit("/", 1)[-1]
    return base[:-4] if base.lower().endswith(".wav") else base


def read_split(data: Path) -> tuple[dict[str, list[str]], dict[str, str], bool]:
    """({split: clip keys} for train/val/test, {key: scene}, whether validate is shipped)."""
    from rgasc.data import DcaseDataset

    ds = DcaseDataset(data)
    splits = {name: [c.key for c in ds.split(name)] for name in ("train", "val", "test")}
    scene = {c.key: c.scene for c in ds.clips}
    return splits, scene, ds.has_validate()


def macro_accuracy(y: np.ndarray, pred: np.ndarray) -> float:
    """Mean over the classes present in ``y`` of the fraction predicted right."""
    return float(np.mean([np.mean(pred[y == c] == c) for c in np.unique(y)]))


def probe(
    x: np.ndarray,
    y: np.ndarray,
    train: np.ndarray,
    val: np.ndarray,
    test: np.ndarray,
    refit: bool = True,
):
    """Pick C on (train, val), refit on train+val if ``refit``, score test;
    (accuracy, C, val accuracy)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    def fit(c: float, rows: np.ndarray):  # noqa: ANN202
        model = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=3000))
        return model.fit(x[rows], y[rows])

    scores = {c: macro_accuracy(y[val], fit(c, train).predict(x[val])) for c in C_GRID}
    best = max(C_GRID, key=lambda c: (scores[c], -c))  # ties: the stronger regulariser
    model = fit(best, np.concatenate([train, val]) if refit else train)
    return macro_accuracy(y[test], model.predict(x[test])), best, scores[best]


def load_features(path: Path, keys: Sequence[str]) -> np.ndarray:
    """Log-mel mean and std over time per band, from an ``--export-npz`` file."""
    d = np.load(path)
    index = {clip_key(str(n)): i for i, n in enumerate(d["names"])}
    feats = d["features"][[index[k] for k in keys]].astype(np.float64)  # (clips, frames, mels)
    return np.concatenate([feats.mean(axis=1), feats.std(axis=1)], axis=1)


def load_probs(path: Path, keys: Sequence[str]) -> np.ndarray:
    """Teacher probabilities from an rgasc pseudo-label file (.h5: filename, probs)."""
    import h5py

    with h5py.File(path, "r") as f:
        names = [n.decode() if isinstance(n, bytes) else str(n) for n in f["filename"][()]]
        probs = np.asarray(f["probs"][()], dtype=np.float64)
    index = {clip_key(n): i for i, n in enumerate(names)}
    return probs[[index[k] for k in keys]]


def load_events(data: Path, keys: Sequence[str]) -> np.ndarray:
    """Multi-hot ground-truth events per clip from events.csv."""
    present: dict[str, set[str]] = defaultdict(set)
    with open(data / "events.csv", newline="") as f:
        for r in csv.DictReader(f, delimiter="\t"):
            if r["event_label"]:
                present[clip_key(r["filename"])].add(r["event_label"])
    labels = sorted({e for s in present.values() for e in s})
    col = {e: j for j, e in enumerate(labels)}
    y = np.zeros((len(keys), len(labels)))
    for i, k in enumerate(keys):
        for e in present.get(k, ()):
            y[i, col[e]] = 1.0
    return y


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--data", type=Path, required=True, help="built dataset folder")
    ap.add_argument("--features", type=Path, required=True, help="rgasc features --export-npz")
    ap.add_argument("--labels", type=Path, required=True, help="rgasc tag --dataset output (.h5)")
    ap.add_argument("--lookup", action="append", default=[], help="NAME=REL/lookup.json")
    ap.add_argument("--out", type=Path, default=None, help="also write the numbers as JSON")
    args = ap.parse_args(argv)

    splits, scene, shipped = read_split(args.data)
    keys = [k for name in ("train", "val", "test") for k in splits[name]]
    scenes = sorted(set(scene.values()))
    y = np.array([scenes.index(scene[k]) for k in keys])
    n_train, n_val = len(splits["train"]), len(splits["val"])
    idx = np.arange(len(keys))
    train, val, test = idx[:n_train], idx[n_train : n_train + n_val], idx[n_train + n_val :]
    mel = load_features(args.features, keys)
    teacher = load_probs(args.labels, keys)
    sets = {
        "log-mel mean+std": mel,
        "teacher probabilities": teacher,
        "log-mel + teacher": np.concatenate([mel, teacher], axis=1),
        "ground-truth events": load_events(args.data, keys),
    }
    print(
        f"{len(keys)} clips: {len(train)} train, {len(val)} validation "
        f"({'shipped validate fold' if shipped else 'location carve'}), {len(test)} evaluate; "
        f"{len(scenes)} scenes"
    )
    results: dict[str, dict[str, float]] = {}
    for name, x in sets.items():
        acc, c, val_acc = probe(x, y, train, val, test, refit=not shipped)
        results[name] = {
            "macro_accuracy": acc,
            "C": c,
            "val_macro_accuracy": val_acc,
            "dims": int(x.shape[1]),
        }
        print(f"  {name:24s} {acc:.3f}  (C={c:g}, validation {val_acc:.3f}, {x.shape[1]} dims)")
    for item in args.lookup:
        name, _, path = item.partition("=")
        acc = float(json.loads(Path(path).read_text())["macro_accuracy"])
        results[f"event-only lookup ({name})"] = {"macro_accuracy": acc}
        print(f"  {'event-only lookup (' + name + ')':24s} {acc:.3f}")
    if args.out:
        args.out.write_text(json.dumps(results, indent=1) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

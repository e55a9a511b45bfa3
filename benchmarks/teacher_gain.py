"""Which input level should the teacher hear? Measure each gain rule on the validation split.

For every rule (``rgasc.teachers.gain``: none, rms:DB, peak:DB) the teacher tags the whole
dataset once, then, on the dataset's validation split only (the test split is not looked at):

* the linear probe on the teacher's probabilities: logistic regression on standardised
  probabilities, fitted on the training split, C chosen on validation (its score reported);
* the event-only lookup ``argmax(y_e R^T)``, R_SE built from the training split's labels;
* the share of clips whose top event is "Silence" (a teacher that hears nothing).

With ``--clips DIR`` it also prints each wav's level and its top-3 events under every rule
(the 10 real TUT2018 development clips: see benchmarks/results/teacher-gain/README.md for
where they come from; never commit them).

    python benchmarks/teacher_gain.py --dataset data/realscenes --work runs/gain \
        --rules none rms:-20 rms:-30 peak:-3 --clips /path/to/tut_clips \
        --out benchmarks/results/teacher-gain
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path

import numpy as np

C_GRID = (0.001, 0.01, 0.1, 1.0, 10.0)


def probe_val(x_train, y_train, x_val, y_val) -> tuple[float, float]:  # noqa: ANN001
    """Best validation macro accuracy of the C grid, and that C (ties: stronger prior)."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.pipeline import make_pipeline
    from sklearn.preprocessing import StandardScaler

    from rgasc.scoring.metrics import macro_accuracy

    scores = {}
    for c in C_GRID:
        model = make_pipeline(StandardScaler(), LogisticRegression(C=c, max_iter=3000))
        model.fit(x_train, y_train)
        scores[c] = float(macro_accuracy(y_val, model.predict(x_val), int(y_train.max()) + 1))
    best = max(C_GRID, key=lambda c: (scores[c], -c))
    return scores[best], best


def measure(dataset_root: Path, labels_path: Path) -> dict[str, float]:
    from rgasc.data import DcaseDataset
    from rgasc.labels.files import read_labels
    from rgasc.relation.build import compute_relation
    from rgasc.relation.lookup import evaluate_lookup

    ds = DcaseDataset(dataset_root)
    pl = read_labels(labels_path)
    train, val = ds.split("train"), ds.split("val")
    x_tr, x_va = pl.select([c.key for c in train]), pl.select([c.key for c in val])
    acc, c = probe_val(x_tr, ds.labels(train), x_va, ds.labels(val))
    rel = compute_relation(ds, pl, split="train")
    lookup = evaluate_lookup(ds, pl, rel, split="val")
    silence = pl.labels.index("Silence") if "Silence" in pl.labels else -1
    top = pl.probs.argmax(axis=1)
    return {
        "probe_val_macro_accuracy": acc,
        "probe_C": c,
        "lookup_val_macro_accuracy": float(lookup["macro_accuracy"]),
        "top_event_silence": float(np.mean(top == silence)) if silence >= 0 else 0.0,
        "val_clips": len(val),
    }


def tag_all(dataset_root: Path, rule: str, out: Path) -> Path:
    from rgasc.data import DcaseDataset
    from rgasc.labels.tagging import tag_dataset
    from rgasc.teachers import get_teacher

    if not out.is_file():
        teacher = get_teacher("yamnet", gain=rule)
        tag_dataset(DcaseDataset(dataset_root), teacher, out, progress=False)
    return out


def clip_tops(folder: Path, rules: Sequence[str], k: int = 3) -> dict[str, dict]:
    from rgasc.audio import load_audio
    from rgasc.teachers import get_teacher

    teachers = {r: get_teacher("yamnet", gain=r) for r in rules}
    out: dict[str, dict] = {}
    for path in sorted(folder.glob("*.wav")):
        x, sr = load_audio(path, sr=16000)
        rms = 20 * np.log10(np.sqrt(np.mean(x.astype(np.float64) ** 2)) + 1e-12)
        peak = 20 * np.log10(np.abs(x).max() + 1e-12)
        row: dict = {"rms_dbfs": round(float(rms), 1), "peak_dbfs": round(float(peak), 1)}
        for r, t in teachers.items():
            p = t.tag(x[None, :])[0]
            top = np.argsort(-p)[:k]
            row[r] = [(t.labels[i], round(float(p[i]), 2)) for i in top]
        out[path.stem] = row
    return out


def main(argv: Sequence[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--dataset", type=Path, required=True)
    ap.add_argument("--work", type=Path, required=True, help="folder for the label files")
    ap.add_argument("--rules", nargs="+", default=["none", "rms:-20", "rms:-30", "peak:-3"])
    ap.add_argument("--clips", type=Path, default=None, help="folder of wavs to show top events")
    ap.add_argument("--out", type=Path, default=None, help="write results.json/results.md here")
    args = ap.parse_args(argv)
    args.work.mkdir(parents=True, exist_ok=True)
    results: dict[str, dict] = {}
    for rule in args.rules:
        labels = tag_all(args.dataset, rule, args.work / f"labels-{rule.replace(':', '')}.h5")
        results[rule] = measure(args.dataset, labels)
        r = results[rule]
        print(
            f"{rule:8s} probe (val) {r['probe_val_macro_accuracy']:.3f} (C={r['probe_C']:g})  "
            f"lookup (val) {r['lookup_val_macro_accuracy']:.3f}  "
            f"top event Silence {100 * r['top_event_silence']:.1f} %"
        )
    tops = clip_tops(args.clips, args.rules) if args.clips else {}
    for name, row in tops.items():
        print(f"{name} ({row['rms_dbfs']} dBFS RMS, peak {row['peak_dbfs']})")
        for rule in args.rules:
            print(f"  {rule:8s} " + "; ".join(f"{e} {p:.2f}" for e, p in row[rule]))
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
        (args.out / "results.json").write_text(
            json.dumps({"dataset": results, "clips": tops}, indent=1) + "\n"
        )
        lines = [
            "| rule | probe on teacher probabilities (val) | C | event-only lookup (val) "
            "| top event Silence |",
            "|---|---|---|---|---|",
        ]
        for rule, r in results.items():
            lines.append(
                f"| {rule} | {r['probe_val_macro_accuracy']:.3f} | {r['probe_C']:g} | "
                f"{r['lookup_val_macro_accuracy']:.3f} | {100 * r['top_event_silence']:.1f} % |"
            )
        if tops:
            lines += ["", "| clip | RMS / peak dBFS | " + " | ".join(args.rules) + " |"]
            lines.append("|---|---|" + "---|" * len(args.rules))
            for name, row in tops.items():
                cells = ["; ".join(f"{e} {p:.2f}" for e, p in row[rule]) for rule in args.rules]
                lines.append(
                    f"| {name} | {row['rms_dbfs']} / {row['peak_dbfs']} | "
                    + " | ".join(cells)
                    + " |"
                )
        (args.out / "results.md").write_text("\n".join(lines) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())

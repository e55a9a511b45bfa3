"""``DIR/report.md`` of ``rgasc demo``, built only from what the run wrote into ``DIR``.

:func:`report_markdown` is pure (collected numbers in, markdown out); :func:`collect` reads
the run's files and :func:`write_report` ties them together and saves ``demo.json`` (the same
numbers, machine-readable).
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from rgasc.artefacts import CONFIG_FILE, LOOKUP_FILE, METRICS_FILE, eval_dir
from rgasc.experiments.stats import ONE_SEED, comparison_sentence, paired_comparison
from rgasc.experiments.tables import markdown_table
from rgasc.report.sources import selected_epoch
from rgasc.utils import read_json, write_json, write_text_atomic

PLOTS = (("confusion", "confusion.png"), ("t-SNE", "tsne.png"), ("curves", "curves.png"))
#: How the report's first line names the data it ran on.
DATA_NAMES = {
    "realscenes": "real sound (the real-scenes benchmark)",
    "synthetic": "the synthetic corpus (procedural sounds, not real recordings)",
}


def _pc(x: Any, digits: int = 1) -> str:
    if x is None or not isinstance(x, int | float) or not math.isfinite(x):
        return "n/a"
    return f"{100 * x:.{digits}f}"


def _num(x: Any, digits: int = 3) -> str:
    if x is None or not isinstance(x, int | float) or not math.isfinite(x):
        return "n/a"
    return f"{x:.{digits}f}"


def _model_run(run: Path, seed: int) -> dict[str, Any]:
    """One trained run's numbers: its metrics.json and its test evaluation."""
    from rgasc.config import load_yaml

    m = read_json(run / METRICS_FILE)
    ev = read_json(eval_dir(run, "test") / METRICS_FILE)
    cfg = load_yaml(run / CONFIG_FILE) if (run / CONFIG_FILE).is_file() else {}
    return {
        "seed": seed,
        "val_macro": (m.get("val") or {}).get("macro_accuracy"),
        "test_macro": ev.get("macro_accuracy"),
        "test_overall": ev.get("overall_accuracy"),
        "test_log_loss": ev.get("log_loss"),
        "n_test": ev.get("n"),
        "selected_epoch": selected_epoch(m),
        "epochs_trained": m.get("epochs_trained"),
        "train_seconds": m.get("train_seconds"),
        "selection": m.get("selection", ""),
        "per_class": {r["class"]: r["accuracy"] for r in ev.get("per_class", [])},
        "event_vs_teacher": ev.get("event_vs_teacher", {}),
        "split_sizes": (cfg.get("data") or {}).get("clips", {}),
    }


def _mean(xs: Sequence[Any]) -> float | None:
    vals = [float(x) for x in xs if isinstance(x, int | float) and math.isfinite(x)]
    return sum(vals) / len(vals) if vals else None


def _std(xs: Sequence[Any]) -> float | None:
    vals = [float(x) for x in xs if isinstance(x, int | float) and math.isfinite(x)]
    if len(vals) < 2:
        return None
    mu = sum(vals) / len(vals)
    return math.sqrt(sum((v - mu) ** 2 for v in vals) / (len(vals) - 1))


def collect(
    d: Path, models: Sequence[tuple[str, str, tuple[float, ...]]], seeds: Sequence[int]
) -> dict[str, Any]:
    """Every number the report shows, read from the demo folder ``d``: per model the runs of
    every seed (``runs/<model>/seed<S>``) and their means, the probe and the lookup."""
    from rgasc.relation import load_relation, top_events

    out: dict[str, Any] = {"models": []}
    for name, label, lam in models:
        runs = [_model_run(d / "runs" / name / f"seed{s}", s) for s in seeds]
        first = runs[0]
        out["models"].append(
            {
                "name": name,
                "label": label,
                "lambdas": list(lam),
                "runs": runs,
                "test_by_seed": {str(r["seed"]): r["test_macro"] for r in runs},
                "val_macro": _mean([r["val_macro"] for r in runs]),
                "test_macro": _mean([r["test_macro"] for r in runs]),
                "test_std": _std([r["test_macro"] for r in runs]),
                "test_overall": _mean([r["test_overall"] for r in runs]),
                "test_log_loss": _mean([r["test_log_loss"] for r in runs]),
                "n_test": first["n_test"],
                "selected_epoch": ", ".join(str(r["selected_epoch"]) for r in runs),
                "train_seconds": _mean([r["train_seconds"] for r in runs]),
                "selection": first["selection"],
                "per_class": {
                    c: _mean([r["per_class"].get(c) for r in runs]) for c in first["per_class"]
                },
                "event_vs_teacher": first["event_vs_teacher"],
                "split_sizes": first["split_sizes"],
                "plots": {
                    k: f"runs/{name}/seed{seeds[0]}/eval_test/{f}"
                    for k, f in PLOTS
                    if (eval_dir(d / "runs" / name / f"seed{seeds[0]}", "test") / f).is_file()
                },
            }
        )
    out["lookup"] = read_json(d / "relation" / LOOKUP_FILE)
    probe = d / "runs" / "probe" / METRICS_FILE
    out["probe"] = read_json(probe) if probe.is_file() else {}
    rel = load_relation(d / "relation")
    out["top_events"] = {
        s: tops for s, tops in zip(rel.scenes, top_events(rel.matrix, rel.events, 3), strict=True)
    }
    out["n_events"] = len(rel.events)
    out["scenes"] = list(rel.scenes)
    return out


def dataset_line(summary: Mapping[str, Any]) -> str:
    """``PATH: K scenes (a, b, ...), N clips (fold 1: T train, E evaluate)``."""
    scenes = list(summary["scenes"])
    more = f", ... ({len(scenes) - 12} more)" if len(scenes) > 12 else ""
    shown = ", ".join(scenes[:12]) + more
    val = f"{summary['fold1_validate']} validate, " if "fold1_validate" in summary else ""
    return (
        f"{summary['path']}: {len(scenes)} scenes ({shown}), {summary['clips']} clips "
        f"(fold 1: {summary.get('fold1_train', '?')} train, {val}"
        f"{summary.get('fold1_evaluate', '?')} evaluate)"
    )


def seed_paragraph(models: Sequence[Mapping[str, Any]], seed: Any = None) -> str:
    """What the seeds allow one to conclude, in words: each model against the first (puASC).

    A model's per-seed test accuracies are ``test_by_seed`` ({seed: fraction}) when the
    report has several seeds, else its one run (``seed``, default the demo's). With two or
    more paired seeds: the paired t interval and its verdict
    (:func:`rgasc.experiments.stats.comparison_sentence`); with one, the observed difference
    and a plain statement that one seed cannot separate an effect from noise.
    """
    if len(models) < 2:
        return ONE_SEED

    def by_seed(m: Mapping[str, Any]) -> dict[int, float]:
        own = m.get("seed")
        d = m.get("test_by_seed") or {seed if own is None else own: m.get("test_macro")}
        return {int(k): float(v) for k, v in d.items() if k is not None and v is not None}

    base = models[0]
    pairs = [(m, paired_comparison(by_seed(m), by_seed(base))) for m in models[1:]]
    if all(p.n >= 2 for _, p in pairs):
        return " ".join(comparison_sentence(m["label"], base["label"], p) for m, p in pairs)
    seen = [
        f"{m['label']} − {base['label']} = {100 * p.mean:+.1f} points"
        for m, p in pairs
        if p.n == 1 and math.isfinite(p.mean)
    ]
    return (f"Seed {seed}: " + ", ".join(seen) + ". " if seen else "") + ONE_SEED


def report_markdown(
    info: Mapping[str, Any],
    settings: Mapping[str, Any],
    teacher: str,
    times: Mapping[str, Mapping[str, Any]],
    total_seconds: float,
) -> str:
    """The report: a first line with both test accuracies, then tables, links and settings."""
    models = info["models"]
    k = len(info["scenes"])
    n_seeds = len(models[0]["runs"]) if models else 0

    def acc(m: Mapping[str, Any]) -> str:
        sd = m.get("test_std")
        return f"{_pc(m['test_macro'])}" + (f" ± {_pc(sd)}" if sd is not None else "")

    head = " vs ".join(f"{m['label']} {acc(m)} %" for m in models)
    mean_of = f", mean of {n_seeds} seeds" if n_seeds > 1 else ""
    n_test = models[0]["n_test"] if models else "?"
    lines = [
        f"# rgasc demo on {settings.get('data', 'its data')}: {head} test macro accuracy"
        f"{mean_of}\n\n",
        *([f"Dataset: {settings['dataset']}.\n\n"] if "dataset" in settings else []),
        f"Test split: {n_test} clips of {k} scenes (chance {_pc(1 / k if k else None)} %); "
        f"both models trained with the same seed{'s' if n_seeds > 1 else ''} "
        f"({', '.join(str(r['seed']) for r in models[0]['runs']) if models else ''}), "
        f"{models[0]['selection'] if models else ''}. "
        f"{seed_paragraph(models, settings.get('seed'))}\n\n",
        "## Results\n\n",
    ]
    body = [
        [
            m["label"],
            ", ".join(f"{x:g}" for x in m["lambdas"]),
            _pc(m["val_macro"]),
            acc(m),
            _pc(m["test_overall"]),
            _num(m["test_log_loss"]),
            str(m["selected_epoch"]),
            _num(m["train_seconds"], 0),
        ]
        for m in models
    ]
    probe, lk = info.get("probe") or {}, info["lookup"]
    ptest, pval = probe.get("test") or {}, probe.get("val") or {}
    if ptest:
        body.append(
            [
                "reference: linear probe on the teacher's probabilities",
                "-",
                _pc(pval.get("macro_accuracy")),
                _pc(ptest.get("macro_accuracy")),
                _pc(ptest.get("overall_accuracy")),
                _num(ptest.get("log_loss")),
                "-",
                "-",
            ]
        )
    body.append(
        [
            "reference: event-only lookup argmax y_e · R_SE^T (no training)",
            "-",
            "-",
            _pc(lk.get("macro_accuracy")),
            _pc(lk.get("overall_accuracy")),
            "-",
            "-",
            "-",
        ]
    )
    lines.append(
        markdown_table(
            [
                "model",
                "lambdas (scene, s_by_event, event, e_by_scene)",
                "val macro acc %",
                "test macro acc %" + (" (mean ± sd over seeds)" if n_seeds > 1 else ""),
                "test overall acc %",
                "test log loss",
                "selected epoch (1-based, per seed)",
                "train s (mean)",
            ],
            body,
        )
    )
    lines.append(
        f"\nEvent-only lookup (argmax y_e · R_SE^T on the teacher's pseudo-labels, no "
        f"training; Table I #2): **{_pc(lk.get('macro_accuracy'))} %** test macro accuracy "
        f"({lk.get('n_clips')} clips, chance {_pc(lk.get('chance'))} %)."
        + (
            f" Linear probe on the teacher's probabilities (logistic regression, C chosen on "
            f"validation): **{_pc(ptest.get('macro_accuracy'))} %**."
            if ptest
            else ""
        )
        + "\n"
    )
    ev_lines = []
    for m in models:
        ev = m["event_vs_teacher"]
        if "mAP" in ev:
            ev_lines.append(
                f"- {m['label']}: event tower vs teacher (threshold "
                f"{ev.get('threshold')}): mAP {_num(ev['mAP'])}, mean clip AUC "
                f"{_num(ev.get('mean_clip_auc'))}"
            )
    if ev_lines:
        lines.append("\n" + "\n".join(ev_lines) + "\n")
    scenes = info["scenes"]
    lines.append("\n## Per-class test accuracy (%)\n\n")
    lines.append(
        markdown_table(
            ["model", *scenes],
            [[m["label"], *(_pc(m["per_class"].get(s)) for s in scenes)] for m in models],
        )
    )
    lines.append(
        f"\n## Top events per scene (R_SE from the training split, {info['n_events']} events)\n\n"
    )
    lines.append(
        markdown_table(
            ["scene", "top 3 events (mean teacher probability)"],
            [
                [s, ", ".join(f"{e} {v:.2f}" for e, v in tops)]
                for s, tops in info["top_events"].items()
            ],
        )
    )
    lines.append(
        "\n## Plots\n\n- relation heatmap: [relation/relation.png](relation/relation.png)\n"
    )
    for m in models:
        links = ", ".join(f"[{k}]({p})" for k, p in m["plots"].items())
        lines.append(f"- {m['label']}: {links or 'none'}\n")
    sizes = models[0]["split_sizes"] if models else {}
    lines.append("\n## Settings\n\n")
    lines += [f"- {k}: `{v}`\n" for k, v in settings.items()]
    if sizes:
        lines.append("- clips per split: " + ", ".join(f"{k} {v}" for k, v in sizes.items()) + "\n")
    lines.append(f"- teacher used: `{teacher}`\n")
    lines.append("\n## Time (this invocation)\n\n")
    lines.append(
        markdown_table(
            ["stage", "seconds", "reused from an earlier run"],
            [[n, str(t["seconds"]), "yes" if t["cached"] else "no"] for n, t in times.items()]
            + [["total", str(total_seconds), ""]],
        )
    )
    return "".join(lines)


def write_report(
    d: Path,
    cfg: Any,
    teacher: str,
    times: Mapping[str, Mapping[str, Any]],
    total_seconds: float,
    models: Sequence[tuple[str, str, tuple[float, ...]]],
    *,
    seeds: Sequence[int],
    corpus: str,
    student: Mapping[str, Any],
    dataset: Mapping[str, Any] | None = None,
) -> Path:
    """Collect the numbers of the demo in ``d``, write ``report.md`` and ``demo.json``.

    ``models``: (run folder name, label, lambdas) of each trained model, in report order;
    ``seeds`` the seeds each was trained with; ``corpus`` "realscenes", "synthetic" or
    "dataset"; ``student`` the resolved student settings; ``dataset``:
    :func:`rgasc.demo.dataset.dataset_summary` of the data (None: the synthetic corpus,
    described by the demo's settings).
    """
    info = collect(d, models, seeds)
    settings = {**cfg.to_dict()}
    settings.pop("dataset", None)
    settings["data"] = DATA_NAMES.get(corpus) or (
        f"{Path(dataset['path']).name} (a user dataset)" if dataset else "a user dataset"
    )
    if dataset is None:
        settings["dataset"] = (
            f"synthetic corpus (`rgasc synth`, {cfg.clips} clips, procedural sounds: not "
            "real recordings), in data/"
        )
    else:
        settings.pop("clips", None)  # the synthetic corpus's size: not this run's
        if corpus == "dataset":
            settings.pop("corpus", None)  # --corpus applies only without --dataset
        settings["dataset"] = dataset_line(dataset)
    if teacher == "annotations":
        settings["label noise"] = f"each (clip, event) label flipped with probability {cfg.noise}"
        settings.pop("gain", None)
    else:
        settings.pop("noise", None)
    settings["student"] = (
        f"{student['backbone']}, width {student['width']:g}, {student['epochs']} epochs, "
        f"recipe {student['recipe']}"
    )
    clip = student.get("clip_seconds")
    front = (
        "YAMNet's log-mel (16 kHz, 64 mel, hop 10 ms)"
        if student["backbone"] == "yamnet"
        else "the paper's log-mel (44.1 kHz, 64 mel, hop 1376)"
    )
    settings["features"] = f"{front}, " + (
        f"{clip:g}-s clips (each clip cropped or zero-padded to it)" if clip else "whole clips"
    )
    md = report_markdown(info, settings, teacher, times, total_seconds)
    write_text_atomic(d / "report.md", md)
    write_json(
        d / "demo.json",
        {
            "settings": settings,
            "dataset": dict(dataset) if dataset is not None else None,
            "corpus": corpus,
            "teacher": teacher,
            "seeds": list(seeds),
            "results": info,
            "times": times,
            "total_seconds": total_seconds,
        },
    )
    return d / "report.md"

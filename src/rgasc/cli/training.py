"""Commands that train models: train, experiment, demo.

``train`` and ``experiment`` take their options from the config tree
(:class:`~rgasc.train.config.tree.TrainConfig`, :mod:`rgasc.cli.params`), so both spell, type
and default them alike; a ``--config`` file's or a resumed run's setting stays unless an option
is given.
"""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from rgasc.artefacts import CONFIG_FILE, METRICS_FILE
from rgasc.cli._app import app
from rgasc.cli.params import Param, comma_command, config_changes, with_config_options
from rgasc.config import override
from rgasc.demo.run import DemoConfig
from rgasc.errors import ArtefactError, ConfigError, Interrupted
from rgasc.train.config.recipes import MODERN
from rgasc.train.config.tree import TrainConfig

_PANELS = {
    "run": "Run",
    "data": "Data (inputs, split)",
    "model": "Model",
    "loss": "Loss (eq. 8)",
    "optim": "Optimisation, selection",
    "augment": "Augmentation (training batches only)",
    "runtime": "Runtime (free to change on --resume)",
    "average": "Weight averaging (EMA, SWA)",
    "select": "Model-selection rule",
}


def _modern(p: Param) -> str:
    """What ``--recipe modern`` sets an option to, when it differs from the default."""
    value = MODERN.get(p.key)
    if value is None or value == p.default:
        return ""
    return (
        f"(--recipe modern: {value:g})"
        if isinstance(value, float)
        else f"(--recipe modern: {value})"
    )


def with_train_options(exclude: tuple[str, ...] = ()) -> Any:
    return with_config_options(TrainConfig, exclude=exclude, panels=_PANELS, note=_modern)


_VERBOSE_HELP = "Show Lightning's own banners, tips and warnings (quiet by default)."
_CONFIG_HELP = (
    "YAML settings: a run's config.yaml (reproduce that run) or a file in its 'train' layout. "
    "Options given here override it."
)


# --- commands: train ---
@app.command(cls=comma_command(TrainConfig))
@with_train_options()
def train(
    config: Annotated[Path | None, typer.Option(help=_CONFIG_HELP)] = None,
    resume: Annotated[
        bool,
        typer.Option(
            help="Continue --out from its last checkpoint (its config.yaml supplies the other "
            "options; only --epochs and runtime options may change)."
        ),
    ] = False,
    verbose: Annotated[bool, typer.Option(help=_VERBOSE_HELP)] = False,
    **options: Any,
) -> None:
    """Train the two-tower model (Lightning); select on val, score the test split once."""
    from rgasc.distributed import global_rank
    from rgasc.scoring.devices import summary_lines
    from rgasc.train.config.recipes import layered
    from rgasc.train.config.tree import config_file_changes, load_run_config, make_config
    from rgasc.train.loop.quiet import set_verbose
    from rgasc.train.runner import finished
    from rgasc.train.runner import train as run_training
    from rgasc.utils import read_json

    set_verbose(verbose)
    changes = config_changes(TrainConfig, options)
    if resume:
        out = options.get("out")
        if config is not None:
            raise ConfigError("--resume reads --out's own config.yaml: leave out --config")
        if out is None:
            raise ConfigError("--resume needs --out RUN, the run folder to continue")
        if not (Path(out) / CONFIG_FILE).is_file():
            raise ArtefactError(
                f"{Path(out) / CONFIG_FILE}: missing, so {out} holds no run to resume; start "
                "one without --resume (`rgasc train --dataset DS --features FEAT --labels "
                f"LABELS --relation REL --out {out}`)"
            )
        changes.pop("out")  # keep the run's options unless given
        cfg = make_config(changes, load_run_config(out))
    else:
        # a --recipe given here overrides the file's values; the options given here win
        cfg = make_config(layered(config_file_changes(config) if config else {}, changes))
    done = finished(cfg) if resume else None
    if done is not None:  # nothing to train, and its test split is not scored again
        if global_rank() == 0:
            typer.echo(done)
        return
    run = run_training(cfg, resume=resume)
    if global_rank() != 0:  # DDP: every rank returns here; one prints
        return
    m = read_json(run / METRICS_FILE)
    typer.echo(f"run: {run}\n{selected_epoch_line(m)}")
    for split in ("val", "test"):
        if m.get(split):
            s = m[split]
            typer.echo(
                f"  {split:4s} macro acc {s['macro_accuracy']:.4f}  overall "
                f"{s['overall_accuracy']:.4f}  log loss {s['log_loss']:.4f}  (n={s['n']})"
            )
            for line in summary_lines(s.get("devices")):
                typer.echo(f"       {line}")


def selected_epoch_line(metrics: dict[str, Any]) -> str:
    """ "selected epoch 3 of 5 (...)": 1-based, from a run's metrics.json (an earlier run's
    has only the 0-based ``best_epoch``)."""
    m = metrics
    epoch = m.get("selected_epoch", m["best_epoch"] + 1)
    of = f" of {m['epochs_trained']}" if m.get("epochs_trained") else ""
    return f"selected epoch {epoch}{of} ({m['selection']})"


# --- commands: experiment, demo ---
#: Table options an experiment sets itself: per run (seed, out) or per row (lambdas, init).
EXPERIMENT_OWN = ("out", "seed", "lambdas", "init", "init_checkpoint")


@app.command(cls=comma_command(TrainConfig), context_settings={"allow_extra_args": True})
@with_train_options(exclude=EXPERIMENT_OWN)
def experiment(
    ctx: typer.Context,
    name: Annotated[
        str,
        typer.Argument(
            help="shared-blocks (Fig. 2), ablation (Table I), "
            "lambdas (Table II), baselines (Table III), "
            "per-class (Table V, Fig. 3), recipe (paper vs modern recipe and the modern "
            "recipe's ablation) or variance (spread over seeds under each selection rule "
            "and EMA)."
        ),
    ],
    out: Annotated[
        Path,
        typer.Option(
            help="Experiment folder: OUT/<config>/seed<k>/ runs, results.csv, results.md, figures."
        ),
    ],
    seeds: Annotated[
        list[str] | None, typer.Option(help="Seeds: --seeds 1 2 3 (or 1,2,3); default 1 2 3.")
    ] = None,
    grid: Annotated[
        str | None,
        typer.Option(help="lambdas only: rows 'l1,l2,l3,l4;...' instead of Table II's eight."),
    ] = None,
    init_checkpoint: Annotated[
        Path | None, typer.Option(help="baselines: CNN14 .pth for the PANN fine-tuning row.")
    ] = None,
    configs: Annotated[
        str | None,
        typer.Option(help="Only these rows, by config name: --configs puasc,rgasc (default all)."),
    ] = None,
    config: Annotated[Path | None, typer.Option(help=_CONFIG_HELP)] = None,
    verbose: Annotated[bool, typer.Option(help=_VERBOSE_HELP)] = False,
    **options: Any,
) -> None:
    """Run one of the paper's experiments over seeds (resumable) and tabulate mean +- std."""
    from rgasc.experiments.sweep import parse_grid, parse_seeds, run_experiment
    from rgasc.train.config.recipes import layered
    from rgasc.train.config.tree import config_file_changes, make_config
    from rgasc.train.loop.quiet import set_verbose

    set_verbose(verbose)
    quiet = {"runtime.progress_bar": False, "runtime.model_summary": False}
    file = config_file_changes(config) if config else {}
    base = make_config(layered(file, quiet, {**config_changes(TrainConfig, options), "out": out}))
    try:
        md = run_experiment(
            name,
            base,
            out,
            parse_seeds([*(seeds or ["1 2 3"]), *ctx.args]),
            grid=parse_grid(grid) if grid else None,
            configs=[c.strip() for c in configs.split(",") if c.strip()] if configs else None,
            init_checkpoint=init_checkpoint,
            log=typer.echo,
        )
    except Interrupted as e:  # a sweep reruns its unfinished run: the same command continues
        raise Interrupted(
            f"{out}: experiment interrupted; its finished runs are kept and the interrupted "
            "one is redone",
            same_command=True,
        ) from e
    typer.echo(f"results: {md} and {md.with_suffix('.csv')}")


@app.command()
@with_config_options(DemoConfig)
def demo(
    out: Annotated[
        Path, typer.Option(help="Demo folder (re-running reuses finished stages).")
    ] = Path("rgasc-demo"),
    **options: Any,
) -> None:
    """End-to-end run on real recordings (or the synthetic corpus, or --dataset): puASC vs
    RGASC beside the teacher's probe and lookup, report.md."""
    from rgasc.demo.run import run_demo

    changes = config_changes(DemoConfig, options)
    if "dataset" in changes and "clips" in changes:
        raise ConfigError("--clips sizes the synthetic corpus; it does not apply with --dataset")
    report = run_demo(out, override(DemoConfig(), changes), log=typer.echo)
    typer.echo(f"report: {report}")

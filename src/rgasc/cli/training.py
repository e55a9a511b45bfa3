"""Commands that train models: train, experiment, demo.

``train`` and ``experiment`` take their TrainConfig options from one table
(:data:`rgasc.train.config.options.OPTIONS`): :func:`with_options` appends them to a command's
signature (typer reads ``__signature__``), so both commands spell, type and default them
alike. Every table option defaults to None, "not given": a ``--config`` file's or a resumed
run's setting then stays, and the dataclass default applies last.
"""

from __future__ import annotations

import inspect
import typing
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from typer.core import TyperCommand

from rgasc.artefacts import CONFIG_FILE, METRICS_FILE
from rgasc.cli._app import app
from rgasc.errors import ArtefactError, ConfigError, Interrupted
from rgasc.train.config.options import OPTIONS, Option, option_changes

F = TypeVar("F", bound=Callable[..., Any])
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
#: Flags of tuple options: ``--lambdas 1,0.01,0.5,0.01`` is read as ``--lambdas 1 0.01 0.5 0.01``.
_TUPLE_FLAGS = frozenset(o.flag for o in OPTIONS if typing.get_origin(o.type) is tuple)


def split_commas(args: Sequence[str], flags: frozenset[str] = _TUPLE_FLAGS) -> list[str]:
    """``[..., "--lambdas", "1,0,0,0"]`` (or ``--lambdas=1,0,0,0``) as four values."""
    out: list[str] = []
    it = iter(args)
    for a in it:
        if a == "--":
            out += [a, *it]
            break
        flag, eq, value = a.partition("=")
        if flag in flags and eq:
            out += [flag, *value.split(",")]
        elif a in flags:
            nxt = next(it, None)
            out += [a] if nxt is None else [a, *nxt.split(",")] if "," in nxt else [a, nxt]
        else:
            out.append(a)
    return out


class ConfigCommand(TyperCommand):
    """A typer command that also reads tuple options written with commas."""

    # ctx: typer's vendored click Context (typer._click is private, hence Any)
    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        return super().parse_args(ctx, split_commas(args))


def _parameter(opt: Option) -> inspect.Parameter:
    """The typer parameter of one table option (default None = not given)."""
    decls: list[str] = [opt.flag]
    kind: Any = opt.type
    if opt.path:
        kind = Path
    elif opt.choices is not None:
        kind = opt.choices
    elif kind is bool:
        decls = [f"{opt.flag}/--no-{opt.flag[2:]}"]
    default = opt.default_text()
    info = typer.Option(
        *decls,
        help=opt.help_text(),
        show_default=default if default is not None else False,
        rich_help_panel=_PANELS[opt.section],
    )
    return inspect.Parameter(
        opt.name,
        inspect.Parameter.KEYWORD_ONLY,
        default=None,
        annotation=Annotated[kind | None, info],
    )


def with_options(exclude: Sequence[str] = ()) -> Callable[[F], F]:
    """Append the table's options (less ``exclude``, by name) to a ``**options`` command."""

    def decorate(fn: F) -> F:
        sig = inspect.signature(fn, eval_str=True)
        own = [p for p in sig.parameters.values() if p.kind != inspect.Parameter.VAR_KEYWORD]
        names = {p.name for p in own}
        added = [_parameter(o) for o in OPTIONS if o.name not in exclude]
        clash = names & {p.name for p in added}
        assert not clash, f"{fn.__name__}: own parameters {clash} are also table options"
        fn.__signature__ = sig.replace(parameters=[*own, *added])  # type: ignore[attr-defined]
        return fn

    return decorate


_VERBOSE_HELP = "Show Lightning's own banners, tips and warnings (quiet by default)."
_CONFIG_HELP = (
    "YAML settings: a run's config.yaml (reproduce that run) or a file in its 'train' layout. "
    "Options given here override it."
)


# --- commands: train ---
@app.command(cls=ConfigCommand)
@with_options()
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
    from rgasc.train.runner import train as run_training
    from rgasc.utils import read_json

    set_verbose(verbose)
    changes = option_changes(options)
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
    run = run_training(cfg, resume=resume)
    if global_rank() != 0:  # DDP: every rank returns here; one prints
        return
    m = read_json(run / METRICS_FILE)
    typer.echo(f"run: {run}\nselected epoch {m['best_epoch']} ({m['selection']})")
    for split in ("val", "test"):
        if m.get(split):
            s = m[split]
            typer.echo(
                f"  {split:4s} macro acc {s['macro_accuracy']:.4f}  overall "
                f"{s['overall_accuracy']:.4f}  log loss {s['log_loss']:.4f}  (n={s['n']})"
            )
            for line in summary_lines(s.get("devices")):
                typer.echo(f"       {line}")


# --- commands: experiment, demo ---
#: Table options an experiment sets itself: per run (seed, out) or per row (lambdas, init).
EXPERIMENT_OWN = ("out", "seed", "lambdas", "init", "init_checkpoint")


@app.command(cls=ConfigCommand, context_settings={"allow_extra_args": True})
@with_options(exclude=EXPERIMENT_OWN)
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
    base = make_config(layered(file, quiet, {**option_changes(options), "out": out}))
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
def demo(
    out: Annotated[
        Path, typer.Option(help="Demo folder (re-running reuses finished stages).")
    ] = Path("rgasc-demo"),
    dataset: Annotated[
        Path | None,
        typer.Option(
            help="A DCASE-layout folder (audio/, meta.csv, evaluation_setup/fold1_train and "
            "fold1_evaluate) to run on as it is, instead of the synthetic corpus; e.g. "
            "data/realscenes from `make bench-data`. --duration still crops/pads its clips."
        ),
    ] = None,
    clips: Annotated[
        int | None,
        typer.Option(
            help="Synthetic clips (default: see rgasc.demo.run.DemoConfig); not with --dataset."
        ),
    ] = None,
    duration: Annotated[
        float | None,
        typer.Option(help="Seconds per clip: the features crop or zero-pad every clip to it."),
    ] = None,
    epochs: Annotated[int | None, typer.Option(help="Training epochs of each model.")] = None,
    width: Annotated[float | None, typer.Option(help="Channel multiplier of the model.")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the corpus and of both models.")] = None,
    teacher: Annotated[
        str | None,
        typer.Option(
            help="auto (yamnet if installed, else annotations), yamnet or annotations "
            "(the dataset's events.csv ground truth: the synthetic corpus or a --dataset "
            "that has one)."
        ),
    ] = None,
) -> None:
    """Offline end-to-end run on a synthetic corpus (or --dataset): puASC vs RGASC, report.md."""
    from rgasc.demo.run import DemoConfig, run_demo

    if dataset is not None and clips is not None:
        raise ConfigError("--clips sizes the synthetic corpus; it does not apply with --dataset")
    given = {
        "dataset": str(dataset) if dataset is not None else None,
        "clips": clips,
        "duration": duration,
        "epochs": epochs,
        "width": width,
        "seed": seed,
        "teacher": teacher,
    }
    report = run_demo(
        out,
        DemoConfig().replace(**{k: v for k, v in given.items() if v is not None}),
        log=typer.echo,
    )
    typer.echo(f"report: {report}")

"""Commands that train and score models: train, evaluate, experiment, demo."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rgasc.artefacts import CONFIG_FILE, METRICS_FILE
from rgasc.cli._app import app


# --- commands: train, evaluate ---
@app.command()
def train(
    ctx: typer.Context,
    out: Annotated[
        Path, typer.Option(help="Run folder: config.yaml, checkpoints/, logs/, metrics.json.")
    ],
    dataset: Annotated[Path | None, typer.Option(help="Dataset folder (DCASE layout).")] = None,
    features: Annotated[Path | None, typer.Option(help="Feature cache (`rgasc features`).")] = None,
    labels: Annotated[Path | None, typer.Option(help="Pseudo-labels (`rgasc tag`).")] = None,
    relation: Annotated[Path | None, typer.Option(help="R_SE folder (`rgasc relation`).")] = None,
    shared_blocks: Annotated[int, typer.Option(help="Blocks shared by both towers, 0..6.")] = 2,
    lambdas: Annotated[
        tuple[float, float, float, float],
        typer.Option(help="Loss weights l1 scene, l2 s_by_event, l3 event, l4 e_by_scene."),
    ] = (1.0, 0.01, 0.5, 0.01),
    width: Annotated[float, typer.Option(help="Channel multiplier (1 = CNN14 widths).")] = 1.0,
    epochs: Annotated[
        int | None,
        typer.Option(help="Epochs (100 for a new run; a resumed run keeps its own unless given)."),
    ] = None,
    batch_size: Annotated[int, typer.Option(help="Clips per batch.")] = 64,
    lr: Annotated[float, typer.Option(help="Adam learning rate.")] = 1e-3,
    seed: Annotated[int, typer.Option(help="Seed of weights, shuffling and dropout.")] = 0,
    fold: Annotated[int, typer.Option(help="Fold of evaluation_setup/.")] = 1,
    val_fraction: Annotated[
        float,
        typer.Option(help="Share of each scene's training locations carved out for validation."),
    ] = 0.3,
    relation_space: Annotated[
        str,
        typer.Option(
            help="prob (paper) or log (authors' code): scene side of the relation losses."
        ),
    ] = "prob",
    relation_grad: Annotated[
        str, typer.Option(help="paper (reference side detached) or both (authors' code).")
    ] = "paper",
    learn_relation: Annotated[
        bool, typer.Option(help="Learn R_SE (non-negative), starting from the prior.")
    ] = False,
    init: Annotated[
        str,
        typer.Option(help="he (PANNs' He-uniform) or panns (CNN14 blocks from --init-checkpoint)."),
    ] = "he",
    init_checkpoint: Annotated[
        Path | None, typer.Option(help="CNN14 .pth for --init panns.")
    ] = None,
    select_on: Annotated[
        str,
        typer.Option(
            help="Model selection split: val, or test (the authors' protocol; labelled as such)."
        ),
    ] = "val",
    precision: Annotated[
        str,
        typer.Option(
            help="Lightning precision, e.g. 32-true or bf16-mixed (GPU; CPU falls back to 32)."
        ),
    ] = "32-true",
    devices: Annotated[str, typer.Option(help="Lightning devices: auto, N, or 0,1.")] = "auto",
    num_nodes: Annotated[int, typer.Option(help="Machines for multi-node DDP.")] = 1,
    strategy: Annotated[str, typer.Option(help="Lightning strategy, e.g. auto or ddp.")] = "auto",
    accelerator: Annotated[
        str, typer.Option(help="Lightning accelerator: auto, cpu, gpu.")
    ] = "auto",
    deterministic: Annotated[bool, typer.Option(help="Deterministic algorithms only.")] = False,
    num_workers: Annotated[int, typer.Option(help="DataLoader worker processes.")] = 0,
    compile: Annotated[bool, typer.Option(help="torch.compile the forward pass.")] = False,
    resume: Annotated[
        bool,
        typer.Option(
            help="Continue --out from its last checkpoint (its "
            "config.yaml supplies the other options)."
        ),
    ] = False,
) -> None:
    """Train the two-tower model (Lightning); select on val, score the test split once."""
    from rgasc.train.config import config_from_options, load_run_config
    from rgasc.train.runner import train as run_training
    from rgasc.utils import read_json

    opts = {k: v for k, v in ctx.params.items() if k != "resume"}
    base = None
    if resume and (out / CONFIG_FILE).is_file():  # keep the run's options unless given
        base = load_run_config(out)
        opts = {
            k: v
            for k, v in opts.items()
            if getattr(ctx.get_parameter_source(k), "name", "") == "COMMANDLINE" and k != "out"
        }
    run = run_training(config_from_options(opts, base), resume=resume)
    m = read_json(run / METRICS_FILE)
    typer.echo(f"run: {run}\nselected epoch {m['best_epoch']} ({m['selection']})")
    for split in ("val", "test"):
        if m.get(split):
            s = m[split]
            typer.echo(
                f"  {split:4s} macro acc {s['macro_accuracy']:.4f}  overall "
                f"{s['overall_accuracy']:.4f}  log loss {s['log_loss']:.4f}  (n={s['n']})"
            )


# --- commands: experiment, demo ---
@app.command(context_settings={"allow_extra_args": True})
def experiment(
    ctx: typer.Context,
    name: Annotated[
        str,
        typer.Argument(
            help="shared-blocks (Fig. 2), ablation (Table I), "
            "lambdas (Table II), baselines (Table III) or "
            "per-class (Table V, Fig. 3)."
        ),
    ],
    dataset: Annotated[Path, typer.Option(help="Dataset folder (DCASE layout).")],
    features: Annotated[Path, typer.Option(help="Feature cache (`rgasc features`).")],
    labels: Annotated[Path, typer.Option(help="Pseudo-labels (`rgasc tag`).")],
    relation: Annotated[Path, typer.Option(help="R_SE folder (`rgasc relation`).")],
    out: Annotated[
        Path,
        typer.Option(
            help="Experiment folder: OUT/<config>/seed<k>/ runs, results.csv, results.md, figures."
        ),
    ],
    seeds: Annotated[
        list[str] | None, typer.Option(help="Seeds: --seeds 1 2 3 (or 1,2,3); default 1 2 3.")
    ] = None,
    epochs: Annotated[int, typer.Option(help="Epochs per run.")] = 100,
    width: Annotated[float, typer.Option(help="Channel multiplier (1 = CNN14 widths).")] = 1.0,
    batch_size: Annotated[int, typer.Option(help="Clips per batch.")] = 64,
    lr: Annotated[float, typer.Option(help="Adam learning rate.")] = 1e-3,
    shared_blocks: Annotated[
        int, typer.Option(help="Shared blocks N (not for shared-blocks).")
    ] = 2,
    grid: Annotated[
        str | None,
        typer.Option(help="lambdas only: rows 'l1,l2,l3,l4;...' instead of Table II's eight."),
    ] = None,
    init_checkpoint: Annotated[
        Path | None, typer.Option(help="baselines: CNN14 .pth for the PANN fine-tuning row.")
    ] = None,
    select_on: Annotated[
        str, typer.Option(help="val (default) or test (authors' protocol, labelled as such).")
    ] = "val",
    fold: Annotated[int, typer.Option(help="Fold of evaluation_setup/.")] = 1,
    val_fraction: Annotated[
        float, typer.Option(help="Share of training locations carved out for validation.")
    ] = 0.3,
    relation_space: Annotated[
        str, typer.Option(help="prob (paper) or log (authors' code).")
    ] = "prob",
    relation_grad: Annotated[str, typer.Option(help="paper or both (authors' code).")] = "paper",
    accelerator: Annotated[
        str, typer.Option(help="Lightning accelerator: auto, cpu, gpu.")
    ] = "auto",
    devices: Annotated[str, typer.Option(help="Lightning devices: auto, N, or 0,1.")] = "1",
    precision: Annotated[str, typer.Option(help="Lightning precision, e.g. 32-true.")] = "32-true",
    num_workers: Annotated[int, typer.Option(help="DataLoader worker processes.")] = 0,
) -> None:
    """Run one of the paper's experiments over seeds (resumable) and tabulate mean +- std."""
    from rgasc.experiments.sweep import parse_grid, parse_seeds, run_experiment
    from rgasc.train.config import config_from_options

    opts = {
        k: v for k, v in ctx.params.items() if k not in ("name", "seeds", "grid", "init_checkpoint")
    }
    base = config_from_options({**opts, "progress_bar": False, "model_summary": False})
    md = run_experiment(
        name,
        base,
        out,
        parse_seeds([*(seeds or ["1 2 3"]), *ctx.args]),
        grid=parse_grid(grid) if grid else None,
        init_checkpoint=init_checkpoint,
        log=typer.echo,
    )
    typer.echo(f"results: {md} and {md.with_suffix('.csv')}")


@app.command()
def demo(
    out: Annotated[
        Path, typer.Option(help="Demo folder (re-running reuses finished stages).")
    ] = Path("rgasc-demo"),
    clips: Annotated[
        int | None, typer.Option(help="Synthetic clips (default: see rgasc.demo.run.DemoConfig).")
    ] = None,
    duration: Annotated[float | None, typer.Option(help="Seconds per clip.")] = None,
    epochs: Annotated[int | None, typer.Option(help="Training epochs of each model.")] = None,
    width: Annotated[float | None, typer.Option(help="Channel multiplier of the model.")] = None,
    seed: Annotated[int | None, typer.Option(help="Seed of the corpus and of both models.")] = None,
    teacher: Annotated[
        str | None,
        typer.Option(help="auto (yamnet if installed, else annotations), yamnet or annotations."),
    ] = None,
) -> None:
    """Offline end-to-end run on a synthetic corpus: puASC vs RGASC, report.md."""
    from rgasc.demo.run import DemoConfig, run_demo

    given = {
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

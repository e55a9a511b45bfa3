"""The command that scores a trained run: evaluate."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rgasc.cli._app import app
from rgasc.cli.options import (
    AcceleratorOption,
    DevicesOption,
    EvalSplit,
    ModelOption,
    torch_device,
)


# --- commands: evaluate ---
@app.command()
def evaluate(
    model: ModelOption,
    split: Annotated[
        EvalSplit,
        typer.Option(
            case_sensitive=False,
            help="test (the fold's evaluation list), val (the carved validation locations) or "
            "train.",
        ),
    ] = "test",
    out: Annotated[
        Path | None,
        typer.Option(help="Report folder (default: RUN/eval_SPLIT, RUN the model's run)."),
    ] = None,
    tsne: Annotated[bool, typer.Option(help="Draw tsne.png (slow on large splits).")] = True,
    accelerator: AcceleratorOption = "auto",
    devices: DevicesOption = "auto",
) -> None:
    """Score a run's best model on a split: metrics.json, per_class.csv and figures.

    On a dataset with several recording devices it also prints (and writes to
    per_device.csv) the macro accuracy and log loss of each device, and their means over the
    devices seen in training and over the unseen ones.
    """
    from rgasc.evaluate.run import evaluate_run, report_dir
    from rgasc.scoring.devices import device_lines

    device = torch_device(accelerator, devices)
    r = evaluate_run(model, split=str(split), out=out, tsne=tsne, device=device)
    typer.echo(
        f"{model} on {split} ({r['n']} clips, {r['selection']}):\n"
        f"  macro acc {r['macro_accuracy']:.4f}  overall {r['overall_accuracy']:.4f}  "
        f"log loss {r['log_loss']:.4f}"
    )
    for line in device_lines(r.get("devices")):
        typer.echo(f"  {line}")
    ev = r.get("event_vs_teacher", {})
    if "mAP" in ev:

        def num(v: object) -> str:  # None (json's nan) when no event is present
            return f"{v:.4f}" if isinstance(v, int | float) else "n/a"

        typer.echo(
            f"  event tower vs teacher: mAP {num(ev['mAP'])}  "
            f"mean clip AUC {num(ev['mean_clip_auc'])}"
        )
    typer.echo(f"  report: {out or report_dir(model, str(split))}")

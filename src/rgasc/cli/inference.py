"""Commands that use a trained model: predict, export, info."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rgasc.cli._app import app
from rgasc.cli.options import (
    AcceleratorOption,
    DevicesOption,
    ExportFormat,
    ModelOption,
    PredictFormat,
    TopKOption,
    torch_device,
)


# --- commands: predict, export, info ---
@app.command()
def predict(
    paths: Annotated[
        list[Path], typer.Argument(help="Audio files and/or folders (searched recursively).")
    ],
    model: ModelOption,
    format_: Annotated[
        PredictFormat,
        typer.Option(
            "--format",
            case_sensitive=False,
            help="table (for people), json or csv (every probability), dcase2018 or dcase2020 "
            "(submission files).",
        ),
    ] = "table",
    top_k: TopKOption = 5,
    out: Annotated[Path | None, typer.Option(help="Write here instead of stdout.")] = None,
    skip_existing: Annotated[
        bool, typer.Option(help="Keep --out's entries; predict and append only new files.")
    ] = False,
    batch_size: Annotated[int, typer.Option(help="Windows per model call.")] = 16,
    accelerator: AcceleratorOption = "auto",
    devices: DevicesOption = "auto",
    clip_seconds: Annotated[
        float | None,
        typer.Option(help="Window length: the clip the model sees (default: its training clip)."),
    ] = None,
    hop_seconds: Annotated[
        float | None, typer.Option(help="Hop between windows (default: half a window).")
    ] = None,
    skip_bad: Annotated[
        bool, typer.Option(help="Report unreadable files and go on (exit 0).")
    ] = False,
    progress: Annotated[bool, typer.Option(help="Progress bar for several files.")] = True,
) -> None:
    """Classify audio files: scene, scene probabilities, events and their evidence."""
    from rgasc.inference.run import run_predict

    device = torch_device(accelerator, devices)
    r = run_predict(
        paths,
        model,
        fmt=str(format_),
        out=out,
        top_k=top_k,
        skip_existing=skip_existing,
        batch_size=batch_size,
        device=device,
        window=clip_seconds,
        hop=hop_seconds,
        skip_bad=skip_bad,
        progress=progress,
    )
    summary = [f"{r.predicted} file(s) predicted" + (f" -> {r.out}" if r.out else "")]
    if r.existing:
        summary.append(f"{r.existing} already in {r.out}")
    if r.bad:
        summary.append(f"{len(r.bad)} unreadable skipped")
    if r.warned:
        summary.append(f"{len(r.warned)} marked short (unreliable)")
    typer.echo(", ".join(summary), err=True)


@app.command()
def export(
    model: ModelOption,
    out: Annotated[Path, typer.Option(help="File to write (.onnx or .pt).")],
    format_: Annotated[
        ExportFormat, typer.Option("--format", case_sensitive=False, help="Exported format.")
    ] = "onnx",
    legacy: Annotated[
        bool, typer.Option(help="ONNX: the TorchScript-based exporter instead of torch.export.")
    ] = False,
) -> None:
    """Export log-mel -> (scene probs, event probs) and check it against PyTorch."""
    from rgasc.inference.export import export_model

    r = export_model(model, out, str(format_), dynamo=not legacy)
    diffs = f"scene {r.max_abs_diff_scene:.2e}, event {r.max_abs_diff_event:.2e}"
    typer.echo(f"{r.format} -> {r.path}; parity vs PyTorch: max abs diff {diffs}")
    typer.echo("input: un-normalised log-mel (batch, frames, mel); standardisation is inside")


@app.command()
def info(
    model: ModelOption,
    json_: Annotated[bool, typer.Option("--json", help="Print everything as JSON.")] = False,
) -> None:
    """Parameters, MACs per 10-s clip, front-end, labels and training metadata of a model."""
    import json

    from rgasc.inference.export import format_summary, model_summary

    s = model_summary(model)
    typer.echo(json.dumps(s, indent=2, default=str) if json_ else format_summary(s))

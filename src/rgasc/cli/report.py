"""The command that turns a run's files into a page to open in a browser: report."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Annotated, TypeAlias

import typer

from rgasc.cli._app import app
from rgasc.cli.options import (
    AcceleratorOption,
    DevicesOption,
    EvalSplit,
    choice_enum,
    torch_device,
)

if TYPE_CHECKING:
    AudioFormat: TypeAlias = str
else:
    # rgasc.report.audio.AUDIO_FORMATS, repeated: that module imports soundfile
    AudioFormat = choice_enum("AudioFormat", ("ogg", "flac", "wav"))


@app.command()
def report(
    run: Annotated[
        Path,
        typer.Argument(
            metavar="RUN",
            help="Run folder of `rgasc train`, or an experiment folder of `rgasc experiment`.",
        ),
    ],
    split: Annotated[
        EvalSplit, typer.Option(case_sensitive=False, help="The split shown (test, val, train).")
    ] = "test",
    out: Annotated[
        Path | None, typer.Option(help="Folder of the page (default: RUN/report_SPLIT).")
    ] = None,
    compare: Annotated[
        Path | None,
        typer.Option(metavar="RUN2", help="A second run: list the clips the two disagree on."),
    ] = None,
    member: Annotated[
        str | None,
        typer.Option(
            metavar="CONFIG/seedK",
            help="Experiment folders: the run whose clips are shown (default: the first trained).",
        ),
    ] = None,
    page_size: Annotated[int, typer.Option(min=1, help="Clips per clip page.")] = 100,
    correct_per_class: Annotated[
        int, typer.Option(min=0, help="Correct clips per scene in the sample list.")
    ] = 3,
    audio_format: Annotated[
        AudioFormat,
        typer.Option(
            case_sensitive=False,
            help="Listening copies: ogg (smallest), flac or wav (for browsers without OGG).",
        ),
    ] = "ogg",
    progress: Annotated[bool, typer.Option(help="Progress bar while copying audio.")] = True,
    accelerator: AcceleratorOption = "auto",
    devices: DevicesOption = "auto",
) -> None:
    """Write a static HTML page of a run's split: metrics, confusion matrix (click a cell for
    its clips), per-class rows, a player for every misclassified clip with the teacher's and
    the event tower's events and the R_SE entries behind the decision, figures, config.

    Built from the files the run wrote; a split that was never evaluated is evaluated first,
    and the event tower's per-clip outputs are predicted once (each said in one line).
    """
    from rgasc.report import write_report

    r = write_report(
        run,
        split=str(split),
        out=out,
        compare=compare,
        member=member,
        page_size=page_size,
        correct_per_class=correct_per_class,
        audio_format=str(audio_format),
        device=torch_device(accelerator, devices),
        progress=progress,
        log=typer.echo,
    )
    typer.echo(
        f"{r.clips} clips ({r.wrong} misclassified), {r.audio} audio players, {r.pages} pages"
    )
    typer.echo(f"report: {r.index}")

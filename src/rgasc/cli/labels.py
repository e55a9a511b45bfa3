"""Commands that make and relate labels: tag, relation."""

from __future__ import annotations

from enum import StrEnum
from pathlib import Path
from typing import Annotated

import typer

from rgasc.cli._app import app
from rgasc.cli.options import (
    AcceleratorOption,
    DatasetOption,
    DevicesOption,
    NumNodesOption,
    RelationSplit,
    TeacherName,
    TopKOption,
    current_command,
    torch_device,
)
from rgasc.data.datasets import DEFAULT_VAL_FRACTION
from rgasc.teachers.gain import DEFAULT_GAIN

#: Top events per scene `rgasc relation` prints (fewer when --top-k asks for fewer).
SHOWN_EVENTS = 3


class TeacherEngine(StrEnum):
    """``rgasc tag --engine``: what runs the yamnet teacher (the values of
    ``rgasc.teachers.yamnet.ENGINES``, repeated here: that module imports torch)."""

    onnx = "onnx"
    torch = "torch"


# --- commands: tag, relation ---
@app.command()
def tag(
    ctx: typer.Context,
    dataset: DatasetOption,
    teacher: Annotated[
        TeacherName,
        typer.Option(
            case_sensitive=False,
            help="Tagger: panns-cnn14-16k is the paper's; annotations reads the dataset's "
            "events.csv.",
        ),
    ],
    out: Annotated[Path, typer.Option(help="Pseudo-label file to write (.h5 or .csv).")],
    checkpoint: Annotated[
        Path | None, typer.Option(help="Weight file (default: download once, sha256-checked).")
    ] = None,
    class_labels: Annotated[
        Path | None,
        typer.Option(help="The teacher's class list (AudioSet class_labels_indices.csv)."),
    ] = None,
    accelerator: AcceleratorOption = "auto",
    devices: DevicesOption = "auto",
    num_nodes: NumNodesOption = 1,
    batch_size: Annotated[int, typer.Option(help="Clips per model call.")] = 8,
    skip_bad: Annotated[
        bool,
        typer.Option(
            help="Leave out undecodable, truncated or too short clips; list them in "
            "OUT.bad_clips.csv."
        ),
    ] = False,
    embeddings: Annotated[
        bool,
        typer.Option(
            help="Also store clip embeddings in the .h5 (PANNs; yamnet with --engine torch)."
        ),
    ] = False,
    noise: Annotated[
        float | None, typer.Option(help="annotations only: flip each label with probability P.")
    ] = None,
    gain: Annotated[
        str,
        typer.Option(
            help="The level each clip is scaled to before the teacher hears it: none, "
            "rms:DB (RMS in dBFS) or peak:DB; never past full scale. Quiet field recordings "
            "otherwise read as 'Silence' (benchmarks/results/teacher-gain/). Recorded in the "
            "label file; annotations ignore it.",
        ),
    ] = DEFAULT_GAIN,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
    engine: Annotated[
        TeacherEngine,
        typer.Option(
            case_sensitive=False,
            help="yamnet only: onnx runs the int8 graph (onnxruntime; the faster one on "
            "CPU); torch runs the same weights as a float network, batched, on the GPU "
            "when there is one.",
        ),
    ] = TeacherEngine.onnx,
) -> None:
    """Tag every clip with a pretrained teacher: the pseudo-labels (resumable)."""
    from rgasc.data.datasets import DcaseDataset
    from rgasc.distributed import is_multi_process, launch
    from rgasc.labels.sharded import tag_distributed
    from rgasc.labels.tagging import bad_clips_path, tag_dataset
    from rgasc.teachers import get_teacher

    if str(teacher) != "yamnet" and engine != TeacherEngine.onnx:
        raise typer.BadParameter(
            f"{engine} applies to the yamnet teacher only, not {teacher}", param_hint="--engine"
        )
    # several processes: each tags a shard on its own device, rank 0 merges
    multi = is_multi_process(devices, num_nodes)
    ranks = launch(accelerator, devices, num_nodes) if multi else None
    device = ranks.device if ranks is not None else torch_device(accelerator, devices)
    ds = DcaseDataset(dataset)
    t = get_teacher(
        str(teacher),
        checkpoint=checkpoint,
        labels=class_labels,
        device=device,
        dataset=ds.root,
        noise=noise,
        engine=str(engine) if str(teacher) == "yamnet" else None,
        gain=gain,
    )
    rerun = current_command(ctx, skip_bad=True)  # what a bad-clips error suggests
    if ranks is None:
        pl = tag_dataset(
            ds,
            t,
            out,
            batch_size=batch_size,
            device=device,
            skip_bad=skip_bad,
            embeddings=embeddings,
            skip_bad_command=rerun,
            progress=progress,
        )
    else:
        merged = tag_distributed(
            ds,
            t,
            out,
            ranks,
            batch_size=batch_size,
            skip_bad=skip_bad,
            embeddings=embeddings,
            skip_bad_command=rerun,
            progress=progress,
        )
        if merged is None:  # not rank 0: its shard is written, rank 0 reports
            return
        pl = merged
    if pl.reused:  # rows of the finished file this run would have computed identically
        typer.echo(f"reused {pl.reused} clips of {out}")
    typer.echo(
        f"{len(pl.filenames)} clips x {len(pl.labels)} events ({t.name}) -> {out}"
        + (
            f"; {pl.attrs['n_bad_clips']} bad clip(s) left out, listed in {bad_clips_path(out)}"
            if pl.attrs["n_bad_clips"]
            else ""
        )
    )


@app.command()
def relation(
    labels: Annotated[Path, typer.Option(help="Pseudo-labels from `rgasc tag` (.h5 or .csv).")],
    dataset: DatasetOption,
    out: Annotated[Path, typer.Option(help="Output folder for relation.npy/.json/.csv/.png.")],
    split: Annotated[
        RelationSplit,
        typer.Option(
            help="Clips R is built on: train (training fold minus validation "
            "locations), trainval (whole training fold) or all (authors' code)."
        ),
    ] = "train",
    binarize: Annotated[
        float | None, typer.Option(help="Turn probabilities >= T into 1, else 0, first.")
    ] = None,
    fold: Annotated[int, typer.Option(help="Fold of evaluation_setup/ to use.")] = 1,
    val_fraction: Annotated[
        float,
        typer.Option(
            help="--split train: share of each scene's training locations carved out for "
            "validation (as `rgasc train --val-fraction`; match the run's)."
        ),
    ] = DEFAULT_VAL_FRACTION,
    split_seed: Annotated[
        int, typer.Option(help="--split train: seed of that carve (as `rgasc train`'s).")
    ] = 0,
    top_k: TopKOption = 10,
    evaluate: Annotated[
        bool, typer.Option(help="Also score the event-only lookup y_e.R^T on the test split.")
    ] = False,
) -> None:
    """Build the scene-event relation matrix R_SE (eq. 1-3) from pseudo-labels."""
    from rgasc.relation import run_relation, top_events

    rel, scores = run_relation(
        labels,
        dataset,
        out,
        split=str(split),
        binarize=binarize,
        fold=fold,
        top_k=top_k,
        evaluate=evaluate,
        val_fraction=val_fraction,
        seed=split_seed,
    )
    typer.echo(
        f"R_SE {rel.matrix.shape[0]} scenes x {rel.matrix.shape[1]} events "
        f"({rel.meta['n_clips']} {split} clips) -> {out}"
    )
    # a preview: at most SHOWN_EVENTS a scene (top_events.csv holds --top-k of them)
    shown = min(top_k, SHOWN_EVENTS)
    for scene, tops in zip(rel.scenes, top_events(rel.matrix, rel.events, shown), strict=True):
        typer.echo(f"  {scene}: " + ", ".join(f"{e} {v:.2f}" for e, v in tops))
    if scores is not None:
        typer.echo(
            f"event-only lookup on {scores['split']} ({scores['n_clips']} clips): macro "
            f"accuracy {scores['macro_accuracy']:.4f} (chance {scores['chance']:.4f})"
        )

"""Commands of the data stages: download, prepare, synth, features."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated, Any

import typer

from rgasc.cli._app import app
from rgasc.cli.options import (
    AcceleratorOption,
    ArchiveSelection,
    DatasetName,
    DatasetOption,
    DevicesOption,
    NumNodesOption,
    WorkersOption,
    current_command,
)
from rgasc.cli.params import config_changes, with_config_options
from rgasc.features.logmel import FeatureConfig
from rgasc.models.config import BackboneName


# --- commands: data (download, prepare, synth) ---
@app.command()
def download(
    name: Annotated[
        DatasetName | None,
        typer.Argument(help="Dataset to fetch (see --list).", case_sensitive=False),
    ] = None,
    root: Annotated[
        Path | None,
        typer.Option(help="Folder for .downloads/ and the dataset; default $RGASC_CACHE/datasets."),
    ] = None,
    base_url: Annotated[
        str | None, typer.Option(help="Fetch the archives from this mirror URL instead.")
    ] = None,
    only: Annotated[
        ArchiveSelection,
        typer.Option(help="'all' archives, or 'meta': just the doc and meta archives."),
    ] = ArchiveSelection.all,
    progress: Annotated[bool, typer.Option(help="Show a progress bar per archive.")] = True,
    list_: Annotated[
        bool, typer.Option("--list", help="List the datasets that can be downloaded.")
    ] = False,
) -> None:
    """Download a dataset, verify every archive's md5, unpack it in the DCASE layout.

    An interrupted transfer resumes where it stopped when the same command is rerun.
    """
    from rgasc.data.download import download_dataset
    from rgasc.data.registry import available_datasets, get_dataset
    from rgasc.utils import cache_dir

    if list_ or name is None:
        for n in available_datasets():
            s = get_dataset(n)
            size = f"{s.total_size / 1e9:.1f} GB"
            typer.echo(f"{n}: {len(s.files)} files, {size}, zenodo record {s.record}")
            typer.echo(f"  {s.description}")
            typer.echo(f"  licence: {s.licence}")
        if name is None and not list_:
            raise typer.BadParameter("give a dataset name (or --list)")
        return
    folder = root if root is not None else cache_dir() / "datasets"
    path = download_dataset(str(name), folder, base_url=base_url, progress=progress, only=str(only))
    what = "doc and meta archives" if only == ArchiveSelection.meta else "every archive"
    typer.echo(f"{name}: {what} verified and unpacked in {path}")


@app.command()
def prepare(
    src: Annotated[
        Path,
        typer.Argument(
            help="SRC/<scene>/*.wav folder, or a CSV/TSV: path, scene[, location][, device]."
        ),
    ],
    out: Annotated[Path, typer.Option("--out", help="Dataset folder to create (DCASE layout).")],
    copy: Annotated[
        bool,
        typer.Option(
            "--copy/--link", help="Copy the audio into OUT/audio, or link it there (symlinks)."
        ),
    ] = False,
    evaluate_fraction: Annotated[
        float, typer.Option(help="Share of each scene's locations in fold1_evaluate.")
    ] = 0.3,
    seed: Annotated[int, typer.Option(help="Seed of the location draw.")] = 0,
    skip_bad: Annotated[
        bool,
        typer.Option(
            "--skip-bad/--no-skip-bad", help="Leave unreadable files out (listed) and go on."
        ),
    ] = False,
) -> None:
    """Turn your own recordings into a dataset every later stage reads (DCASE layout)."""
    from rgasc.data.prepare import prepare_dataset

    res = prepare_dataset(
        src, out, copy=copy, evaluate_fraction=evaluate_fraction, seed=seed, skip_bad=skip_bad
    )
    how = "copied" if res.copied else "linked (symlinks; --copy to copy)"
    typer.echo(f"{res.clips} clips of {len(res.counts)} scenes in {res.root}, audio {how}")
    for scene, (tr, ev, ltr, lev) in res.counts.items():
        typer.echo(f"  {scene}: {tr} train / {ev} evaluate clips ({ltr} / {lev} locations)")
    for note in res.notes:
        typer.echo(f"note: {note}")
    if res.skipped:
        typer.echo(f"skipped {len(res.skipped)} unreadable file(s):")
        for path, reason in res.skipped:
            typer.echo(f"  {path}: {reason}")


@app.command()
def synth(
    out: Annotated[Path, typer.Option("--out", help="Dataset folder to create (DCASE layout).")],
    clips: Annotated[int, typer.Option(help="Total clips, spread evenly over the scenes.")] = 100,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same bytes.")] = 0,
    clip_seconds: Annotated[float, typer.Option(help="Seconds per clip.")] = 10.0,
    scenes: Annotated[
        str | None, typer.Option(help="Comma-separated subset of the 10 TUT2018 scenes.")
    ] = None,
    overwrite: Annotated[
        bool, typer.Option(help="Replace a synthetic corpus made with other settings.")
    ] = False,
) -> None:
    """Write a synthetic acoustic-scene corpus with ground-truth events (events.csv)."""
    from collections import Counter

    from rgasc.data import DcaseDataset
    from rgasc.data.synthetic import read_events, synthesize

    picked = [s for s in scenes.split(",") if s.strip()] if scenes else None
    path = synthesize(
        out, clips=clips, seed=seed, duration=clip_seconds, scenes=picked, overwrite=overwrite
    )
    ds = DcaseDataset(path)
    counts = Counter(c.scene for c in ds.clips)
    typer.echo(f"{len(ds)} clips of {clip_seconds:g} s in {path}")
    typer.echo("  " + ", ".join(f"{s} {counts[s]}" for s in ds.scenes))
    typer.echo(f"  {len(read_events(path / 'events.csv'))} events in events.csv; see README.txt")


# --- commands: features ---
@app.command()
@with_config_options(FeatureConfig)
def features(
    ctx: typer.Context,
    dataset: DatasetOption,
    out: Annotated[Path, typer.Option("--out", help="Cache folder (one subfolder per key).")],
    workers: WorkersOption = 0,
    skip_bad: Annotated[
        bool,
        typer.Option(
            "--skip-bad/--no-skip-bad",
            help="Record undecodable, truncated or too short clips in bad_clips.csv, go on.",
        ),
    ] = False,
    export_npz: Annotated[
        Path | None, typer.Option("--export-npz", help="Also write names + features to this .npz.")
    ] = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
    accelerator: AcceleratorOption = "cpu",  # numpy: the processes run on CPU cores
    devices: DevicesOption = "1",
    num_nodes: NumNodesOption = 1,
    backbone: Annotated[
        BackboneName | None,
        typer.Option(
            case_sensitive=False,
            help="Compute this backbone's input (its front-end; cnn14: the paper's, yamnet: "
            "YAMNet's); the options below still change what they may.",
        ),
    ] = None,
    **options: Any,
) -> None:
    """Compute log-mel features of every clip into a cache keyed by config and file list."""
    from rgasc.data import DcaseDataset
    from rgasc.distributed import is_multi_process, launch
    from rgasc.features import compute_features
    from rgasc.features import export_npz as write_npz
    from rgasc.features.sharded import features_distributed
    from rgasc.models.backbones import get_backbone

    contract: dict[str, Any] = {}
    if backbone is not None:  # the backbone's front-end, where it differs from the paper's
        paper = FeatureConfig().to_dict()
        fixed = get_backbone(backbone).features.to_dict()
        contract = {k: v for k, v in fixed.items() if v != paper[k]}
    try:  # fmax, when not given, follows the rate
        cfg = FeatureConfig(**{**contract, **config_changes(FeatureConfig, options)})
    except ValueError as e:
        raise typer.BadParameter(str(e)) from e
    ds = DcaseDataset(dataset)
    rerun = current_command(ctx, skip_bad=True)  # what a bad-clips error suggests
    # clips shorter than a length the user chose are padded on purpose: no warning then
    warn_short = options.get("clip_seconds") is None
    if is_multi_process(devices, num_nodes):  # each process a shard, rank 0 merges
        ranks = launch(str(accelerator), devices, num_nodes)
        merged = features_distributed(
            ds,
            out,
            cfg,
            ranks,
            workers=workers,
            skip_bad=skip_bad,
            progress=progress,
            skip_bad_command=rerun,
            warn_short=warn_short,
        )
        if merged is None:  # not rank 0: its shard is written, rank 0 reports
            return
        cache = merged
    else:
        cache = compute_features(
            ds,
            out,
            cfg,
            workers=workers,
            skip_bad=skip_bad,
            progress=progress,
            skip_bad_command=rerun,
            warn_short=warn_short,
        )
    typer.echo(
        f"{len(cache)} clips -> {cache.path} {tuple(cache.features.shape)}: {cache.summary()}"
    )
    if export_npz is not None:
        typer.echo(f"wrote {write_npz(cache, export_npz)}")

"""Commands of the data stages: download, prepare, synth, features."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rgasc.cli._app import app
from rgasc.cli.options import (
    AcceleratorName,
    Alias,
    ArchiveSelection,
    DatasetName,
    NumNodesOption,
    with_aliases,
)


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
            typer.echo(f"{n}: {len(s.files)} files, {s.total_size / 1e9:.1f} GB, "
                       f"zenodo record {s.record}")  # fmt: skip
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
        bool, typer.Option("--copy", help="Copy the audio into OUT/audio (default: symlinks).")
    ] = False,
    evaluate_fraction: Annotated[
        float, typer.Option(help="Share of each scene's locations in fold1_evaluate.")
    ] = 0.3,
    seed: Annotated[int, typer.Option(help="Seed of the location draw.")] = 0,
    skip_bad: Annotated[
        bool, typer.Option("--skip-bad", help="Leave unreadable files out (listed) and go on.")
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
    out: Annotated[Path, typer.Argument(help="Dataset folder to create (DCASE layout).")],
    clips: Annotated[int, typer.Option(help="Total clips, spread evenly over the scenes.")] = 100,
    seed: Annotated[int, typer.Option(help="Random seed; the same seed gives the same bytes.")] = 0,
    duration: Annotated[float, typer.Option(help="Seconds per clip.")] = 10.0,
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
        out, clips=clips, seed=seed, duration=duration, scenes=picked, overwrite=overwrite
    )
    ds = DcaseDataset(path)
    counts = Counter(c.scene for c in ds.clips)
    typer.echo(f"{len(ds)} clips of {duration:g} s in {path}")
    typer.echo("  " + ", ".join(f"{s} {counts[s]}" for s in ds.scenes))
    typer.echo(f"  {len(read_events(path / 'events.csv'))} events in events.csv; see README.txt")


# --- commands: features ---
@app.command(cls=with_aliases(Alias("--hop", "--hop-length")))
def features(
    dataset: Annotated[Path, typer.Argument(help="Dataset folder in the DCASE layout.")],
    out: Annotated[Path, typer.Option("--out", help="Cache folder (one subfolder per key).")],
    workers: Annotated[int, typer.Option(help="Decoding processes; 0 = this process.")] = 0,
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
    sample_rate: Annotated[int, typer.Option(help="Resample clips to this rate (Hz).")] = 44100,
    n_mels: Annotated[int, typer.Option(help="Mel bands.")] = 64,
    n_fft: Annotated[int, typer.Option(help="STFT frame and window length (samples).")] = 2048,
    hop_length: Annotated[int, typer.Option(help="STFT hop in samples; 1376 = 2048 - 672.")] = 1376,
    fmin: Annotated[float, typer.Option(help="Lowest mel edge (Hz).")] = 50.0,
    fmax: Annotated[
        float | None, typer.Option(help="Highest mel edge (Hz); default sample_rate / 2.")
    ] = None,
    power: Annotated[float, typer.Option(help="1 = magnitude (paper's code), 2 = power.")] = 1.0,
    clip_seconds: Annotated[float, typer.Option(help="Crop/zero-pad clips to this length.")] = 10.0,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
    accelerator: Annotated[
        AcceleratorName,
        typer.Option(
            case_sensitive=False,
            help="Where --devices places the processes: cpu (N per machine) or gpu (one per "
            "GPU); the features are numpy, computed on CPU cores either way.",
        ),
    ] = "cpu",
    devices: Annotated[
        str,
        typer.Option(
            help="Processes per machine, each computing a shard of the clips (as `rgasc tag "
            "--devices`): 1 (this one), a count, or with gpu -1 or indices (0,1)."
        ),
    ] = "1",
    num_nodes: NumNodesOption = 1,
) -> None:
    """Compute log-mel features of every clip into a cache keyed by config and file list."""
    from rgasc.data import DcaseDataset
    from rgasc.distributed import is_multi_process, launch
    from rgasc.features import FeatureConfig, compute_features
    from rgasc.features import export_npz as write_npz
    from rgasc.features.sharded import features_distributed

    try:
        cfg = FeatureConfig(
            sample_rate=sample_rate,
            n_fft=n_fft,
            hop_length=hop_length,
            n_mels=n_mels,
            fmin=fmin,
            fmax=sample_rate / 2 if fmax is None else fmax,
            power=power,
            clip_seconds=clip_seconds,
        )
    except ValueError as e:
        raise typer.BadParameter(str(e)) from e
    ds = DcaseDataset(dataset)
    if is_multi_process(devices, num_nodes):  # each process a shard, rank 0 merges
        ranks = launch(str(accelerator), devices, num_nodes)
        merged = features_distributed(ds, out, cfg, ranks, workers=workers, skip_bad=skip_bad,
                                      progress=progress)  # fmt: skip
        if merged is None:  # not rank 0: its shard is written, rank 0 reports
            return
        cache = merged
    else:
        cache = compute_features(ds, out, cfg, workers=workers, skip_bad=skip_bad,
                                 progress=progress)  # fmt: skip
    typer.echo(
        f"{len(cache)} clips -> {cache.path} {tuple(cache.features.shape)}: {cache.reused} "
        f"reused, {cache.computed} computed, {len(cache.bad_clips)} bad"
    )
    if export_npz is not None:
        typer.echo(f"wrote {write_npz(cache, export_npz)}")

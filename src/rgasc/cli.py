"""The ``rgasc`` command: parse options, call one library function per command.

Heavy imports (torch, lightning) happen inside each command so ``rgasc --help`` is quick.
Any :class:`rgasc.errors.RgascError` ends in one clear message and exit status 2.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from rgasc.errors import RgascError

app = typer.Typer(
    name="rgasc",
    help="Relation-guided acoustic scene classification: download -> features -> tag -> "
    "relation -> train -> evaluate -> predict.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

PathArg = Annotated[Path, typer.Argument()]


@app.callback()
def _root() -> None:
    """Relation-guided acoustic scene classification (Hou et al., IJCNN 2022)."""


# Each stage adds its command(s) below its own marker. Keep each command a few lines:
# options in, one library call, a short summary out.


@app.command()
def version() -> None:
    """Print the versions of rgasc and its main dependencies."""
    from rgasc.utils import package_versions

    for name, v in package_versions().items():
        typer.echo(f"{name} {v}")


# --- commands: data (download, synth) ---
@app.command()
def download(
    name: Annotated[
        str | None, typer.Argument(help="Dataset to fetch (see --list), e.g. tut2018.")
    ] = None,
    root: Annotated[
        Path | None,
        typer.Option(help="Folder for .downloads/ and the dataset; default $RGASC_CACHE/datasets."),
    ] = None,
    base_url: Annotated[
        str | None, typer.Option(help="Fetch the archives from this mirror URL instead.")
    ] = None,
    progress: Annotated[bool, typer.Option(help="Show a progress bar per archive.")] = True,
    list_: Annotated[
        bool, typer.Option("--list", help="List the datasets that can be downloaded.")
    ] = False,
) -> None:
    """Download a dataset, verify every archive's md5, unpack it in the DCASE layout."""
    from rgasc.data.download import download_dataset
    from rgasc.data.registry import available_datasets, get_dataset
    from rgasc.utils import cache_dir

    if list_ or name is None:
        for n in available_datasets():
            s = get_dataset(n)
            typer.echo(f"{n}: {s.description}; {len(s.files)} files, "
                       f"{s.total_size / 1e9:.1f} GB; licence: {s.licence}")  # fmt: skip
        if name is None and not list_:
            raise typer.BadParameter("give a dataset name (or --list)")
        return
    folder = root if root is not None else cache_dir() / "datasets"
    path = download_dataset(name, folder, base_url=base_url, progress=progress)
    typer.echo(f"{name}: verified and unpacked in {path}")


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
@app.command()
def features(
    dataset: Annotated[Path, typer.Argument(help="Dataset folder in the DCASE layout.")],
    out: Annotated[Path, typer.Option("--out", help="Cache folder (one subfolder per key).")],
    workers: Annotated[int, typer.Option(help="Decoding processes; 0 = this process.")] = 0,
    skip_bad: Annotated[
        bool, typer.Option("--skip-bad", help="Record undecodable clips in bad_clips.csv, go on.")
    ] = False,
    export_npz: Annotated[
        Path | None, typer.Option("--export-npz", help="Also write names + features to this .npz.")
    ] = None,
    sample_rate: Annotated[int, typer.Option(help="Resample clips to this rate (Hz).")] = 44100,
    n_mels: Annotated[int, typer.Option(help="Mel bands.")] = 64,
    n_fft: Annotated[int, typer.Option(help="STFT frame and window length (samples).")] = 2048,
    hop: Annotated[int, typer.Option(help="STFT hop (samples); 1376 = 2048 - 672.")] = 1376,
    fmin: Annotated[float, typer.Option(help="Lowest mel edge (Hz).")] = 50.0,
    fmax: Annotated[
        float | None, typer.Option(help="Highest mel edge (Hz); default sample_rate / 2.")
    ] = None,
    power: Annotated[float, typer.Option(help="1 = magnitude (paper's code), 2 = power.")] = 1.0,
    clip_seconds: Annotated[float, typer.Option(help="Crop/zero-pad clips to this length.")] = 10.0,
    progress: Annotated[bool, typer.Option(help="Show a progress bar.")] = True,
) -> None:
    """Compute log-mel features of every clip into a cache keyed by config and file list."""
    from rgasc.data import DcaseDataset
    from rgasc.features import FeatureConfig, compute_features
    from rgasc.features import export_npz as write_npz

    try:
        cfg = FeatureConfig(
            sample_rate=sample_rate,
            n_fft=n_fft,
            hop_length=hop,
            n_mels=n_mels,
            fmin=fmin,
            fmax=sample_rate / 2 if fmax is None else fmax,
            power=power,
            clip_seconds=clip_seconds,
        )
    except ValueError as e:
        raise typer.BadParameter(str(e)) from e
    cache = compute_features(
        DcaseDataset(dataset), out, cfg, workers=workers, skip_bad=skip_bad, progress=progress
    )
    typer.echo(
        f"{len(cache)} clips -> {cache.path} {tuple(cache.features.shape)}, "
        f"{len(cache.bad_clips)} bad"
    )
    if export_npz is not None:
        typer.echo(f"wrote {write_npz(cache, export_npz)}")


# --- commands: tag, relation ---
@app.command()
def tag(
    dataset: Annotated[Path, typer.Argument(help="Dataset folder (DCASE layout).")],
    teacher: Annotated[
        str, typer.Option(help="Tagger: panns-cnn14-16k, panns-cnn14, yamnet or annotations.")
    ],
    out: Annotated[Path, typer.Option(help="Pseudo-label file to write (.h5 or .csv).")],
    checkpoint: Annotated[
        Path | None, typer.Option(help="Weight file (default: download once, sha256-checked).")
    ] = None,
    labels: Annotated[
        Path | None, typer.Option(help="Class label CSV (AudioSet class_labels_indices.csv).")
    ] = None,
    device: Annotated[str, typer.Option(help="cpu or cuda.")] = "cpu",
    batch_size: Annotated[int, typer.Option(help="Clips per model call.")] = 8,
    skip_bad: Annotated[
        bool, typer.Option(help="Leave out undecodable clips; list them in bad_clips.csv.")
    ] = False,
    embeddings: Annotated[
        bool, typer.Option(help="Also store clip embeddings in the .h5 (PANNs only).")
    ] = False,
    noise: Annotated[
        float | None, typer.Option(help="annotations only: flip each label with probability P.")
    ] = None,
) -> None:
    """Tag every clip with a pretrained teacher: the pseudo-labels (resumable)."""
    from rgasc.data.datasets import DcaseDataset
    from rgasc.tag import tag_dataset
    from rgasc.teachers import get_teacher

    ds = DcaseDataset(dataset)
    t = get_teacher(
        teacher, checkpoint=checkpoint, labels=labels, device=device, dataset=ds.root, noise=noise
    )
    pl = tag_dataset(
        ds, t, out, batch_size=batch_size, device=device, skip_bad=skip_bad, embeddings=embeddings
    )
    typer.echo(
        f"{len(pl.filenames)} clips x {len(pl.labels)} events ({t.name}) -> {out}"
        + (f"; {pl.attrs['n_bad_clips']} bad clip(s) skipped" if pl.attrs["n_bad_clips"] else "")
    )


@app.command()
def relation(
    labels: Annotated[Path, typer.Argument(help="Pseudo-labels from `rgasc tag` (.h5 or .csv).")],
    dataset: Annotated[Path, typer.Option(help="Dataset folder (DCASE layout).")],
    out: Annotated[Path, typer.Option(help="Output folder for relation.npy/.json/.csv/.png.")],
    split: Annotated[
        str,
        typer.Option(
            help="Clips R is built on: train (training fold minus validation "
            "locations), trainval (whole training fold) or all (authors' code)."
        ),
    ] = "train",
    binarize: Annotated[
        float | None, typer.Option(help="Turn probabilities >= T into 1, else 0, first.")
    ] = None,
    fold: Annotated[int, typer.Option(help="Fold of evaluation_setup/ to use.")] = 1,
    top_k: Annotated[int, typer.Option(help="Events per scene in top_events.csv.")] = 10,
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
        split=split,
        binarize=binarize,
        fold=fold,
        top_k=top_k,
        evaluate=evaluate,
    )
    typer.echo(
        f"R_SE {rel.matrix.shape[0]} scenes x {rel.matrix.shape[1]} events "
        f"({rel.meta['n_clips']} {split} clips) -> {out}"
    )
    for scene, tops in zip(rel.scenes, top_events(rel.matrix, rel.events, 3), strict=True):
        typer.echo(f"  {scene}: " + ", ".join(f"{e} {v:.2f}" for e, v in tops))
    if scores is not None:
        typer.echo(
            f"event-only lookup on {scores['split']} ({scores['n_clips']} clips): macro "
            f"accuracy {scores['macro_accuracy']:.4f} (chance {scores['chance']:.4f})"
        )


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
    if resume and (out / "config.yaml").is_file():  # keep the run's options unless given
        base = load_run_config(out)
        opts = {
            k: v
            for k, v in opts.items()
            if getattr(ctx.get_parameter_source(k), "name", "") == "COMMANDLINE" and k != "out"
        }
    run = run_training(config_from_options(opts, base), resume=resume)
    m = read_json(run / "metrics.json")
    typer.echo(f"run: {run}\nselected epoch {m['best_epoch']} ({m['selection']})")
    for split in ("val", "test"):
        if m.get(split):
            s = m[split]
            typer.echo(
                f"  {split:4s} macro acc {s['macro_accuracy']:.4f}  overall "
                f"{s['overall_accuracy']:.4f}  log loss {s['log_loss']:.4f}  (n={s['n']})"
            )


@app.command()
def evaluate(
    run: Annotated[Path, typer.Argument(help="Run folder written by `rgasc train`.")],
    split: Annotated[str, typer.Option(help="test, val or train.")] = "test",
    out: Annotated[
        Path | None, typer.Option(help="Report folder (default: RUN/eval_SPLIT).")
    ] = None,
    tsne: Annotated[bool, typer.Option(help="Draw tsne.png (slow on large splits).")] = True,
) -> None:
    """Score a run's best model on a split: metrics.json, per_class.csv and figures."""
    from rgasc.evaluate.run import evaluate_run

    r = evaluate_run(run, split=split, out=out, tsne=tsne)
    typer.echo(
        f"{run} on {split} ({r['n']} clips, {r['selection']}):\n"
        f"  macro acc {r['macro_accuracy']:.4f}  overall {r['overall_accuracy']:.4f}  "
        f"log loss {r['log_loss']:.4f}"
    )
    ev = r.get("event_vs_teacher", {})
    if "mAP" in ev:
        typer.echo(
            f"  event tower vs teacher: mAP {ev['mAP']}  mean clip AUC {ev['mean_clip_auc']}"
        )
    typer.echo(f"  report: {out or run / f'eval_{split}'}")


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
    from rgasc.experiments import parse_grid, parse_seeds, run_experiment
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
        int | None, typer.Option(help="Synthetic clips (default: see rgasc.demo.DemoConfig).")
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
    from rgasc.demo import DemoConfig, run_demo

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


# --- commands: predict, export, info ---
@app.command()
def predict(
    paths: Annotated[
        list[Path], typer.Argument(help="Audio files and/or folders (searched recursively).")
    ],
    model: Annotated[Path, typer.Option(help="Run folder or checkpoint file (best.pt).")],
    format_: Annotated[
        str, typer.Option("--format", help="table, json, csv, dcase2018 or dcase2020.")
    ] = "table",
    top_events: Annotated[
        int, typer.Option(help="Events listed per file (top events and evidence).")
    ] = 5,
    out: Annotated[Path | None, typer.Option(help="Write here instead of stdout.")] = None,
    skip_existing: Annotated[
        bool, typer.Option(help="Keep --out's entries; predict and append only new files.")
    ] = False,
    batch_size: Annotated[int, typer.Option(help="Windows per model call.")] = 16,
    device: Annotated[str, typer.Option(help="cpu, cuda or cuda:N.")] = "cpu",
    window: Annotated[
        float | None, typer.Option(help="Window length in s (default: training clip length).")
    ] = None,
    hop: Annotated[
        float | None, typer.Option(help="Hop between windows in s (default: half a window).")
    ] = None,
    skip_bad: Annotated[
        bool, typer.Option(help="Report unreadable files and go on (exit 0).")
    ] = False,
    progress: Annotated[bool, typer.Option(help="Progress bar for several files.")] = True,
) -> None:
    """Classify audio files: scene, scene probabilities, events and their evidence."""
    from rgasc.formats import run_predict

    r = run_predict(paths, model, fmt=format_, out=out, top_k=top_events,
                    skip_existing=skip_existing, batch_size=batch_size, device=device,
                    window=window, hop=hop, skip_bad=skip_bad, progress=progress)  # fmt: skip
    typer.echo(f"{r.predicted} file(s) predicted" + (f" -> {r.out}" if r.out else "")
               + (f", {r.existing} already in {r.out}" if r.existing else "")
               + (f", {len(r.bad)} unreadable skipped" if r.bad else ""), err=True)  # fmt: skip


@app.command()
def export(
    run: Annotated[Path, typer.Argument(help="Run folder or checkpoint file (best.pt).")],
    out: Annotated[Path, typer.Option(help="File to write (.onnx or .pt).")],
    format_: Annotated[str, typer.Option("--format", help="onnx or torchscript.")] = "onnx",
    legacy: Annotated[
        bool, typer.Option(help="ONNX: the TorchScript-based exporter instead of torch.export.")
    ] = False,
) -> None:
    """Export log-mel -> (scene probs, event probs) and check it against PyTorch."""
    from rgasc.export import export_model

    r = export_model(run, out, format_, dynamo=not legacy)
    typer.echo(f"{r.format} -> {r.path}; parity vs PyTorch: max abs diff scene "
               f"{r.max_abs_diff_scene:.2e}, event {r.max_abs_diff_event:.2e}")  # fmt: skip
    typer.echo("input: un-normalised log-mel (batch, frames, mel); standardisation is inside")


@app.command()
def info(
    run: Annotated[Path, typer.Argument(help="Run folder or checkpoint file (best.pt).")],
    json_: Annotated[bool, typer.Option("--json", help="Print everything as JSON.")] = False,
) -> None:
    """Parameters, MACs per 10-s clip, front-end, labels and training metadata of a model."""
    import json

    from rgasc.export import format_summary, model_summary

    s = model_summary(run)
    typer.echo(json.dumps(s, indent=2, default=str) if json_ else format_summary(s))


def main() -> None:
    try:
        app()
    except RgascError as e:
        typer.secho(f"error: {e}", err=True, fg=typer.colors.RED)
        sys.exit(2)


if __name__ == "__main__":
    main()

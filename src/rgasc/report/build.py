"""``rgasc report RUN``: one static page built from the files a run already wrote.

Layout of the output folder (default ``RUN/report_SPLIT``)::

    index.html              headline metrics (per device), the experiment's seeds, the
                            comparison, the confusion matrix (cells link to their clips),
                            per-class rows, the figures, the config and data provenance
    clips/<list>-NNN.html   clip cards, paged: misclassified, a sample of correct ones, the
                            disagreements with --compare, and one list per confusion cell
    assets/audio/           listening copies (OGG Vorbis, 16 kHz mono) of the clips with a card
                            in the misclassified, correct-sample and disagreement lists
    assets/img/             the run's figures, copied (curves, t-SNE, confusion, R_SE)
    assets/event_tower.npz  the event tower's outputs, when the run had none (kept for rebuilds)

Every link is relative, so the folder can be moved or zipped as it is.
"""

from __future__ import annotations

import dataclasses
import os
import shutil
from collections.abc import Callable
from pathlib import Path

import numpy as np

from rgasc import __version__
from rgasc.data.datasets import DcaseDataset
from rgasc.errors import ArtefactError, ConfigError, RgascError
from rgasc.labels.files import read_labels
from rgasc.report.audio import AUDIO_FORMATS, copy_clips, remove_unused
from rgasc.report.collect import CORRECT_PER_CLASS, Report, SplitData, collect
from rgasc.report.experiment import ExperimentSummary, is_experiment, pick_member, read_experiment
from rgasc.report.outputs import (
    ModelSummary,
    check_same_scenes,
    ensure_evaluated,
    event_tower,
    read_model_summary,
)
from rgasc.report.render import ASSETS_DIR, CLIPS_DIR, PAGE_SIZE, Comparison, Site, render_site
from rgasc.report.sources import (
    EVAL_FIGURES,
    PREDICTIONS_FILE,
    RELATION_FIGURE,
    Predictions,
    RunFiles,
    config_summary,
    device_table,
    headline,
    provenance,
    read_config,
    read_predictions,
    read_run,
    report_dir,
)

Log = Callable[[str], None]
#: The splits ``rgasc evaluate`` scores (rgasc.evaluate.run.SPLITS, which imports torch).
SPLITS = ("test", "val", "train")
AUDIO_DIR = f"{ASSETS_DIR}/audio"
IMAGES_DIR = f"{ASSETS_DIR}/img"
TOWER_FILE = f"{ASSETS_DIR}/event_tower.npz"
#: What a report folder holds; any other entry means --out names someone else's folder.
OWN_ENTRIES = frozenset({"index.html", CLIPS_DIR, ASSETS_DIR})


@dataclasses.dataclass(frozen=True)
class ReportResult:
    """Where the page is and what it holds; ``notes`` are the lines also shown on it."""

    index: Path
    pages: int
    clips: int
    wrong: int
    audio: int
    notes: list[str]


def _check_out(out: Path) -> None:
    """Refuse to write into a folder holding anything but a report's own entries (a rebuild
    deletes stale pages and audio; an interrupted build leaves only its own entries)."""
    if not out.is_dir():
        return
    other = sorted(p.name for p in out.iterdir() if p.name not in OWN_ENTRIES)
    if other:
        raise ArtefactError(
            f"{out}: holds {other[0]!r}, so it is not a report folder of `rgasc report`; "
            "give another --out"
        )


def _dataset(files: RunFiles, log: Log) -> DcaseDataset | None:
    """The run's dataset (its meta.csv gives devices, its audio the players); None, said in
    one line, when it has moved."""
    try:
        return DcaseDataset(files.data["dataset"])
    except (RgascError, KeyError) as e:
        log(f"no audio players and no devices: the run's dataset cannot be read ({e})")
        return None


def _devices(ds: DcaseDataset | None, names: list[str]) -> list[str] | None:
    """Each clip's recording device; None when unknown or when every clip shares one."""
    if ds is None:
        return None
    try:
        found = [ds.clip(n).device for n in names]
    except RgascError:
        return None  # a clip the dataset no longer lists
    return found if len(set(found)) > 1 else None


def _split_data(
    files: RunFiles,
    preds: Predictions,
    model: ModelSummary,
    tower: np.ndarray | None,
    devices: list[str] | None,
    log: Log,
) -> SplitData:
    """The arrays of one run on its split: predictions, R_SE, teacher and tower outputs."""
    check_same_scenes(files.eval_dir / PREDICTIONS_FILE, preds.scenes, model.scenes)
    teacher, teacher_events = None, []
    try:
        labels = read_labels(files.data["labels"])
        teacher = labels.select(preds.names, source=str(files.data["labels"]))
        teacher_events = list(labels.labels)
    except (RgascError, KeyError) as e:
        log(f"no teacher events on the page: {e}")
    return SplitData(
        names=preds.names,
        scenes=preds.scenes,
        y=preds.y,
        pred=preds.pred,
        probs=preds.probs,
        events=model.events,
        relation=model.relation,
        tower=tower,
        teacher_events=teacher_events,
        teacher=teacher,
        devices=devices,
    )


def _copy_figures(files: RunFiles, out: Path) -> list[tuple[str, str]]:
    """The run's figures into ``assets/img``; (path relative to ``out``, caption)."""
    found = [(files.eval_dir / name, name, caption) for name, caption in EVAL_FIGURES]
    rel = files.data.get("relation")
    if rel:
        name, caption = RELATION_FIGURE
        found.append((Path(rel) / name, name, caption))
    figures = []
    for src, name, caption in found:
        if src.is_file():
            dest = out / IMAGES_DIR / name
            dest.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(src, dest)
            figures.append((f"{IMAGES_DIR}/{name}", caption))
    return figures


def _comparison(
    other_run: Path, split: str, preds: Predictions, log: Log, device: str | None
) -> tuple[Comparison, tuple[list[str], np.ndarray, np.ndarray]]:
    """The second run's predictions on the same split and the 2 x 2 agreement counts."""
    ensure_evaluated(other_run, split, log, device)
    files = read_run(other_run, split)
    other = read_predictions(files.eval_dir / PREDICTIONS_FILE)
    check_same_scenes(files.eval_dir / PREDICTIONS_FILE, other.scenes, preds.scenes)
    right = {n: bool(p == t) for n, p, t in zip(other.names, other.pred, other.y, strict=True)}
    shared = [i for i, n in enumerate(preds.names) if n in right]
    if not shared:
        raise ArtefactError(
            f"{files.eval_dir / PREDICTIONS_FILE}: no clip in common with this run's "
            f"{split} split; compare runs of the same dataset and split"
        )
    mine = [bool(preds.pred[i] == preds.y[i]) for i in shared]
    theirs = [right[preds.names[i]] for i in shared]
    pairs = list(zip(mine, theirs, strict=True))
    cmp = Comparison(
        name=_title(other_run, None),
        path=str(other_run.resolve()),
        headline=headline(files.metrics),
        both_right=pairs.count((True, True)),
        only_this=pairs.count((True, False)),
        only_other=pairs.count((False, True)),
        both_wrong=pairs.count((False, False)),
    )
    return cmp, (other.names, other.pred, other.probs)


def _title(folder: Path, experiment: ExperimentSummary | None) -> str:
    """The page's name: the experiment's, else the run folder with its parent (runs of a sweep
    are all called seed<k>)."""
    if experiment is not None:
        return f"experiment {experiment.name}"
    parts = folder.resolve().parts
    return "/".join(parts[-2:]) if len(parts) > 1 else folder.name


def _resolve(run: Path, member: str | None) -> tuple[Path, ExperimentSummary | None]:
    if not run.is_dir():
        raise ArtefactError(
            f"{run}: no such folder; give a run folder of `rgasc train` (its --out) or an "
            "experiment folder of `rgasc experiment`"
        )
    if is_experiment(run):
        summary = read_experiment(run, member)
        return pick_member(run, summary.member)[1], summary
    if member is not None:
        raise ArtefactError(f"{run}: not an experiment folder; --member needs one")
    read_config(run)  # a folder that is not a run fails here, before anything is evaluated
    return run, None


def write_report(
    run: str | os.PathLike[str],
    split: str = "test",
    out: str | os.PathLike[str] | None = None,
    *,
    compare: str | os.PathLike[str] | None = None,
    member: str | None = None,
    page_size: int = PAGE_SIZE,
    correct_per_class: int = CORRECT_PER_CLASS,
    audio_format: str = "ogg",
    device: str | None = None,
    progress: bool = False,
    log: Log = print,
) -> ReportResult:
    """Write the report page of a run (or of an experiment folder) on one split.

    Args:
        run: a run folder of ``rgasc train``, or an experiment folder of ``rgasc experiment``
            (its seeds' spread on top, the clips of ``member``, "CONFIG/seedK", by default the
            first trained run).
        split: test, val or train; evaluated first when the run has no ``eval_SPLIT``.
        out: the page's folder (default ``RUN/report_SPLIT``).
        compare: a second run on the same dataset: the clips the two disagree on.
        page_size: clips per clip page. correct_per_class: correct clips per scene with a card
            in the sample list. audio_format: ogg, flac or wav.
        device: where a missing output is predicted (default: CUDA when available).
        log: receives one line per thing done beyond reading (evaluation, prediction).

    Raises:
        ArtefactError / LabelSpaceError: not a run folder, files that disagree; ConfigError
        for a bad option.
    """
    if split not in SPLITS:
        raise ConfigError(f"split {split!r}: use one of {', '.join(SPLITS)}")
    if audio_format not in AUDIO_FORMATS:
        raise ConfigError(f"audio format {audio_format!r}: use one of {', '.join(AUDIO_FORMATS)}")
    if page_size < 1:
        raise ConfigError(f"page size {page_size}: give 1 or more clips a page")
    notes: list[str] = []

    def note(line: str) -> None:
        notes.append(line)
        log(line)

    folder = Path(run)
    member_dir, experiment = _resolve(folder, member)
    if compare is not None:
        read_config(Path(compare))  # both folders checked before any work
    dest = Path(out) if out is not None else report_dir(folder, split)
    _check_out(dest)
    ensure_evaluated(member_dir, split, note, device)
    files = read_run(member_dir, split)
    preds = read_predictions(files.eval_dir / PREDICTIONS_FILE)
    model = read_model_summary(member_dir)
    tower = event_tower(member_dir, files.data, preds.names, dest / TOWER_FILE, note, device=device)
    ds = _dataset(files, note)
    data = _split_data(files, preds, model, tower, _devices(ds, preds.names), note)
    comparison, other = None, None
    if compare is not None:
        comparison, other = _comparison(Path(compare), split, preds, note, device)
    report = collect(data, other, correct_per_class=correct_per_class)
    audio = _write_audio(report, ds, dest, audio_format, model.clip_seconds, progress, note)
    site = Site(
        title=f"{_title(folder, experiment)}: {split} split",
        split=split,
        report=report,
        headline=headline(files.metrics),
        devices=device_table(files.metrics),
        config_summary=config_summary(files.config),
        provenance=provenance(files.config, member_dir),
        config_text=files.config_text,
        figures=_copy_figures(files, dest),
        audio=audio,
        notes=notes,
        experiment=experiment,
        comparison=comparison,
        version=__version__,
    )
    written = render_site(site, dest, page_size)
    return ReportResult(
        dest / "index.html", len(written), len(report.clips), len(report.wrong), len(audio), notes
    )


def _write_audio(
    report: Report,
    ds: DcaseDataset | None,
    dest: Path,
    fmt: str,
    seconds: float | None,
    progress: bool,
    log: Log,
) -> dict[int, str]:
    """Listening copies of the clips with a card in the named lists, cut to what the model
    heard (``seconds``); clip index -> path relative to ``dest``."""
    if ds is None:
        return {}
    wanted = sorted({*report.wrong, *report.correct_sample, *report.disagree})
    sources = {}
    for i in wanted:
        try:
            sources[report.clips[i].name] = ds.audio_path(ds.clip(report.clips[i].name))
        except RgascError:
            continue  # not in meta.csv any more: copy_clips never sees it, no player
    done = copy_clips(sources, dest / AUDIO_DIR, fmt, seconds, progress=progress, log=log)
    remove_unused(dest / AUDIO_DIR, set(done.values()))
    return {
        i: f"{AUDIO_DIR}/{done[report.clips[i].name]}"
        for i in wanted
        if report.clips[i].name in done
    }

"""``rgasc predict`` as a library call: find audio, predict, write one output (or stdout)."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path

from rgasc.errors import AudioError, RgascError
from rgasc.inference.formats import (
    Record,
    bad_record,
    check_format,
    find_audio,
    is_bad,
    path_key,
    read_predictions,
    record_key,
    render,
    to_record,
    warnings_path,
)
from rgasc.inference.predict import load_model
from rgasc.utils import write_text_atomic


@dataclasses.dataclass
class PredictRun:
    """What :func:`run_predict` did: files predicted, already in --out, unreadable, and the
    predictions marked unreliable (file, why)."""

    predicted: int
    existing: int
    bad: list[tuple[str, str]]
    out: Path | None
    warned: list[tuple[str, str]] = dataclasses.field(default_factory=list)


def run_predict(
    paths: Sequence[str | os.PathLike[str]],
    model: str | os.PathLike[str],
    *,
    fmt: str = "table",
    out: str | os.PathLike[str] | None = None,
    top_k: int | None = None,
    skip_existing: bool = False,
    batch_size: int | None = None,
    device: str = "cpu",
    window: float | None = None,
    hop: float | None = None,
    skip_bad: bool = False,
    progress: bool = True,
) -> PredictRun:
    """``rgasc predict``: classify files/folders and write one output file (or stdout).

    Predictions made before an error are always written. Without ``skip_bad`` the first
    unreadable file stops the run with its AudioError; with it, each one is reported on stderr
    and gets a row without a scene (DCASE formats: a line in ``<out>.warnings.csv``).
    Recordings far shorter than the window are predicted, reported and marked.
    With ``skip_existing``, files whose earlier row is an unreadable one are tried again.

    Raises:
        AudioError: an unreadable file (without ``skip_bad``). RgascError: bad options.
    """
    import sys

    from tqdm import tqdm

    check_format(fmt)
    if skip_existing and out is None:
        raise RgascError("--skip-existing needs --out FILE (the file whose entries are kept)")
    files = find_audio(paths)
    done: set[str] = set()
    old: list[Record] = []
    if skip_existing and out is not None:
        old = read_predictions(out, fmt)
        done = {record_key(r, fmt) for r in old if not is_bad(r)}
    todo = [f for f in files if path_key(f, fmt) not in done]
    given = {"batch_size": batch_size, "top_k": top_k}  # None: the Predictor's defaults
    options = {k: v for k, v in given.items() if v is not None}
    predictor = load_model(model, device, window=window, hop=hop, **options)
    bad: list[tuple[str, str]] = []
    warned: list[tuple[str, str]] = []
    records: list[Record] = []

    def report(path: str, err: AudioError) -> None:
        bad.append((path, str(err)))
        tqdm.write(f"skipped: {err}", file=sys.stderr)
        rec = bad_record(path, str(err), fmt)
        if rec is not None:
            records.append(rec)

    n_pred = 0
    try:
        for p in predictor.predict_files(
            todo, progress=progress and len(todo) > 1, skip_bad=skip_bad, on_bad=report
        ):
            records.append(to_record(p, fmt))
            n_pred += 1
            if p.warning:
                warned.append((str(p.file), p.warning))
                tqdm.write(f"warning: {p.file}: {p.warning}", file=sys.stderr)
    except AudioError as e:
        kept = f"; the {n_pred} file(s) before it were written" if n_pred else ""
        raise type(e)(f"{e}{kept}. Pass --skip-bad to skip unreadable files") from e
    finally:
        if out is not None:
            new = {record_key(r, fmt) for r in records}
            kept_old = [r for r in old if record_key(r, fmt) not in new]  # a retried file
            write_text_atomic(out, render(kept_old + records, fmt))
            if fmt.startswith("dcase") and (bad or warned):
                _write_warnings(warnings_path(out), bad, warned)
        elif records:  # nothing at all (one unreadable file): no lone table header
            sys.stdout.write(render(records, fmt))
    return PredictRun(
        n_pred, len(files) - len(todo), bad, None if out is None else Path(out), warned
    )


def _write_warnings(path: Path, bad: list[tuple[str, str]], warned: list[tuple[str, str]]) -> None:
    """file,warning rows: what a DCASE submission file cannot mark."""
    import csv
    import io

    buf = io.StringIO()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow(["file", "warning"])
    w.writerows([(f, f"unreadable: {why}") for f, why in bad] + list(warned))
    write_text_atomic(path, buf.getvalue())

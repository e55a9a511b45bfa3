"""``rgasc predict`` as a library call: find audio, predict, write one output (or stdout)."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Sequence
from pathlib import Path

from rgasc.errors import AudioError, RgascError
from rgasc.inference.formats import (
    check_format,
    find_audio,
    path_key,
    read_predictions,
    record_key,
    render,
    to_record,
    write_predictions,
)
from rgasc.inference.predict import Prediction, load_model


@dataclasses.dataclass
class PredictRun:
    """What :func:`run_predict` did: files predicted, already in --out, unreadable."""

    predicted: int
    existing: int
    bad: list[tuple[str, str]]
    out: Path | None


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
    unreadable file stops the run with its AudioError; with it, each one is reported on stderr.

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
    if skip_existing and out is not None:
        done = {record_key(r, fmt) for r in read_predictions(out, fmt)}
    todo = [f for f in files if path_key(f, fmt) not in done]
    given = {"batch_size": batch_size, "top_k": top_k}  # None: the Predictor's defaults
    options = {k: v for k, v in given.items() if v is not None}
    predictor = load_model(model, device, window=window, hop=hop, **options)
    bad: list[tuple[str, str]] = []

    def report(path: str, err: AudioError) -> None:
        bad.append((path, str(err)))
        tqdm.write(f"skipped: {err}", file=sys.stderr)

    preds: list[Prediction] = []
    try:
        for p in predictor.predict_files(todo, progress=progress and len(todo) > 1,
                                         skip_bad=skip_bad, on_bad=report):  # fmt: skip
            preds.append(p)
    except AudioError as e:
        kept = f"; the {len(preds)} file(s) before it were written" if preds else ""
        raise type(e)(f"{e}{kept}. Pass --skip-bad to skip unreadable files") from e
    finally:
        if out is not None:
            write_predictions(out, preds, fmt, append=skip_existing)
        else:
            sys.stdout.write(render([to_record(p, fmt) for p in preds], fmt))
    return PredictRun(len(preds), len(files) - len(todo), bad, None if out is None else Path(out))

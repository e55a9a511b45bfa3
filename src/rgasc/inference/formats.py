"""Prediction output formats: a writer and a reader each, so every output parses back.

A format turns a :class:`rgasc.inference.predict.Prediction` into a *record* (a dict of plain
values), renders a list of records as text, and parses that text back into the same records.
Appending (``rgasc predict --skip-existing --out FILE``) is parse + render of old and new
records, so the file stays well-formed in every format.

- ``table``: aligned columns for people: file, scene, prob, note, evidence (top events x R).
- ``json``: a list with one object per file: all probabilities, top events, evidence, timeline,
  warning.
- ``csv``: file, scene, prob, duration, windows, one column per scene, then top_events and
  evidence as JSON lists of ``[event, value]`` (event names contain commas), then warning.
- ``dcase2018``: ``audio/<name><TAB><scene>`` per line, no header (DCASE 2018 submission).
- ``dcase2020``: header ``filename<TAB>scene_label<TAB><scene 1>...``, one probability
  column per class in the model's class order (DCASE 2020+ submission).

Marked results: a recording far shorter than the window is predicted but flagged (``note``
``short`` in the table, ``warning`` in json and csv); a file skipped with ``--skip-bad`` gets
a row without a scene (note ``unreadable``, the reason in ``warning``), so skipped and
missing files differ. The DCASE formats have no room for either: :func:`warnings_path` lists
them beside the file instead.
"""

from __future__ import annotations

import csv
import io
import json
import os
from collections.abc import Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any

from rgasc.errors import ArtefactError, LabelSpaceError, RgascError
from rgasc.utils import write_text_atomic

if TYPE_CHECKING:
    from rgasc.inference.predict import Prediction

Record = dict[str, Any]
FORMATS = ("table", "json", "csv", "dcase2018", "dcase2020")


def dcase_name(file: str | os.PathLike[str] | None) -> str:
    """DCASE submissions name clips ``audio/<basename>``, whatever folder they were read from."""
    return "audio/" + Path(str(file)).name


def warnings_path(out: str | os.PathLike[str]) -> Path:
    """Where the warnings of a DCASE-format output are listed: ``<out>.warnings.csv``."""
    p = Path(out)
    return p.with_name(p.name + ".warnings.csv")


# --- records ---------------------------------------------------------------------------------
def bad_record(file: str | os.PathLike[str], reason: str, fmt: str) -> Record | None:
    """The row of a file that could not be read (None for the DCASE formats)."""
    check_format(fmt)
    if fmt.startswith("dcase"):
        return None
    if fmt == "json":
        return {"file": str(file), "scene": None, "warning": f"unreadable: {reason}"}
    if fmt == "table":
        return {"file": str(file), "scene": "-", "prob": None, "note": "unreadable", "evidence": ""}
    return {
        "file": str(file),
        "scene": "",
        "prob": None,
        "duration": None,
        "windows": None,
        "probs": {},
        "top_events": [],
        "evidence": [],
        "warning": f"unreadable: {reason}",
    }


def is_bad(rec: Record) -> bool:
    """True for the row of an unreadable file (:func:`bad_record`)."""
    return rec.get("scene") in (None, "", "-") and "file" in rec


def to_record(pred: Prediction, fmt: str) -> Record:
    """The fields of ``pred`` that format ``fmt`` writes, rounded as written."""
    check_format(fmt)
    if fmt == "json":
        return pred.to_dict()
    if fmt == "dcase2018":
        return {"filename": dcase_name(pred.file), "scene_label": pred.scene}
    if fmt == "dcase2020":
        probs = {s: float(f"{p:.6f}") for s, p in pred.scene_dict().items()}
        return {"filename": dcase_name(pred.file), "scene_label": pred.scene, "probs": probs}
    rec: Record = {"file": str(pred.file), "scene": pred.scene, "prob": round(pred.scene_prob, 4)}
    if fmt == "table":
        rec["note"] = "short" if pred.warning else ""
        rec["evidence"] = "; ".join(f"{e} {s:.3f}" for e, s in pred.evidence)  # names hold commas
        return rec
    rec["duration"] = round(pred.duration, 6)
    rec["windows"] = len(pred.timeline)
    rec["probs"] = {s: float(f"{p:.6f}") for s, p in pred.scene_dict().items()}
    rec["top_events"] = [[e, round(p, 6)] for e, p in pred.top_events]
    rec["evidence"] = [[e, round(s, 6)] for e, s in pred.evidence]
    rec["warning"] = pred.warning or ""
    return rec


def record_key(rec: Record, fmt: str) -> str:
    """The file a record is about, as the format writes it (what --skip-existing compares)."""
    return str(rec["filename"] if fmt.startswith("dcase") else rec["file"])


def path_key(path: str | os.PathLike[str], fmt: str) -> str:
    """What :func:`record_key` returns for the prediction of ``path``."""
    return dcase_name(path) if fmt.startswith("dcase") else str(path)


def check_format(fmt: str) -> None:
    if fmt not in FORMATS:
        raise ArtefactError(f"unknown output format {fmt!r}; use one of {', '.join(FORMATS)}")


# --- render ----------------------------------------------------------------------------------
_TABLE_COLUMNS = ("file", "scene", "prob", "note", "evidence")
_CSV_FIXED = ("file", "scene", "prob", "duration", "windows")


def render(records: list[Record], fmt: str) -> str:
    """The text of a whole output file (ends with a newline unless empty json)."""
    check_format(fmt)
    if fmt == "json":
        return json.dumps(records, indent=2, ensure_ascii=False) + "\n"
    if fmt == "table":
        return _render_table(records)
    if fmt == "dcase2018":
        return "".join(f"{r['filename']}\t{r['scene_label']}\n" for r in records)
    scenes = _scene_columns(records)
    buf = io.StringIO()
    if fmt == "dcase2020":
        w = csv.writer(buf, delimiter="\t", lineterminator="\n", quoting=csv.QUOTE_MINIMAL)
        w.writerow(["filename", "scene_label", *scenes])
        for r in records:
            w.writerow([r["filename"], r["scene_label"], *(f"{r['probs'][s]:.6f}" for s in scenes)])
        return buf.getvalue()
    w = csv.writer(buf, lineterminator="\n")
    w.writerow([*_CSV_FIXED, *scenes, "top_events", "evidence", "warning"])
    for r in records:
        probs = [f"{r['probs'][s]:.6f}" if s in r["probs"] else "" for s in scenes]
        w.writerow(
            [
                *("" if r[c] is None else r[c] for c in _CSV_FIXED),
                *probs,
                json.dumps(r["top_events"]),
                json.dumps(r["evidence"]),
                r.get("warning", ""),
            ]
        )
    return buf.getvalue()


def _scene_columns(records: list[Record]) -> list[str]:
    """The class columns; every record must have the same classes in the same order."""
    records = [r for r in records if r.get("probs")]  # unreadable files have none
    if not records:
        return []
    scenes = list(records[0]["probs"])
    for r in records[1:]:
        if list(r["probs"]) != scenes:
            raise LabelSpaceError(
                f"{record_key(r, 'csv' if 'file' in r else 'dcase2020')}: its scene classes "
                f"{list(r['probs'])} differ from {scenes}; write the predictions of different "
                "models to different --out files"
            )
    return scenes


def _render_table(records: list[Record]) -> str:
    rows = [
        [
            str(r["file"]),
            str(r["scene"]),
            "-" if r["prob"] is None else f"{r['prob']:.4f}",
            str(r.get("note", "")),
            str(r["evidence"]),
        ]
        for r in records
    ]
    widths = [max([len(c)] + [len(row[i]) for row in rows]) for i, c in enumerate(_TABLE_COLUMNS)]
    lines = []
    for row in [list(_TABLE_COLUMNS), *rows]:
        cells = [cell.ljust(widths[i]) for i, cell in enumerate(row[:-1])]
        lines.append("  ".join([*cells, row[-1]]).rstrip())
    return "\n".join(lines) + "\n"


# --- parse -----------------------------------------------------------------------------------
def parse(text: str, fmt: str, source: str = "<text>") -> list[Record]:
    """Records from the text of an output file written by :func:`render`."""
    check_format(fmt)
    try:
        return _parse(text, fmt)
    except (ValueError, KeyError, IndexError, TypeError) as e:
        raise ArtefactError(
            f"{source}: not a {fmt} prediction file ({type(e).__name__}: {e}); write to a new "
            "--out file or pick the --format it was written in"
        ) from e


def _parse(text: str, fmt: str) -> list[Record]:
    if fmt == "json":
        data = json.loads(text) if text.strip() else []
        if not isinstance(data, list):
            raise ValueError("expected a JSON list with one object per file")
        return data
    lines = text.splitlines()
    if fmt == "table":
        return _parse_table(lines)
    if fmt == "dcase2018":
        out = []
        for line in lines:
            if line.strip():
                name, scene = line.split("\t")
                out.append({"filename": name, "scene_label": scene})
        return out
    if not lines:
        return []
    if fmt == "dcase2020":
        rows = list(csv.reader(lines, delimiter="\t"))
        head = rows[0]
        if head[:2] != ["filename", "scene_label"]:
            raise ValueError(f"header must start with filename, scene_label; got {head[:2]}")
        return [
            {
                "filename": r[0],
                "scene_label": r[1],
                "probs": {s: float(v) for s, v in zip(head[2:], r[2:], strict=True)},
            }
            for r in rows[1:]
        ]
    rows = list(csv.reader(lines))
    head = rows[0]
    tail = 3 if head[-1:] == ["warning"] else 2  # the warning column is optional
    if tuple(head[:5]) != _CSV_FIXED or head[-tail:][:2] != ["top_events", "evidence"]:
        raise ValueError(f"unexpected csv header {head}")
    scenes = head[5:-tail]

    def num(v: str, kind: type) -> Any:
        return None if v == "" else kind(v)

    out = []
    for r in rows[1:]:
        rec: Record = {
            "file": r[0],
            "scene": r[1],
            "prob": num(r[2], float),
            "duration": num(r[3], float),
            "windows": num(r[4], int),
        }
        rec["probs"] = {s: float(v) for s, v in zip(scenes, r[5:-tail], strict=True) if v}
        rec["top_events"] = json.loads(r[len(r) - tail])
        rec["evidence"] = json.loads(r[len(r) - tail + 1])
        rec["warning"] = r[-1] if tail == 3 else ""
        out.append(rec)
    return out


def _parse_table(lines: list[str]) -> list[Record]:
    if not lines:
        return []
    head = lines[0]
    # column starts are where the header names start: the file column may contain spaces;
    # the note column is optional
    columns = _TABLE_COLUMNS if " note " in f" {head} " else ("file", "scene", "prob", "evidence")
    starts = [head.index(c) for c in columns]
    if starts != sorted(starts) or starts[0] != 0:
        raise ValueError(f"unexpected table header {head!r}")
    out = []
    for line in lines[1:]:
        if not line.strip():
            continue
        cells = [line[a:b].strip() for a, b in zip(starts, [*starts[1:], None], strict=True)]
        note = cells[3] if len(columns) == 5 else ""
        out.append(
            {
                "file": cells[0],
                "scene": cells[1],
                "prob": None if cells[2] == "-" else float(cells[2]),
                "note": note,
                "evidence": cells[-1],
            }
        )
    return out


# --- files -----------------------------------------------------------------------------------
def read_predictions(path: str | os.PathLike[str], fmt: str) -> list[Record]:
    """Records of an existing output file (empty list if it does not exist)."""
    p = Path(path)
    if not p.exists():
        return []
    return parse(p.read_text(encoding="utf-8"), fmt, source=str(p))


def write_predictions(
    path: str | os.PathLike[str],
    predictions: Iterable[Prediction | Record],
    fmt: str,
    *,
    append: bool = False,
) -> Path:
    """Write (or, with ``append``, add to) an output file atomically; returns its path."""
    new = [p if isinstance(p, dict) else to_record(p, fmt) for p in predictions]
    old = read_predictions(path, fmt) if append else []
    write_text_atomic(path, render(old + new, fmt))
    return Path(path)


# --- the predict command: inputs -> predictions -> one output -----------------------------
def find_audio(paths: Iterable[str | os.PathLike[str]]) -> list[Path]:
    """Files as given, directories searched recursively for audio extensions (sorted).

    A named file is kept whatever its extension (decoding it reports what is wrong).
    """
    from rgasc.audio import is_audio_file

    out: list[Path] = []
    for p in map(Path, paths):
        if p.is_dir():
            found = sorted(f for f in p.rglob("*") if f.is_file() and is_audio_file(f))
            if not found:
                raise RgascError(f"{p}: no audio files (extensions: wav, flac, ogg, ...) inside")
            out.extend(found)
        else:
            out.append(p)
    return list(dict.fromkeys(out))  # a file named twice is predicted once

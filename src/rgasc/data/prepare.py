"""Turn your own recordings into a DCASE-layout dataset that every later stage reads.

Two kinds of source:

- a folder tree ``SRC/<scene>/*.wav`` (any extension of :data:`rgasc.audio.AUDIO_EXTENSIONS`,
  searched below each scene folder too); the folder names are the scene labels;
- a CSV or TSV list with the columns ``path, scene[, location][, device]`` (relative
  paths are relative to the list's folder).

The result::

    OUT/audio/<scene>-<source name>.<ext>     symlinks to the sources (or copies)
    OUT/meta.csv                              filename, scene_label, identifier, source_label
    OUT/evaluation_setup/fold1_{train,evaluate,test}.txt   location-disjoint
    OUT/rgasc_prepare.json                    the settings, the sources, what was skipped

The evaluate fold holds about ``evaluate_fraction`` of each scene's recording locations,
never a location that is also in training (clips of one place sound alike, so sharing one
would inflate the scores). Without locations every file is its own location. A scene
needs :data:`MIN_LOCATIONS` locations: one to evaluate on, and two for training so that
``rgasc train`` can carve a validation location out of them.
"""

from __future__ import annotations

import csv
import dataclasses
import hashlib
import os
import re
import shutil
import unicodedata
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from rgasc.audio import AUDIO_EXTENSIONS, is_audio_file
from rgasc.data.datasets import Clip, clip_key, location_split
from rgasc.errors import DatasetError
from rgasc.utils import temp_folder_beside, write_json

COLUMNS = ("path", "scene", "location", "device")
REQUIRED = ("path", "scene")
MIN_LOCATIONS = 3
DEFAULT_EVALUATE_FRACTION = 0.3
UNKNOWN_DEVICE = "unknown"
INFO = "rgasc_prepare.json"
_MAX_STEM = 100  # characters of the source name kept in the output name
_SHOWN = 5  # how many offending files an error message names


@dataclasses.dataclass(frozen=True)
class Source:
    """One recording to include.

    Attributes:
        path: the audio file (absolute).
        scene: scene label.
        location: recording location, or None (the file is then its own location).
        device: recording device, or None.
        origin: where it was listed, for messages (``list.csv:7`` or the tree path).
    """

    path: Path
    scene: str
    location: str | None = None
    device: str | None = None
    origin: str = ""


@dataclasses.dataclass
class Prepared:
    """What :func:`prepare_dataset` made.

    Attributes:
        root: the dataset folder.
        counts: scene -> (train clips, evaluate clips, train locations, evaluate locations).
        skipped: (file, reason) of unreadable files left out with ``skip_bad``.
        notes: things the user should know (no locations given, files ignored).
        copied: True when the audio was copied, False when linked.
    """

    root: Path
    counts: dict[str, tuple[int, int, int, int]]
    skipped: list[tuple[str, str]]
    notes: list[str]
    copied: bool

    @property
    def clips(self) -> int:
        return sum(n[0] + n[1] for n in self.counts.values())


def prepare_dataset(
    src: str | os.PathLike[str],
    out: str | os.PathLike[str],
    *,
    copy: bool = False,
    evaluate_fraction: float = DEFAULT_EVALUATE_FRACTION,
    seed: int = 0,
    skip_bad: bool = False,
) -> Prepared:
    """Build a DCASE-layout dataset in ``out`` from a folder tree or a CSV/TSV list.

    Args:
        src: ``SRC/<scene>/*.wav`` folder, or a ``.csv``/``.tsv`` file listing
            ``path, scene[, location][, device]``.
        out: dataset folder to create (must not exist, or be empty).
        copy: copy the audio instead of linking it (symlinks to absolute paths).
        evaluate_fraction: share of each scene's locations in the evaluate fold, in (0, 1).
        seed: seed of the location draw; the same inputs and seed give the same folds.
        skip_bad: leave unreadable files out (reported) instead of stopping.

    Raises:
        DatasetError: an unreadable file (without ``skip_bad``), a scene with too few
            locations, duplicate paths, an unknown column, or an existing ``out``.
    """
    src, out = Path(src).expanduser(), Path(out).expanduser()
    if not 0.0 < evaluate_fraction < 1.0:
        raise DatasetError(
            f"--evaluate-fraction must be between 0 and 1 (exclusive), got {evaluate_fraction}"
        )
    if src.is_dir():
        sources, notes = collect_tree(src)
    elif src.is_file():
        sources, notes = collect_table(src), []
    else:
        raise DatasetError(f"{src}: no such folder or file; give SRC/<scene>/*.wav or a CSV/TSV")
    if out.exists() and (not out.is_dir() or any(out.iterdir())):
        raise DatasetError(f"{out}: already exists and is not empty; choose a new --out")

    bad = [(s, reason) for s in sources if (reason := probe_audio(s.path)) is not None]
    if bad and not skip_bad:
        shown = "; ".join(f"{s.origin or s.path} ({r})" for s, r in bad[:_SHOWN])
        more = f" and {len(bad) - _SHOWN} more" if len(bad) > _SHOWN else ""
        raise DatasetError(
            f"{src}: {len(bad)} unreadable audio file(s): {shown}{more}. Fix or remove them, "
            "or pass --skip-bad to leave them out"
        )
    bad_paths = {s.path for s, _ in bad}
    sources = [s for s in sources if s.path not in bad_paths]
    if not sources:
        raise DatasetError(f"{src}: no readable audio file left to prepare")

    no_location = sum(s.location is None for s in sources)
    if no_location == len(sources):
        notes.append(
            "no recording locations given: each file is its own location, so clips of one "
            "place may land on both sides of the split (give a location column in a CSV "
            "list to keep places apart)"
        )
    elif no_location:
        notes.append(f"{no_location} file(s) without a location: each is its own location")

    names = output_names(sources)
    clips = [
        Clip(
            filename=f"audio/{names[s.path]}",
            scene=s.scene,
            location=s.location if s.location is not None else clip_key(names[s.path]),
            device=s.device or UNKNOWN_DEVICE,
        )
        for s in sources
    ]
    _check_scene_sizes(src, clips, own_locations=no_location == len(sources))
    clips.sort(key=lambda c: (c.scene, c.filename))
    train, evaluate = location_split(clips, evaluate_fraction, seed=seed)

    counts: dict[str, tuple[int, int, int, int]] = {}
    for scene in sorted({c.scene for c in clips}):
        tr = [c for c in train if c.scene == scene]
        ev = [c for c in evaluate if c.scene == scene]
        n_loc = (len({c.location for c in tr}), len({c.location for c in ev}))
        counts[scene] = (len(tr), len(ev), *n_loc)

    info: dict[str, Any] = {
        "source": str(src.resolve()),
        "copied": copy,
        "evaluate_fraction": evaluate_fraction,
        "seed": seed,
        "notes": notes,
        "skipped": [[str(s.path), r] for s, r in bad],
        "sources": {names[s.path]: str(s.path) for s in sources},
    }
    _write(out, sources, names, clips, train, evaluate, copy, info)
    return Prepared(out, counts, [(str(s.path), r) for s, r in bad], notes, copy)


# --- reading the sources -----------------------------------------------------------------
def collect_tree(src: Path) -> tuple[list[Source], list[str]]:
    """Audio files of ``src/<scene>/`` (searched recursively), and notes on what was ignored."""
    sources: list[Source] = []
    notes: list[str] = []
    loose = [p for p in src.iterdir() if p.is_file() and is_audio_file(p)]
    if loose:
        notes.append(
            f"ignored {len(loose)} audio file(s) directly in {src} (not in a scene folder), "
            f"e.g. {sorted(loose)[0].name}"
        )
    empty: list[str] = []
    for folder in sorted(p for p in src.iterdir() if p.is_dir() and not p.name.startswith(".")):
        files = sorted(
            p
            for p in folder.rglob("*")
            if p.is_file() and is_audio_file(p) and not p.name.startswith(".")
        )
        if not files:
            empty.append(folder.name)
        for p in files:
            sources.append(Source(p.absolute(), folder.name, origin=str(p)))
    if empty:
        notes.append(f"ignored folder(s) without audio: {', '.join(empty)}")
    if not sources:
        raise DatasetError(
            f"{src}: no audio in scene folders; expected SRC/<scene>/<file> with one of "
            f"{', '.join(AUDIO_EXTENSIONS)}, or a CSV/TSV list (path, scene[, location][, device])"
        )
    for s in sources:
        _check_label(s.scene, "scene folder name", s.origin)
    return sources, notes


def collect_table(path: Path) -> list[Source]:
    """Rows of a CSV/TSV list ``path, scene[, location][, device]`` (header required)."""
    text = path.read_text(encoding="utf-8-sig")  # tolerate the BOM spreadsheets write
    lines = text.splitlines()
    first = next((ln for ln in lines if ln.strip()), "")
    delimiter = "\t" if path.suffix.lower() == ".tsv" or "\t" in first else ","
    rows = [r for r in csv.reader(lines, delimiter=delimiter)]
    numbered = [(n, r) for n, r in enumerate(rows, start=1) if r and "".join(r).strip()]
    if not numbered:
        raise DatasetError(
            f"{path}: empty list; expected a header path, scene[, location][, device]"
        )
    header_line, header_row = numbered[0]
    header = [h.strip().lower() for h in header_row]
    unknown = [h for h in header if h not in COLUMNS]
    if unknown:
        raise DatasetError(
            f"{path}:{header_line}: unknown column(s) {unknown}; the columns are "
            f"{', '.join(COLUMNS)} (path and scene required), in any order"
        )
    dup = [h for h, n in Counter(header).items() if n > 1]
    missing = [h for h in REQUIRED if h not in header]
    if dup or missing:
        what = f"repeated column(s) {dup}" if dup else f"missing column(s) {missing}"
        raise DatasetError(
            f"{path}:{header_line}: {what}; the header must name path and scene once each"
        )
    col = {h: i for i, h in enumerate(header)}
    sources: list[Source] = []
    for n, row in numbered[1:]:
        if len(row) != len(header):
            raise DatasetError(
                f"{path}:{n}: {len(row)} field(s), the header has {len(header)}; "
                f"separate the fields with {'tabs' if delimiter == chr(9) else 'commas'}"
            )
        get = {h: row[i].strip() for h, i in col.items()}
        if not get["path"] or not get["scene"]:
            raise DatasetError(f"{path}:{n}: empty path or scene; every row needs both")
        origin = f"{path}:{n}"
        for h in ("scene", "location", "device"):
            if get.get(h):
                _check_label(get[h], h, origin)
        audio = Path(get["path"]).expanduser()
        audio = audio if audio.is_absolute() else path.parent / audio
        sources.append(
            Source(
                Path(os.path.abspath(audio)),
                get["scene"],
                get.get("location") or None,
                get.get("device") or None,
                origin,
            )
        )
    if not sources:
        raise DatasetError(f"{path}: the list has a header but no rows")
    # The same file twice would be on both sides of a split, or two scenes at once.
    seen: dict[Path, list[str]] = defaultdict(list)
    for s in sources:
        seen[s.path.resolve()].append(s.origin.rsplit(":", 1)[-1])
    dups = {p: ls for p, ls in seen.items() if len(ls) > 1}
    if dups:
        shown = "; ".join(f"{p} (lines {', '.join(ls)})" for p, ls in list(dups.items())[:_SHOWN])
        raise DatasetError(
            f"{path}: {len(dups)} file(s) listed more than once: {shown}; list each file once"
        )
    return sources


def _check_label(value: str, what: str, origin: str) -> None:
    # meta.csv and the fold files are tab-separated, one clip a line.
    if not value.strip() or re.search(r"[\t\r\n]", value):
        raise DatasetError(f"{origin}: {what} {value!r} is empty or holds a tab or line break")


def probe_audio(path: Path) -> str | None:
    """Why ``path`` cannot be used as a clip, or None when its header reads as audio.

    Reads the header only (the features stage decodes everything, and its ``--skip-bad``
    catches damage further into a file).
    """
    import soundfile as sf

    if not path.is_file():
        return "no such file"
    if path.stat().st_size == 0:
        return "empty file"
    try:
        info = sf.info(str(path))
    except sf.LibsndfileError as e:
        # error_string is libsndfile's reason alone; str(e) repeats the path.
        return f"cannot decode: {e.error_string.rstrip('.')}"
    except (RuntimeError, ValueError, EOFError) as e:
        return f"cannot decode: {e}".replace("\n", " ")
    if info.frames <= 0 or info.samplerate <= 0:
        return "no samples"
    return None


# --- naming and splitting ------------------------------------------------------------------
def safe_name(text: str) -> str:
    """``text`` as a portable file-name part: ASCII letters, digits, ``.``, ``_``, ``-``."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    cleaned = re.sub(r"[^A-Za-z0-9._-]+", "_", ascii_text).strip("._-")
    return cleaned[:_MAX_STEM] or "x"


def output_names(sources: list[Source]) -> dict[Path, str]:
    """Unique, safe ``audio/`` names ``<scene>-<source name><ext>``, one per source.

    Names that would clash (case-insensitively, and by clip key, which ignores the
    extension) all get ``-<8 hex digits of their source path's sha1>``, so the result
    depends only on the sources, not on their order.
    """

    def base(s: Source) -> str:
        return f"{safe_name(s.scene)}-{safe_name(s.path.stem)}"

    groups: dict[str, list[Source]] = defaultdict(list)
    for s in sources:
        groups[base(s).lower()].append(s)
    names: dict[Path, str] = {}
    for group in groups.values():
        for s in group:
            stem = base(s)
            if len(group) > 1:
                stem += "-" + hashlib.sha1(str(s.path).encode()).hexdigest()[:8]
            names[s.path] = stem + s.path.suffix.lower()
    # A disambiguated name could still equal another source's plain one: number the rest.
    taken: set[str] = set()
    for s in sorted(sources, key=lambda s: str(s.path)):
        name, n = names[s.path], 2
        while clip_key(name).lower() in taken:
            name = f"{Path(names[s.path]).stem}-{n}{s.path.suffix.lower()}"
            n += 1
        names[s.path] = name
        taken.add(clip_key(name).lower())
    return names


def _check_scene_sizes(src: Path, clips: list[Clip], own_locations: bool) -> None:
    locations: dict[str, set[str]] = defaultdict(set)
    files: Counter[str] = Counter()
    for c in clips:
        locations[c.scene].add(c.location)
        files[c.scene] += 1
    small = [s for s in sorted(locations) if len(locations[s]) < MIN_LOCATIONS]
    if not small:
        return
    shown = ", ".join(
        f"{s!r} has {len(locations[s])} location(s) ({files[s]} file(s))" for s in small
    )
    unit = "files (each file is its own location)" if own_locations else "locations"
    raise DatasetError(
        f"{src}: too few recordings to split by location: {shown}. Each scene needs at "
        f"least {MIN_LOCATIONS} {unit}: 1 for fold1_evaluate and 2 for fold1_train, so "
        "training can hold one out for validation. Add recordings or leave the scene out"
    )


# --- writing -------------------------------------------------------------------------------
def _write(
    out: Path,
    sources: list[Source],
    names: dict[Path, str],
    clips: list[Clip],
    train: list[Clip],
    evaluate: list[Clip],
    copy: bool,
    info: dict[str, Any],
) -> None:
    """Write the dataset into a temporary folder beside ``out``, then rename it."""
    tmp = temp_folder_beside(out)
    try:
        (tmp / "audio").mkdir()
        for s in sources:
            dst = tmp / "audio" / names[s.path]
            if copy:
                shutil.copy2(s.path, dst)
            else:
                try:
                    os.symlink(s.path.resolve(), dst)
                except OSError as e:
                    raise DatasetError(
                        f"{dst}: cannot create a symlink ({e}); pass --copy to copy the audio"
                    ) from e
        rows = ["filename\tscene_label\tidentifier\tsource_label"]
        rows += [f"{c.filename}\t{c.scene}\t{c.location}\t{c.device}" for c in clips]
        (tmp / "meta.csv").write_text("\n".join(rows) + "\n")
        setup = tmp / "evaluation_setup"
        setup.mkdir()
        (setup / "fold1_train.txt").write_text("".join(f"{c.filename}\t{c.scene}\n" for c in train))
        (setup / "fold1_evaluate.txt").write_text(
            "".join(f"{c.filename}\t{c.scene}\n" for c in evaluate)
        )
        (setup / "fold1_test.txt").write_text("".join(f"{c.filename}\n" for c in evaluate))
        write_json(tmp / INFO, info)
        if out.exists():
            out.rmdir()  # empty (checked before): replaced by the finished folder
        os.replace(tmp, out)
    finally:
        shutil.rmtree(tmp, ignore_errors=True)

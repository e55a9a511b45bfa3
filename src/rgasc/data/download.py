"""Verified, resumable, idempotent downloads of registered datasets.

Steps, each safe to interrupt:

1. Fetch every archive into ``ROOT/.downloads/`` (:mod:`rgasc.data.transfer`): the bytes
   stream into ``NAME.part`` and only a file whose md5 matches the registry is renamed to
   ``NAME``, so a name in ``.downloads`` is always a complete archive. Archives already
   there and matching are not fetched again; an interrupted transfer continues from the
   byte where it stopped (HTTP Range), in the same run or the next.
2. Only once *every* archive is verified, unzip them all into a temporary folder beside
   the target, then rename it to ``ROOT/<folder>/`` (or merge it file by file into an
   existing incomplete folder). A checksum mismatch or any failure therefore never leaves
   a half-extracted dataset under the final name.
3. Write ``ROOT/<folder>/.rgasc_complete.json`` (archive md5s and the extracted files)
   last. A later run that finds a valid marker checks the files and does nothing else.

``only="meta"`` runs the same steps on the doc and meta archives alone (a few hundred kB:
README, meta.csv, fold files), to look at a set before fetching its audio.
"""

from __future__ import annotations

import os
import shutil
import zipfile
from pathlib import Path

from rgasc.data.registry import MARKER, DatasetSpec, RemoteFile, get_dataset
from rgasc.data.transfer import fetch_verified, part_path
from rgasc.errors import DownloadError
from rgasc.utils import mark_stage_done, read_json, temp_folder_beside

__all__ = ["DOWNLOADS", "MARKER", "download_dataset", "is_complete"]

DOWNLOADS = ".downloads"


def download_dataset(
    name_or_spec: str | DatasetSpec,
    root: str | os.PathLike[str],
    *,
    base_url: str | None = None,
    progress: bool = True,
    only: str = "all",
) -> Path:
    """Download, verify and unpack a dataset into ``root/<dataset folder>/``.

    Args:
        name_or_spec: a registered name (see ``available_datasets()``) or a spec.
        root: folder that receives ``.downloads/`` (archives) and the dataset folder.
        base_url: fetch the archives from this URL instead of the registered one (a
            mirror; tests point it at a local server).
        progress: show a progress bar per archive.
        only: ``all`` archives, or ``meta`` for the doc and meta archives alone.

    Returns:
        The dataset folder (``audio/``, ``meta.csv``, ``evaluation_setup/``).

    Raises:
        DownloadError: a transfer failed, an archive does not match its md5, an archive
            cannot be unpacked, or the disk is too full. Verified archives are kept, so
            rerunning resumes.
    """
    spec = get_dataset(name_or_spec) if isinstance(name_or_spec, str) else name_or_spec
    if base_url:
        spec = spec.with_base_url(base_url)
    spec = spec.only(only)
    root = Path(root).expanduser()
    target = root / spec.folder
    if is_complete(spec, target):
        return target
    root.mkdir(parents=True, exist_ok=True)
    archives = root / DOWNLOADS
    _check_free_space(spec, root, archives)
    paths = [_fetch(f, archives, progress) for f in spec.files]
    members = _extract_all(spec, paths, root, target)
    # last: a marker recording these archives' md5s says the extraction is complete
    mark_stage_done(
        target / MARKER, _archives(spec), field="archives", dataset=spec.name, files=members
    )
    return target


def is_complete(spec: DatasetSpec, target: str | os.PathLike[str]) -> bool:
    """True when ``target`` holds a finished extraction of (at least) these archives.

    Checks the marker's md5s against the registry and that every extracted file is still
    there; no archive is read and nothing is downloaded. A full extraction also satisfies
    the meta-only selection (``spec.only("meta")``), never the other way round.
    """
    marker = Path(target) / MARKER
    if not marker.is_file():
        return False
    try:
        info = read_json(marker)
    except (OSError, ValueError):
        return False
    if not isinstance(info, dict) or not isinstance(info.get("archives"), dict):
        return False
    if any(info["archives"].get(f.name) != f.md5 for f in spec.files):
        return False
    files = info.get("files")
    if not isinstance(files, list) or not files:
        return False
    return all((Path(target) / rel).is_file() for rel in files)


def _archives(spec: DatasetSpec) -> dict[str, str]:
    """What the marker records: {archive name: md5} of every archive of the dataset."""
    return {f.name: f.md5 for f in spec.files}


def _fetch(remote: RemoteFile, archives: Path, progress: bool) -> Path:
    """Download one archive into ``archives`` unless a verified copy is already there."""
    return fetch_verified(
        remote.url, archives / remote.name, remote.size, remote.md5, progress=progress
    )


def _check_free_space(spec: DatasetSpec, root: Path, archives: Path) -> None:
    # Archives still to fetch plus an unpacked copy of everything (wav barely compresses).
    missing = 0
    for f in spec.files:
        if not (archives / f.name).is_file():
            part = part_path(archives / f.name)
            missing += f.size - (part.stat().st_size if part.is_file() else 0)
    need = missing + spec.total_size
    free = shutil.disk_usage(root).free
    if free < need:
        raise DownloadError(
            f"{root}: {free / 1e9:.1f} GB free, but about {need / 1e9:.1f} GB are needed "
            f"for {spec.name} (archives and unpacked files); free space or choose "
            "another --root"
        )


def _extract_all(spec: DatasetSpec, paths: list[Path], root: Path, target: Path) -> list[str]:
    """Unzip every archive into a temporary folder, then move it onto ``target``.

    Returns the extracted files relative to ``target`` (sorted, POSIX separators).
    """
    tmp = temp_folder_beside(root / spec.folder)
    try:
        for path in paths:
            _safe_unzip(path, tmp)
        src = tmp / spec.folder
        if not src.is_dir():
            # Archives without the top folder: their contents are the dataset itself.
            src = tmp
        if not (src / "meta.csv").is_file():
            raise DownloadError(
                f"{spec.name}: the archives hold no {spec.folder}/meta.csv; the registry "
                "entry does not describe a DCASE-layout dataset (fix its folder name)"
            )
        members = sorted(p.relative_to(src).as_posix() for p in src.rglob("*") if p.is_file())
        if not target.exists():
            os.replace(src, target)
        else:
            # An earlier unfinished run (no valid marker) left files: overwrite them one by
            # one; the marker is written after this, so an interruption here is redone.
            for rel in members:
                dst = target / rel
                dst.parent.mkdir(parents=True, exist_ok=True)
                os.replace(src / rel, dst)
        return members
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


def _safe_unzip(path: Path, dest: Path) -> None:
    """Extract ``path`` into ``dest``, refusing members that would land outside it."""
    dest_resolved = dest.resolve()
    try:
        with zipfile.ZipFile(path) as zf:
            for info in zf.infolist():
                out = (dest / info.filename).resolve()
                if not out.is_relative_to(dest_resolved):
                    raise DownloadError(
                        f"{path}: member {info.filename!r} points outside the target folder; "
                        "refusing to extract this archive"
                    )
            zf.extractall(dest)
    except (zipfile.BadZipFile, EOFError, zipfile.LargeZipFile) as e:
        raise DownloadError(
            f"{path}: cannot unpack ({e}) although its md5 matched; delete the file and "
            "rerun the download"
        ) from e

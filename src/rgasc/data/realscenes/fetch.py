"""Fetch the pinned Debian packages of the real-scenes benchmark and read recordings from them.

Packages come through apt (``apt-get download NAME=VERSION``), the ordinary client of the
Debian archive, into a cache folder; each .deb is checked against the sha256 pinned in
``packages.tsv``, so a second build is offline and a changed package is detected. Members are
read straight from the .deb (an ``ar`` archive holding ``data.tar.xz``) with the standard
library, so the build needs neither root nor ``dpkg``.

A source path ``ARCHIVE!MEMBER`` names a file inside a zip archive shipped by the package
(UFO:AI keeps its sounds in ``0snd.pk3``).
"""

from __future__ import annotations

import dataclasses
import hashlib
import io
import os
import shutil
import subprocess
import tarfile
import tempfile
import zipfile
from collections.abc import Iterable
from pathlib import Path

import numpy as np
import soundfile as sf

from rgasc.errors import DatasetError
from rgasc.utils import cache_dir

HERE = Path(__file__).resolve().parent
PACKAGES_FILE = HERE / "packages.tsv"


class FetchError(DatasetError):
    """A package cannot be fetched or does not match its pin."""


@dataclasses.dataclass(frozen=True)
class Package:
    """One pinned .deb: name, version, sha256 of the file, its size in bytes, licence note."""

    name: str
    version: str
    sha256: str
    size: int
    licence: str

    @property
    def filename(self) -> str:
        # apt writes the epoch colon as %3a; none of the pins has an epoch, but keep it exact
        return f"{self.name}_{self.version.replace(':', '%3a')}_all.deb"


def read_packages(path: Path = PACKAGES_FILE) -> dict[str, Package]:
    """``packages.tsv`` -> {name: Package}."""
    lines = [ln for ln in path.read_text(encoding="utf-8").splitlines() if ln.strip()]
    header = lines[0].split("\t")
    out: dict[str, Package] = {}
    for ln in lines[1:]:
        row = dict(zip(header, ln.split("\t"), strict=True))
        out[row["package"]] = Package(
            row["package"], row["version"], row["sha256"], int(row["size"]), row["licence"]
        )
    return out


def default_cache() -> Path:
    """``$RGASC_CACHE/realscenes``, else ``~/.cache/rgasc/realscenes``: shared by every build."""
    return cache_dir() / "realscenes"


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for block in iter(lambda: f.read(1 << 20), b""):
            h.update(block)
    return h.hexdigest()


def _candidate(name: str) -> str:
    """The version apt would install now (``apt-cache policy``), or '' if unknown."""
    try:
        out = subprocess.run(
            ["apt-cache", "policy", name], capture_output=True, text=True, check=False
        ).stdout
    except OSError:
        return ""
    for line in out.splitlines():
        if line.strip().startswith("Candidate:"):
            return line.split(":", 1)[1].strip()
    return ""


def ensure_deb(pkg: Package, cache: Path) -> Path:
    """The cached, verified .deb of ``pkg``; downloads it with apt when missing.

    Raises:
        FetchError: apt is missing or cannot get the pinned version (the message names the
            version the mirror offers now), or the file's sha256 differs from the pin.
    """
    debs = cache / "debs"
    debs.mkdir(parents=True, exist_ok=True)
    path = debs / pkg.filename
    if path.is_file():
        if sha256_of(path) == pkg.sha256:
            return path
        path.unlink()  # a truncated or foreign file: fetch it again
    if shutil.which("apt-get") is None:
        raise FetchError(
            f"{pkg.name} {pkg.version}: not in {debs} and there is no apt-get here; put "
            f"{pkg.filename} (sha256 {pkg.sha256}) into {debs} by hand"
        )
    with tempfile.TemporaryDirectory(dir=debs) as tmp:
        proc = subprocess.run(
            ["apt-get", "download", f"{pkg.name}={pkg.version}"],
            cwd=tmp,
            capture_output=True,
            text=True,
            check=False,
        )
        got = sorted(Path(tmp).glob(f"{pkg.name}_*.deb"))
        if proc.returncode != 0 or not got:
            now = _candidate(pkg.name)
            hint = (
                f"the mirror now offers {pkg.name} {now}: update the pin in packages.tsv "
                "(version, sha256, size) and check that the recordings are unchanged"
                if now and now != "(none)" and now != pkg.version
                else "run `apt-get update` first, or check the sources.list"
            )
            raise FetchError(
                f"cannot download {pkg.name}={pkg.version}: {proc.stderr.strip()[-300:]}; {hint}"
            )
        digest = sha256_of(got[0])
        if digest != pkg.sha256:
            raise FetchError(
                f"{pkg.name} {pkg.version}: sha256 {digest} differs from the pinned "
                f"{pkg.sha256}; the package changed on the mirror, the benchmark would differ"
            )
        os.replace(got[0], path)
    return path


def _ar_members(blob: bytes) -> Iterable[tuple[str, bytes]]:
    """The members of a Debian ``ar`` archive (the .deb container)."""
    if not blob.startswith(b"!<arch>\n"):
        raise FetchError("not an ar archive (a .deb starts with '!<arch>')")
    pos = 8
    while pos + 60 <= len(blob):
        header = blob[pos : pos + 60]
        name = header[:16].decode().strip().rstrip("/")
        size = int(header[48:58].decode().strip())
        pos += 60
        yield name, blob[pos : pos + size]
        pos += size + (size & 1)  # members are 2-byte aligned


def extract(deb: Path, members: set[str], dest: Path) -> None:
    """Write the package files ``members`` (paths without a leading ``./``) under ``dest``.

    Files already there are kept: the .deb is verified, so its content cannot have changed.

    Raises:
        FetchError: a member is not in the package, or the data archive is not xz/gz.
    """
    todo = {m for m in members if not (dest / m).is_file()}
    if not todo:
        return
    data = next((b for n, b in _ar_members(deb.read_bytes()) if n.startswith("data.tar")), None)
    if data is None:
        raise FetchError(f"{deb}: no data.tar member")
    try:
        tar = tarfile.open(fileobj=io.BytesIO(data), mode="r:*")  # noqa: SIM115 - closed below
    except tarfile.ReadError as e:
        raise FetchError(f"{deb}: cannot read its data archive ({e}); zstd is unsupported") from e
    with tar:
        for info in tar:
            name = info.name.removeprefix("./")
            if name not in todo or not info.isfile():
                continue
            fobj = tar.extractfile(info)
            assert fobj is not None
            target = dest / name
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = target.with_name(target.name + ".part")
            tmp.write_bytes(fobj.read())
            os.replace(tmp, target)
            todo.discard(name)
    if todo:
        raise FetchError(f"{deb}: no such file(s) in the package: {sorted(todo)[:5]}")


def read_audio(root: Path, path: str) -> tuple[np.ndarray, int]:
    """Decode ``path`` (``FILE`` or ``ARCHIVE!MEMBER``) under ``root``: (mono float32, rate)."""
    if "!" in path:
        archive, member = path.split("!", 1)
        with zipfile.ZipFile(root / archive) as z:
            x, sr = sf.read(io.BytesIO(z.read(member)), dtype="float32", always_2d=True)
    else:
        x, sr = sf.read(root / path, dtype="float32", always_2d=True)
    return x.mean(axis=1), int(sr)


def fetch_all(
    packages: dict[str, Package], wanted: dict[str, set[str]], cache: Path
) -> dict[str, Path]:
    """Download/verify every package in ``wanted`` and extract its files; {package: root}.

    ``wanted`` maps a package to its source paths (``ARCHIVE!MEMBER`` extracts ARCHIVE).
    """
    roots: dict[str, Path] = {}
    for name, paths in sorted(wanted.items()):
        if name not in packages:
            raise FetchError(f"{name}: used in sources.tsv but not pinned in packages.tsv")
        pkg = packages[name]
        deb = ensure_deb(pkg, cache)
        root = cache / "files" / f"{pkg.name}_{pkg.version}"
        extract(deb, {p.split("!", 1)[0] for p in paths}, root)
        roots[name] = root
    return roots

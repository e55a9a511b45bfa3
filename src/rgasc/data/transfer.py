"""One archive over HTTP: streamed with requests, resumed at byte level, md5-verified.

The bytes arrive in ``DEST.part``; only a file whose md5 matches the publisher's is renamed
to ``DEST``, so a name without ``.part`` is always a verified archive. An interrupted
transfer (a dropped connection, a killed process) keeps its ``.part`` file, and the next
attempt, in this run or a later one, asks only for the missing bytes with
``Range: bytes=N-``. Whatever the server answers, the result is either the exact archive
or a clean restart:

- ``206`` whose ``Content-Range`` starts at N: the missing bytes are appended;
- ``200`` (the server ignores Range): the body is the whole file, written from byte 0;
- ``416``, a ``Content-Range`` at another offset, or more bytes than the registry size:
  the ``.part`` file is dropped and the archive fetched from the start;
- an md5 mismatch of an archive assembled from several responses: one clean restart
  (the source may have changed between them); a mismatch of a clean transfer is an error
  and the bad bytes are deleted, so the next run starts clean.
"""

from __future__ import annotations

import os
import re
import time
from collections.abc import Callable
from pathlib import Path

import requests
import urllib3

from rgasc.errors import DownloadError
from rgasc.utils import file_hash

PART_SUFFIX = ".part"
CHUNK = 1 << 20
TIMEOUT_S = (15.0, 60.0)  # connect, and silence between two reads
# Attempts in a row that do not get the .part file further before giving up in this run.
MAX_STALLS = 3
# Seconds to wait before reconnecting after a lost connection (the n-th wait, then the last).
RETRY_DELAYS_S: tuple[float, ...] = (1.0, 4.0, 15.0)
# What a dropped or stalled connection raises while the body is read.
_NETWORK_ERRORS = (
    requests.exceptions.RequestException,
    urllib3.exceptions.HTTPError,
    ConnectionError,
    TimeoutError,
)


class _Restart(Exception):
    """The .part file cannot be continued: drop it and fetch from byte 0."""


class _Lost(Exception):
    """The connection failed after ``received`` bytes (0: it never delivered a byte)."""

    def __init__(self, cause: object, received: int) -> None:
        super().__init__(_describe(cause))
        self.received = received


def _describe(cause: object) -> str:
    """The innermost readable reason: requests and urllib3 nest exceptions in tuples."""
    while isinstance(cause, BaseException) and cause.args:
        first = cause.args[0]
        if isinstance(first, str):
            return first
        cause = first
    return str(cause)


def part_path(dest: Path) -> Path:
    return dest.with_name(dest.name + PART_SUFFIX)


def fetch_verified(
    url: str, dest: str | os.PathLike[str], size: int, md5: str, *, progress: bool = True
) -> Path:
    """Download ``url`` to ``dest`` unless a copy with this md5 is already there.

    Args:
        url: HTTP(S) URL of the archive.
        dest: final path; the transfer writes ``dest.part`` first.
        size: expected bytes (the registry's): more is an error, the progress bar's total.
        md5: expected md5 hex digest.
        progress: show a tqdm progress bar.

    Raises:
        DownloadError: md5 mismatch (bad bytes deleted), HTTP error, or a connection that
            keeps failing (the ``.part`` file is kept: rerunning resumes it).
    """
    dest = Path(dest)
    dest.parent.mkdir(parents=True, exist_ok=True)
    if dest.is_file():
        if dest.stat().st_size == size and file_hash(dest, "md5") == md5:
            return dest
        # Not a verified archive (another version, or written by other means): the bytes
        # cannot be trusted as a prefix either, so fetch it whole.
        dest.unlink()
    part = part_path(dest)
    # Whether the .part bytes come from more than one response (an earlier run's included);
    # a complete .part left by an earlier run is verified without a request.
    pieced = part.is_file() and part.stat().st_size > 0
    clean_retry_done = False
    best = part.stat().st_size if part.is_file() else 0
    stalls = 0
    last: str = ""
    while stalls < MAX_STALLS:
        have = part.stat().st_size if part.is_file() else 0
        if have > size:
            part.unlink()  # not a prefix of this archive
            have = 0
        if have < size or not part.is_file():
            try:
                pieced = _transfer(url, part, have, size, progress)
            except _Restart as e:
                last = str(e)
                part.unlink(missing_ok=True)
                stalls += 1
                continue
            except _Lost as e:
                last = str(e)
                now = part.stat().st_size if part.is_file() else 0
                if e.received == 0 and now <= best:
                    # Nothing arrived (refused, unreachable, no reply): waiting will not help
                    # within this run; keep the .part file for the next one.
                    break
                stalls = 0 if now > best else stalls + 1
                best = max(best, now)
                time.sleep(RETRY_DELAYS_S[min(stalls, len(RETRY_DELAYS_S) - 1)])
                continue
        got, got_size = file_hash(part, "md5"), part.stat().st_size
        if got == md5:
            os.replace(part, dest)
            return dest
        part.unlink()
        if pieced and not clean_retry_done:
            # Pieces of two versions of the file, or a damaged .part: one clean transfer.
            clean_retry_done, pieced, last = True, False, f"md5 {got} after resuming"
            stalls += 1
            continue
        sized = "" if got_size == size else f" ({got_size} bytes, the registry lists {size})"
        raise DownloadError(
            f"{dest.name} (from {url}): md5 mismatch, expected {md5}, got {got}{sized}. The "
            "transfer was corrupted, or the file changed at the source; the bad copy was "
            "deleted and nothing was extracted. Rerun the same command to fetch it again "
            "(verified archives are kept)."
        )
    have = part.stat().st_size if part.is_file() else 0
    raise DownloadError(
        f"{dest.name}: download from {url} failed ({last}). Check the network or the URL "
        f"(--base-url for a mirror) and rerun the same command: {have} of {size} bytes are "
        f"kept in {part.name} and the transfer resumes there; verified archives are kept."
    )


def _transfer(url: str, part: Path, have: int, size: int, progress: bool) -> bool:
    """One HTTP request that continues ``part`` (``have`` bytes) towards ``size`` bytes.

    Returns True when the bytes were appended to an existing prefix (a resumed transfer),
    False when the body was written from byte 0.

    Raises:
        _Restart: the server cannot continue this prefix; _Lost: the connection failed;
        DownloadError: an HTTP error status.
    """
    from tqdm import tqdm

    # identity: Range offsets count the bytes of the file, never of a compressed body.
    headers = {"Accept-Encoding": "identity"}
    if have:
        headers["Range"] = f"bytes={have}-"
    try:
        resp = requests.get(url, headers=headers, stream=True, timeout=TIMEOUT_S)
    except requests.exceptions.RequestException as e:
        raise _Lost(e, 0) from e
    with resp:
        if resp.status_code == 416:
            raise _Restart(f"the server refused to resume at byte {have} (416)")
        if resp.status_code >= 400:
            raise DownloadError(
                f"{part.name.removesuffix(PART_SUFFIX)}: {url} answered HTTP "
                f"{resp.status_code} {resp.reason}. Check the URL (--base-url for a mirror) "
                "and rerun the same command later; verified archives are kept."
            )
        resumed = False
        if resp.status_code == 206:
            start = _range_start(resp.headers.get("Content-Range", ""))
            if start != have:
                raise _Restart(f"the server resumed at byte {start}, not at {have}")
            resumed = have > 0
        # A 200 is the whole file whether or not we asked for a range: start over.
        offset = have if resumed else 0
        written = offset
        with (
            open(part, "ab" if resumed else "wb") as f,
            tqdm(
                total=size,
                initial=offset,
                unit="B",
                unit_scale=True,
                unit_divisor=1024,
                desc=part.name.removesuffix(PART_SUFFIX),
                disable=not progress,
            ) as bar,
        ):
            read = _reader(resp)
            while True:
                try:
                    chunk = read()
                except _NETWORK_ERRORS as e:
                    raise _Lost(e, written - offset) from e
                if not chunk:
                    break
                if written + len(chunk) > size:
                    raise _Restart(f"the server sent more than the {size} bytes the registry lists")
                f.write(chunk)  # a disk error here is not a network error: it propagates
                written += len(chunk)
                bar.update(len(chunk))
    # The body ended cleanly (urllib3 raises when fewer bytes than the announced
    # Content-Length arrive), so a short file is what the server holds: the md5 check
    # decides, rather than asking again for bytes the server does not have.
    return resumed


def _reader(resp: requests.Response) -> Callable[[], bytes]:
    """A function returning the next bytes of the body as they arrive (b"" at the end).

    urllib3 2's ``read1`` hands over whatever has arrived, so a connection cut mid-chunk
    loses no received byte and the resumed request asks for exactly the missing ones;
    ``iter_content`` would drop the partial chunk with the exception.
    """
    raw = resp.raw
    if hasattr(raw, "read1"):
        return lambda: raw.read1(CHUNK, decode_content=True)  # type: ignore[no-any-return]
    chunks = resp.iter_content(CHUNK)
    return lambda: next(chunks, b"")


def _range_start(content_range: str) -> int | None:
    """First byte of ``Content-Range: bytes START-END/TOTAL``, or None when unreadable."""
    m = re.match(r"\s*bytes\s+(\d+)-\d+/(\d+|\*)\s*$", content_range)
    return int(m.group(1)) if m else None

"""Byte-level resume of downloads (rgasc.data.transfer) against a local HTTP server.

The server below serves bytes from memory, honours or ignores ``Range: bytes=N-`` as told,
can cut a response after a given number of body bytes (the connection closes with the
full Content-Length announced, as a dropped link does), and logs every request with the
number of body bytes it actually sent, so the tests can check that a resumed transfer asks
for, and receives, exactly the missing part.
"""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import re
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest

from helpers.dcase import make_dcase
from rgasc.data import DcaseDataset, transfer
from rgasc.data.download import DOWNLOADS, download_dataset, is_complete
from rgasc.data.registry import make_spec
from rgasc.data.transfer import PART_SUFFIX, fetch_verified
from rgasc.errors import DownloadError

SIZE = 300_000


@dataclasses.dataclass
class Hit:
    name: str
    range: str | None  # the Range header the client sent
    status: int
    sent: int  # body bytes written before the response ended


class RangeServer:
    """Serves ``files`` (name -> bytes) on 127.0.0.1 with controllable Range behaviour.

    Attributes:
        range_mode: ``honour`` (206 + Content-Range), ``ignore`` (200, whole body) or
            ``refuse`` (416 to any Range request).
        cuts: name -> body bytes to send in successive responses before dropping the
            connection (consumed one per request; none left means a full response).
        down: names answered 503 (the server is "down" for them).
        down_after: name -> requests served before that name is added to ``down``.
        hits: every request, in order.
    """

    def __init__(self, files: dict[str, bytes]) -> None:
        self.files = files
        self.range_mode = "honour"
        self.cuts: dict[str, list[int]] = {}
        self.down: set[str] = set()
        self.down_after: dict[str, int] = {}
        self._hits: list[Hit] = []
        # Handlers still writing: the client may have its bytes before the handler records
        # them, so reading ``hits`` waits for the handlers to finish.
        self._busy = 0
        self._idle = threading.Condition()
        state = self

        class Handler(http.server.BaseHTTPRequestHandler):
            def do_GET(self) -> None:
                with state._idle:
                    state._busy += 1
                try:
                    state._serve(self)
                finally:
                    with state._idle:
                        state._busy -= 1
                        state._idle.notify_all()

            def log_message(self, format: str, *args: object) -> None:  # noqa: A002
                pass

        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True).start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/"

    @property
    def hits(self) -> list[Hit]:
        with self._idle:
            self._idle.wait_for(lambda: self._busy == 0, timeout=10)
        return self._hits

    def hits_for(self, name: str) -> list[Hit]:
        return [h for h in self._hits if h.name == name]

    def _serve(self, h: http.server.BaseHTTPRequestHandler) -> None:
        name = h.path.lstrip("/")
        rng = h.headers.get("Range")
        hit = Hit(name, rng, 0, 0)
        self._hits.append(hit)
        if name in self.down_after and len(self.hits_for(name)) > self.down_after[name]:
            self.down.add(name)
        if name in self.down or name not in self.files:
            hit.status = 503 if name in self.down else 404
            h.send_response(hit.status)
            h.send_header("Content-Length", "0")
            h.end_headers()
            return
        data = self.files[name]
        start = 0
        m = re.fullmatch(r"bytes=(\d+)-", rng or "")
        if m and self.range_mode == "refuse":
            hit.status = 416
            h.send_response(416)
            h.send_header("Content-Range", f"bytes */{len(data)}")
            h.send_header("Content-Length", "0")
            h.end_headers()
            return
        if m and self.range_mode == "honour":
            start = int(m.group(1))
            if start >= len(data):
                hit.status = 416
                h.send_response(416)
                h.send_header("Content-Length", "0")
                h.end_headers()
                return
            hit.status = 206
            h.send_response(206)
            h.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
        else:
            hit.status = 200
            h.send_response(200)
        body = data[start:]
        h.send_header("Content-Length", str(len(body)))
        h.end_headers()
        plan = self.cuts.get(name)
        n = plan.pop(0) if plan else len(body)
        h.wfile.write(body[:n])
        hit.sent = min(n, len(body))
        h.close_connection = True

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


@pytest.fixture(autouse=True)
def _no_retry_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transfer, "RETRY_DELAYS_S", (0.0,))


@pytest.fixture()
def payload() -> bytes:
    return np.random.default_rng(0).integers(0, 256, SIZE, dtype=np.uint8).tobytes()


@pytest.fixture()
def server(payload: bytes) -> Iterator[RangeServer]:
    s = RangeServer({"a.zip": payload})
    yield s
    s.close()


def _md5(data: bytes) -> str:
    return hashlib.md5(data).hexdigest()


def _fetch(server: RangeServer, dest: Path, payload: bytes) -> Path:
    return fetch_verified(server.url + "a.zip", dest, len(payload), _md5(payload), progress=False)


def test_cut_transfer_resumes_with_exactly_the_missing_bytes(
    server: RangeServer, payload: bytes, tmp_path: Path
) -> None:
    server.cuts["a.zip"] = [120_000]
    out = _fetch(server, tmp_path / "a.zip", payload)
    assert out.read_bytes() == payload
    first, second = server.hits
    assert (first.range, first.status, first.sent) == (None, 200, 120_000)
    assert (second.range, second.status) == ("bytes=120000-", 206)
    assert second.sent == SIZE - 120_000  # only the missing part crossed the wire
    assert not (tmp_path / ("a.zip" + PART_SUFFIX)).exists()


def test_cut_twice(server: RangeServer, payload: bytes, tmp_path: Path) -> None:
    server.cuts["a.zip"] = [50_000, 70_000]
    assert _fetch(server, tmp_path / "a.zip", payload).read_bytes() == payload
    assert [(h.range, h.sent) for h in server.hits] == [
        (None, 50_000),
        ("bytes=50000-", 70_000),
        ("bytes=120000-", SIZE - 120_000),
    ]
    assert sum(h.sent for h in server.hits) == SIZE


def test_partial_file_from_an_earlier_run_is_continued(
    server: RangeServer, payload: bytes, tmp_path: Path
) -> None:
    (tmp_path / "a.zip.part").write_bytes(payload[:200_000])  # a killed earlier run
    assert _fetch(server, tmp_path / "a.zip", payload).read_bytes() == payload
    assert [(h.range, h.status, h.sent) for h in server.hits] == [
        ("bytes=200000-", 206, SIZE - 200_000)
    ]


def test_server_ignoring_range_gives_a_clean_restart(
    server: RangeServer, payload: bytes, tmp_path: Path
) -> None:
    server.range_mode = "ignore"
    (tmp_path / "a.zip.part").write_bytes(payload[:200_000])
    assert _fetch(server, tmp_path / "a.zip", payload).read_bytes() == payload
    [hit] = server.hits
    assert (hit.range, hit.status, hit.sent) == ("bytes=200000-", 200, SIZE)


def test_416_restarts_from_zero(server: RangeServer, payload: bytes, tmp_path: Path) -> None:
    server.range_mode = "refuse"
    (tmp_path / "a.zip.part").write_bytes(payload[:1000])
    assert _fetch(server, tmp_path / "a.zip", payload).read_bytes() == payload
    assert [(h.range, h.status) for h in server.hits] == [("bytes=1000-", 416), (None, 200)]


def test_part_larger_than_expected_restarts(
    server: RangeServer, payload: bytes, tmp_path: Path
) -> None:
    (tmp_path / "a.zip.part").write_bytes(payload + b"junk")
    assert _fetch(server, tmp_path / "a.zip", payload).read_bytes() == payload
    assert [(h.range, h.status) for h in server.hits] == [(None, 200)]


def test_body_larger_than_the_registry_size_is_an_error(
    server: RangeServer, payload: bytes, tmp_path: Path
) -> None:
    server.files["a.zip"] = payload + b"more bytes than the registry says"
    with pytest.raises(DownloadError, match=f"more than the {SIZE} bytes"):
        _fetch(server, tmp_path / "a.zip", payload)
    assert list(tmp_path.iterdir()) == []  # neither the file nor a .part is kept
    assert len(server.hits) == transfer.MAX_STALLS  # a bounded number of restarts


def test_complete_body_shorter_than_the_registry_size_is_an_md5_error(
    server: RangeServer, payload: bytes, tmp_path: Path
) -> None:
    # A whole response (its Content-Length delivered) is what the server holds: asking
    # again with Range would only get a 416, so the md5 check decides at once.
    server.files["a.zip"] = payload[:1000]
    with pytest.raises(DownloadError, match=f"md5 mismatch.*1000 bytes, the registry lists {SIZE}"):
        _fetch(server, tmp_path / "a.zip", payload)
    assert len(server.hits) == 1 and list(tmp_path.iterdir()) == []


def test_complete_but_corrupt_part_gets_one_clean_transfer(
    server: RangeServer, payload: bytes, tmp_path: Path
) -> None:
    bad = bytearray(payload)
    bad[10] ^= 0xFF
    (tmp_path / "a.zip.part").write_bytes(bytes(bad))  # right size, wrong bytes
    assert _fetch(server, tmp_path / "a.zip", payload).read_bytes() == payload
    assert [(h.range, h.sent) for h in server.hits] == [(None, SIZE)]


def test_corrupt_source_is_an_md5_error_and_leaves_nothing(
    server: RangeServer, payload: bytes, tmp_path: Path
) -> None:
    bad = bytearray(payload)
    bad[SIZE // 2] ^= 0xFF
    server.files["a.zip"] = bytes(bad)
    server.cuts["a.zip"] = [100_000]  # resumed first, then the clean retry
    with pytest.raises(DownloadError) as err:
        _fetch(server, tmp_path / "a.zip", payload)
    msg = str(err.value)
    assert "md5 mismatch" in msg and _md5(payload) in msg and _md5(bytes(bad)) in msg
    assert list(tmp_path.iterdir()) == []  # bad bytes deleted: the next run starts clean
    assert [h.range for h in server.hits] == [None, "bytes=100000-", None]
    server.files["a.zip"] = payload  # the source is fixed: a rerun just works
    assert _fetch(server, tmp_path / "a.zip", payload).read_bytes() == payload


def test_failures_keep_the_part_for_the_next_run(
    server: RangeServer, payload: bytes, tmp_path: Path
) -> None:
    part = tmp_path / "a.zip.part"
    part.write_bytes(payload[:80_000])
    server.down.add("a.zip")  # HTTP 503: an error at once, the .part untouched
    with pytest.raises(DownloadError, match="HTTP 503"):
        _fetch(server, tmp_path / "a.zip", payload)
    assert part.read_bytes() == payload[:80_000]
    # Connection refused (port 9): fails fast and says how much is kept.
    with pytest.raises(DownloadError, match="80000 of 300000 bytes are kept in a.zip.part"):
        fetch_verified("http://127.0.0.1:9/a.zip", tmp_path / "a.zip", SIZE, _md5(payload))
    assert part.read_bytes() == payload[:80_000]
    server.down.clear()
    assert _fetch(server, tmp_path / "a.zip", payload).read_bytes() == payload
    assert server.hits[-1].range == "bytes=80000-" and server.hits[-1].sent == SIZE - 80_000


def _zip_tiny(tmp_path: Path, folder: str) -> dict[str, bytes]:
    """A tiny DCASE dataset zipped like the DCASE sets: doc, meta and one audio archive."""
    src = make_dcase(tmp_path / "src" / folder, seconds=0.1, sr=8000, channels=1)
    members = {
        f"{folder}.doc.zip": [],
        f"{folder}.meta.zip": [src / "meta.csv", *sorted((src / "evaluation_setup").iterdir())],
        f"{folder}.audio.1.zip": sorted((src / "audio").iterdir()),
    }
    files: dict[str, bytes] = {}
    for name, paths in members.items():
        with zipfile.ZipFile(tmp_path / name, "w") as zf:
            if name.endswith(".doc.zip"):
                zf.writestr(f"{folder}/README.html", "<p>readme</p>")
            for f in paths:
                zf.write(f, f.relative_to(src.parent).as_posix())
        files[name] = (tmp_path / name).read_bytes()
    return files


def test_interrupted_download_resumes_across_runs_end_to_end(tmp_path: Path) -> None:
    """download_dataset: a cut archive, then a server outage; the rerun sends the rest."""
    folder = "tiny-scenes-development"
    files = _zip_tiny(tmp_path, folder)
    audio = f"{folder}.audio.1.zip"
    server = RangeServer(files)
    try:
        spec = make_spec(
            "tiny", folder, server.url, [(n, len(b), _md5(b)) for n, b in files.items()]
        )
        cut = len(files[audio]) // 3
        server.cuts[audio] = [cut]
        server.down_after[audio] = 1  # the reconnect finds the server down
        root = tmp_path / "data"
        with pytest.raises(DownloadError, match="HTTP 503"):
            download_dataset(spec, root, progress=False)
        assert sorted(p.name for p in root.iterdir()) == [DOWNLOADS]  # nothing extracted
        assert (root / DOWNLOADS / (audio + PART_SUFFIX)).stat().st_size == cut

        # A later run, the server back: only the missing bytes of the cut archive are sent.
        server.down.clear()
        server.down_after.clear()
        server.hits.clear()
        path = download_dataset(spec, root, progress=False)
        assert [(h.name, h.range, h.sent) for h in server.hits] == [
            (audio, f"bytes={cut}-", len(files[audio]) - cut)
        ]
        assert is_complete(spec, path) and len(DcaseDataset(path).split("all")) == 24
    finally:
        server.close()


def test_meta_only_then_everything(tmp_path: Path) -> None:
    """``only="meta"`` fetches doc + meta, unpacks them; a full run later adds the audio."""
    folder = "tiny-scenes-development"
    files = _zip_tiny(tmp_path, folder)
    server = RangeServer(files)
    try:
        spec = make_spec(
            "tiny", folder, server.url, [(n, len(b), _md5(b)) for n, b in files.items()]
        )
        root = tmp_path / "data"
        path = download_dataset(spec, root, progress=False, only="meta")
        assert {h.name for h in server.hits} == {f"{folder}.doc.zip", f"{folder}.meta.zip"}
        assert (path / "meta.csv").is_file() and (path / "README.html").is_file()
        assert not (path / "audio").exists()
        assert is_complete(spec.only("meta"), path) and not is_complete(spec, path)
        server.hits.clear()
        download_dataset(spec, root, progress=False, only="meta")  # nothing to do
        assert server.hits == []
        download_dataset(spec, root, progress=False)
        assert [h.name for h in server.hits] == [f"{folder}.audio.1.zip"]
        assert is_complete(spec, path) and is_complete(spec.only("meta"), path)
        assert len(DcaseDataset(path).split("all")) == 24
    finally:
        server.close()

"""rgasc.data.download end to end against a local HTTP server (no external network).

The server serves a tiny DCASE dataset split like TUT2018's archives: two "audio" zips
and one "meta" zip, described by a DatasetSpec with their real md5 sums.
"""

from __future__ import annotations

import dataclasses
import hashlib
import http.server
import shutil
import threading
import zipfile
from collections import Counter
from collections.abc import Iterator
from functools import partial
from pathlib import Path

import pytest

from helpers.dcase import make_dcase
from helpers.files import mode, umask
from rgasc.data import DcaseDataset, transfer
from rgasc.data.download import DOWNLOADS, MARKER, download_dataset, is_complete
from rgasc.data.registry import (
    DatasetSpec,
    RemoteFile,
    available_datasets,
    get_dataset,
    make_spec,
)
from rgasc.errors import DownloadError, RgascError

FOLDER = "tiny-scenes-development"
AUDIO1, AUDIO2, META = (f"{FOLDER}.audio.1.zip", f"{FOLDER}.audio.2.zip", f"{FOLDER}.meta.zip")


class _Server:
    """A threaded HTTP server over one folder that counts requests and can cut files short."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.requests: Counter[str] = Counter()
        self.cut: set[str] = set()  # names sent with a full Content-Length but half the body
        handler = partial(_Handler, self, directory=str(folder))
        self.httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.httpd.server_address[1]}/"

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class _Handler(http.server.SimpleHTTPRequestHandler):
    def __init__(self, server_state: _Server, *args: object, **kwargs: object) -> None:
        self.state = server_state
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]

    def do_GET(self) -> None:
        name = self.path.lstrip("/").split("?")[0]
        self.state.requests[name] += 1
        if name in self.state.cut:
            data = (self.state.folder / name).read_bytes()
            self.send_response(200)
            self.send_header("Content-Type", "application/zip")
            self.send_header("Content-Length", str(len(data)))
            self.end_headers()
            self.wfile.write(data[: len(data) // 2])  # then the connection closes
            self.close_connection = True
            return
        super().do_GET()

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        pass  # keep test output quiet


@pytest.fixture(autouse=True)
def _no_retry_wait(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(transfer, "RETRY_DELAYS_S", (0.0,))


def _md5(path: Path) -> str:
    return hashlib.md5(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def archives(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Zip a tiny DCASE dataset like TUT2018: 2 audio archives + 1 meta archive."""
    src = make_dcase(tmp_path_factory.mktemp("src") / FOLDER, seconds=0.1, sr=8000, channels=1)
    out = tmp_path_factory.mktemp("served")
    wavs = sorted((src / "audio").iterdir())
    parts = {AUDIO1: wavs[: len(wavs) // 2], AUDIO2: wavs[len(wavs) // 2 :]}
    parts[META] = [src / "meta.csv", *sorted((src / "evaluation_setup").iterdir())]
    for name, files in parts.items():
        with zipfile.ZipFile(out / name, "w") as zf:
            for f in files:
                zf.write(f, f.relative_to(src.parent).as_posix())
    return out


@pytest.fixture()
def server(archives: Path, tmp_path: Path) -> Iterator[_Server]:
    served = shutil.copytree(archives, tmp_path / "served")  # tests may corrupt their copy
    s = _Server(served)
    yield s
    s.close()


def _spec(folder: Path, base_url: str) -> DatasetSpec:
    files = [(n, (folder / n).stat().st_size, _md5(folder / n)) for n in (META, AUDIO1, AUDIO2)]
    return make_spec("tiny", FOLDER, base_url, files)


def _leftovers(root: Path) -> list[str]:
    """Anything under root except .downloads: a failed run must leave nothing."""
    return sorted(p.name for p in root.iterdir() if p.name != DOWNLOADS) if root.exists() else []


def test_good_download_extracts_a_dataset(server: _Server, tmp_path: Path) -> None:
    root = tmp_path / "data"
    path = download_dataset(_spec(server.folder, server.url), root, progress=False)
    assert path == root / FOLDER
    ds = DcaseDataset(path)
    assert len(ds) == 24 and ds.scenes == ["airport", "bus", "park"]
    assert len(ds.split("all")) == 24 and ds.folds() == [1]  # every clip's audio is there
    assert (path / MARKER).is_file()
    assert sorted(p.name for p in (root / DOWNLOADS).iterdir()) == sorted([AUDIO1, AUDIO2, META])
    assert _leftovers(root) == [FOLDER]  # no temporary folders left behind
    assert server.requests == Counter({META: 1, AUDIO1: 1, AUDIO2: 1})


@pytest.mark.parametrize("mask", [0o022, 0o027])
def test_the_dataset_folder_honours_the_umask(archives: Path, tmp_path: Path, mask: int) -> None:
    """Archives without the top folder unpack into the temporary folder itself, which
    becomes the dataset: it must get a plain mkdir's mode, not mkdtemp's 0700."""
    flat = tmp_path / "served"
    flat.mkdir()
    for name in (META, AUDIO1, AUDIO2):  # the same members, without the FOLDER/ prefix
        with zipfile.ZipFile(archives / name) as src, zipfile.ZipFile(flat / name, "w") as dst:
            for info in src.infolist():
                dst.writestr(info.filename.split("/", 1)[1], src.read(info))
    s = _Server(flat)
    try:
        with umask(mask):
            path = download_dataset(_spec(flat, s.url), tmp_path / "data", progress=False)
    finally:
        s.close()
    assert len(DcaseDataset(path)) == 24
    assert mode(path) == 0o777 & ~mask


def test_second_run_verifies_and_makes_no_request(server: _Server, tmp_path: Path) -> None:
    spec = _spec(server.folder, server.url)
    path = download_dataset(spec, tmp_path, progress=False)
    server.requests.clear()
    mtime = (path / "meta.csv").stat().st_mtime_ns
    assert download_dataset(spec, tmp_path, progress=False) == path
    assert sum(server.requests.values()) == 0
    assert (path / "meta.csv").stat().st_mtime_ns == mtime
    # A file deleted after extraction: redone from the verified archives, still offline.
    (path / "evaluation_setup" / "fold1_train.txt").unlink()
    assert not is_complete(spec, path)
    download_dataset(spec, tmp_path, progress=False)
    assert (path / "evaluation_setup" / "fold1_train.txt").is_file()
    assert sum(server.requests.values()) == 0 and is_complete(spec, path)


def test_corrupt_archive_is_rejected_and_nothing_extracted(server: _Server, tmp_path: Path) -> None:
    spec = _spec(server.folder, server.url)
    expected = next(f.md5 for f in spec.files if f.name == AUDIO2)
    bad = bytearray((server.folder / AUDIO2).read_bytes())
    bad[len(bad) // 2] ^= 0xFF  # one flipped byte: same size, different md5
    (server.folder / AUDIO2).write_bytes(bytes(bad))
    root = tmp_path / "data"
    with pytest.raises(DownloadError) as err:
        download_dataset(spec, root, progress=False)
    msg = str(err.value)
    assert AUDIO2 in msg and expected in msg and hashlib.md5(bad).hexdigest() in msg
    assert "rerun" in msg.lower()
    assert _leftovers(root) == []
    assert not (root / DOWNLOADS / AUDIO2).exists()  # the bad copy is not kept
    assert (root / DOWNLOADS / META).is_file()  # verified archives are kept for the rerun


def test_truncated_transfer_is_an_error(server: _Server, tmp_path: Path) -> None:
    spec = _spec(server.folder, server.url)
    server.cut.add(AUDIO1)
    root = tmp_path / "data"
    with pytest.raises(DownloadError, match=AUDIO1.replace(".", r"\.")):
        download_dataset(spec, root, progress=False)
    assert _leftovers(root) == []
    assert not (root / DOWNLOADS / AUDIO1).exists()
    # Once the server behaves, a rerun completes and fetches only what is missing.
    server.cut.clear()
    server.requests.clear()
    download_dataset(spec, root, progress=False)
    assert server.requests == Counter({AUDIO1: 1, AUDIO2: 1})
    assert is_complete(spec, root / FOLDER)


def test_resume_replaces_partial_and_corrupt_files(server: _Server, tmp_path: Path) -> None:
    spec = _spec(server.folder, server.url)
    cache = tmp_path / DOWNLOADS
    cache.mkdir(parents=True)
    good = (server.folder / AUDIO1).read_bytes()
    (cache / AUDIO1).write_bytes(good[: len(good) // 3])  # an interrupted earlier transfer
    (cache / META).write_bytes(b"not a zip at all")  # a corrupt leftover
    shutil.copy(server.folder / AUDIO2, cache / AUDIO2)  # already complete
    path = download_dataset(spec, tmp_path, progress=False)
    assert server.requests == Counter({AUDIO1: 1, META: 1})  # AUDIO2 was not fetched again
    for f in spec.files:
        assert _md5(cache / f.name) == f.md5
    assert len(DcaseDataset(path).split("all")) == 24


def test_merge_into_an_unfinished_folder(server: _Server, tmp_path: Path) -> None:
    spec = _spec(server.folder, server.url)
    stale = tmp_path / FOLDER
    (stale / "audio").mkdir(parents=True)
    (stale / "meta.csv").write_text("half-written\n")
    (stale / "notes.txt").write_text("user file\n")
    path = download_dataset(spec, tmp_path, progress=False)
    assert len(DcaseDataset(path)) == 24  # meta.csv replaced by the archive's
    assert (path / "notes.txt").read_text() == "user file\n"  # unrelated files are kept


def test_archive_escaping_its_folder_is_refused(server: _Server, tmp_path: Path) -> None:
    with zipfile.ZipFile(server.folder / "evil.zip", "w") as zf:
        zf.writestr("../../escaped.txt", "gotcha")
    evil = server.folder / "evil.zip"
    spec = make_spec("evil", FOLDER, server.url, [("evil.zip", evil.stat().st_size, _md5(evil))])
    root = tmp_path / "data"
    with pytest.raises(DownloadError, match="outside"):
        download_dataset(spec, root, progress=False)
    assert not (tmp_path / "escaped.txt").exists() and _leftovers(root) == []


def test_not_enough_disk_space(
    server: _Server, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    usage = shutil.disk_usage(tmp_path)
    monkeypatch.setattr(shutil, "disk_usage", lambda _: usage._replace(free=10))
    with pytest.raises(DownloadError, match="GB free"):
        download_dataset(_spec(server.folder, server.url), tmp_path, progress=False)
    assert server.requests == Counter()


def test_unreachable_server(tmp_path: Path) -> None:
    # Port 9 on localhost ("discard") refuses connections: fails fast, offline.
    spec = make_spec("x", FOLDER, "http://127.0.0.1:9/", [(META, 10, "0" * 32)])
    with pytest.raises(DownloadError, match="failed"):
        download_dataset(spec, tmp_path, progress=False)


# --- registry ------------------------------------------------------------------------
def test_tut2018_registry_entry() -> None:
    spec = get_dataset("tut2018")
    assert "tut2018" in available_datasets() and spec.record == "1228142"
    assert len(spec.files) == 15 and spec.total_size == 21_353_171_682
    assert spec.folder == "TUT-urban-acoustic-scenes-2018-development"
    assert all(len(f.md5) == 32 and int(f.md5, 16) >= 0 for f in spec.files)
    assert spec.files[0].url == (
        "https://zenodo.org/record/1228142/files/TUT-urban-acoustic-scenes-2018-development.doc.zip"
    )
    assert len({f.name for f in spec.files}) == 15
    mirror = spec.with_base_url("http://mirror.example/tut")
    assert mirror.files[3].url == "http://mirror.example/tut/" + spec.files[3].name
    assert dataclasses.replace(mirror, base_url=spec.base_url).files[3].md5 == spec.files[3].md5
    assert get_dataset("TUT2018") is spec


def test_unknown_dataset_lists_known_ones() -> None:
    with pytest.raises(RgascError, match="tut2018"):
        get_dataset("tut2099")
    with pytest.raises(RgascError):
        download_dataset("tut2099", "/nonexistent")


def test_remote_file_is_frozen() -> None:
    f = RemoteFile("a.zip", "http://x/a.zip", 1, "0" * 32)
    with pytest.raises(dataclasses.FrozenInstanceError):
        f.md5 = "1" * 32  # type: ignore[misc]

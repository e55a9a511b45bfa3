"""The dataset registry against the project's reference tables (docs/REGISTRIES.tsv)."""

from __future__ import annotations

from pathlib import Path

import pytest

from rgasc.data.registry import (
    META_KINDS,
    available_datasets,
    get_dataset,
    read_table,
    spec_for_folder,
)
from rgasc.errors import RgascError

# The shared docs sit beside the repository (…/shared/docs), not inside the package.
DOCS = Path(__file__).resolve().parents[2] / ".." / "shared" / "docs"
NEWER = ("tau2019", "tau2020-mobile", "tau2022-mobile", "tut2018-mobile")


@pytest.fixture(scope="module")
def reference() -> dict[str, list[tuple[str, str, int, str]]]:
    path = DOCS / "REGISTRIES.tsv"
    if not path.is_file():
        pytest.skip(f"{path} is absent (the shared project docs are not checked out here)")
    return read_table(path.read_text())


def test_every_reference_set_is_registered(reference: dict) -> None:
    assert set(reference) == set(NEWER)
    assert set(available_datasets()) == {*NEWER, "tut2018"}


@pytest.mark.parametrize("name", NEWER)
def test_registry_matches_reference_row_by_row(name: str, reference: dict) -> None:
    spec = get_dataset(name)
    rows = reference[name]
    assert len(spec.files) == len(rows)
    for f, (record, file, size, md5) in zip(spec.files, rows, strict=True):
        assert (f.name, f.size, f.md5) == (file, size, md5)
        assert f.url == f"https://zenodo.org/record/{record}/files/{file}"
        assert spec.record == record
    assert spec.total_size == sum(r[2] for r in rows)
    assert all(f.name.startswith(spec.folder + ".") for f in spec.files)


@pytest.mark.parametrize(
    ("name", "files", "gb", "record"),
    [
        ("tau2019", 23, 35.6, "2589280"),
        ("tau2020-mobile", 18, 27.4, "3819968"),
        ("tau2022-mobile", 18, 27.5, "6337421"),
        ("tut2018-mobile", 9, 11.3, "1228235"),
        ("tut2018", 15, 21.4, "1228142"),
    ],
)
def test_totals_match_datasets_md(name: str, files: int, gb: float, record: str) -> None:
    spec = get_dataset(name)
    assert (len(spec.files), round(spec.total_size / 1e9, 1), spec.record) == (files, gb, record)
    assert [f.kind for f in spec.files[:2]] == list(META_KINDS)  # small archives first
    assert {f.kind for f in spec.files[2:]} == {"audio"}
    meta = spec.only("meta")
    assert [f.kind for f in meta.files] == ["doc", "meta"] and meta.total_size < 2_000_000


def test_layouts() -> None:
    assert get_dataset("tut2018").layout.fold_suffix == ".txt"
    assert not get_dataset("tut2018-mobile").layout.fold_header
    for name in ("tau2019", "tau2020-mobile", "tau2022-mobile"):
        lay = get_dataset(name).layout
        assert (lay.fold_suffix, lay.fold_header) == (".csv", True)
    m20 = get_dataset("tau2020-mobile").layout
    assert m20.devices == ("a", "b", "c", "s1", "s2", "s3", "s4", "s5", "s6")
    assert m20.unseen_devices == ("s4", "s5", "s6")
    assert (m20.sample_rate, m20.channels, m20.clip_seconds) == (44100, 1, 10.0)
    assert get_dataset("tau2022-mobile").layout.clip_seconds == 1.0
    assert get_dataset("tut2018-mobile").layout.devices == ("a", "b", "c")
    assert get_dataset("tau2019").layout.devices == ("a",)


def test_spec_for_folder() -> None:
    spec = get_dataset("tau2020-mobile")
    assert spec_for_folder(Path("/x") / spec.folder) is spec
    assert spec_for_folder("/x/my-own-recordings") is None


def test_only_rejects_unknown_selection() -> None:
    with pytest.raises(RgascError, match="'all' or 'meta'"):
        get_dataset("tau2019").only("audio")


def test_cli_list_shows_every_set() -> None:
    from typer.testing import CliRunner

    from rgasc.cli import app

    res = CliRunner().invoke(app, ["download", "--list"])
    assert res.exit_code == 0
    for name, line in [
        ("tau2019", "23 files, 35.6 GB, zenodo record 2589280"),
        ("tau2020-mobile", "18 files, 27.4 GB, zenodo record 3819968"),
        ("tau2022-mobile", "18 files, 27.5 GB, zenodo record 6337421"),
        ("tut2018-mobile", "9 files, 11.3 GB, zenodo record 1228235"),
        ("tut2018", "15 files, 21.4 GB, zenodo record 1228142"),
    ]:
        assert f"{name}: {line}" in res.output
    res = CliRunner().invoke(app, ["download", "tau2019", "--only", "audio"])
    assert res.exit_code == 2 and "--only" in res.output

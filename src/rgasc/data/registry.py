"""What can be downloaded: one entry per dataset, one per published archive (size, md5).

The checksums are the publisher's, so a download is trusted only when it matches them
(see :mod:`rgasc.data.download`). Nothing here touches the network.
"""

from __future__ import annotations

import dataclasses
import os
from pathlib import Path

from rgasc.errors import RgascError

# Archive kinds, read from the names "<folder>.<kind>[.<n>].zip". "meta" (doc + meta) is
# what `rgasc download --only meta` fetches: a few hundred kB that show the layout.
META_KINDS = ("doc", "meta")
# Written last into a downloaded dataset folder; names the registered set it holds.
MARKER = ".rgasc_complete.json"


@dataclasses.dataclass(frozen=True)
class RemoteFile:
    """One published archive.

    Attributes:
        name: file name at the source and in ``ROOT/.downloads/``.
        url: full URL it is fetched from.
        size: bytes (used for the free-space check and the progress estimate).
        md5: the publisher's md5 hex digest; a download that differs is rejected.
    """

    name: str
    url: str
    size: int
    md5: str

    @property
    def kind(self) -> str:
        """``doc``, ``meta`` or ``audio`` (the word after the folder name), else ``""``."""
        parts = self.name.split(".")
        return parts[1] if len(parts) >= 3 else ""


@dataclasses.dataclass(frozen=True)
class Layout:
    """How a registered set is laid out once unpacked (read by :class:`DcaseDataset`).

    Attributes:
        fold_suffix: ``.txt`` (DCASE 2018: no header) or ``.csv`` (2019 on: tab-separated
            with the header ``filename<TAB>scene_label``; the test list ``filename`` only).
        fold_header: whether the fold files start with a header line.
        devices: every recording device (``source_label``), real and simulated.
        unseen_devices: devices that appear only in the evaluate fold.
        clip_seconds, sample_rate, channels: of the clips; None where not documented
            (or different per device).
        clips: number of clips, where documented.
        notes: anything else a user should know (metrics, caveats).
    """

    fold_suffix: str = ".txt"
    fold_header: bool = False
    devices: tuple[str, ...] = ("a",)
    unseen_devices: tuple[str, ...] = ()
    clip_seconds: float | None = 10.0
    sample_rate: int | None = None
    channels: int | None = None
    clips: int | None = None
    notes: str = ""


@dataclasses.dataclass(frozen=True)
class DatasetSpec:
    """A dataset made of archives that unpack into one DCASE-layout folder.

    Attributes:
        name: registry key, e.g. ``"tut2018"``.
        files: archives, in download order (small metadata first).
        folder: the top folder inside the archives, also the folder made under ROOT.
        base_url: where the archives live; ``files[i].url == base_url + files[i].name``.
        description: one line shown by ``rgasc download --list``.
        licence: shown with the listing, since some sets forbid redistribution.
        record: the Zenodo record the archives belong to.
        layout: how the unpacked folder is organised (fold files, devices, clips).
    """

    name: str
    files: tuple[RemoteFile, ...]
    folder: str
    base_url: str
    description: str = ""
    licence: str = ""
    record: str = ""
    layout: Layout = Layout()

    @property
    def total_size(self) -> int:
        return sum(f.size for f in self.files)

    def only(self, part: str) -> DatasetSpec:
        """The same set restricted to ``part``: ``all``, or ``meta`` (doc + meta archives)."""
        if part == "all":
            return self
        if part == "meta":
            return dataclasses.replace(
                self, files=tuple(f for f in self.files if f.kind in META_KINDS)
            )
        raise RgascError(f"unknown archive selection {part!r}; use 'all' or 'meta'")

    def with_base_url(self, base_url: str) -> DatasetSpec:
        """The same archives fetched from another server (a mirror, or a test server)."""
        base = base_url if base_url.endswith("/") else base_url + "/"
        files = tuple(dataclasses.replace(f, url=base + f.name) for f in self.files)
        return dataclasses.replace(self, files=files, base_url=base)


def make_spec(
    name: str,
    folder: str,
    base_url: str,
    files: list[tuple[str, int, str]],
    description: str = "",
    licence: str = "",
) -> DatasetSpec:
    """Build a :class:`DatasetSpec` from ``(file name, bytes, md5)`` rows under one base URL."""
    base = base_url if base_url.endswith("/") else base_url + "/"
    remote = tuple(RemoteFile(n, base + n, size, md5.lower()) for n, size, md5 in files)
    return DatasetSpec(name, remote, folder, base, description, licence)


# --- the registered datasets ------------------------------------------------------------
# Archive facts (record, names, sizes, md5) live in registries.tsv beside this module, shipped
# as package data, so an installed rgasc needs nothing outside itself. Layout facts below
# come from docs/DATASETS.md (which cites dcase_util and the DCASE task pages); a fact
# recorded as None was not documented there: check the set's README (its doc.zip).
TABLE = "registries.tsv"
ZENODO = "https://zenodo.org/record/{record}/files/"

_DCASE2018 = Layout(fold_suffix=".txt", fold_header=False)
_DCASE2019 = Layout(fold_suffix=".csv", fold_header=True)
_MOBILE_DEVICES = ("a", "b", "c", "s1", "s2", "s3", "s4", "s5", "s6")
_LAYOUTS: dict[str, tuple[str, str, Layout]] = {
    # name: (description, licence, layout)
    "tut2018": (
        "TUT Urban Acoustic Scenes 2018, development set: 8640 clips of 10 s, "
        "10 scenes, 48 kHz stereo (DCASE 2018 task 1A)",
        "non-commercial research use only; never redistribute the audio",
        dataclasses.replace(_DCASE2018, clips=8640, sample_rate=48000, channels=2),
    ),
    "tut2018-mobile": (
        "TUT Urban Acoustic Scenes 2018 Mobile, development set: TUT2018 device a plus "
        "parallel recordings from devices b and c (DCASE 2018 task 1B)",
        "non-commercial research use only; never redistribute the audio",
        dataclasses.replace(
            _DCASE2018,
            devices=("a", "b", "c"),
            sample_rate=None,
            channels=None,
            notes="sample rate and channels differ by device; see the set's README",
        ),
    ),
    "tau2019": (
        "TAU Urban Acoustic Scenes 2019, development set: 14,400 clips of 10 s, 10 scenes, "
        "48 kHz stereo, one device (DCASE 2019 task 1A)",
        "non-commercial research use only; never redistribute the audio",
        dataclasses.replace(_DCASE2019, clips=14400, sample_rate=48000, channels=2),
    ),
    "tau2020-mobile": (
        "TAU Urban Acoustic Scenes 2020 Mobile, development set: 10-s clips, 10 scenes, "
        "44.1 kHz mono, devices a, b, c (real) and s1-s6 (simulated); s4-s6 unseen in "
        "training (DCASE 2020 task 1A)",
        "non-commercial research use only; never redistribute the audio",
        dataclasses.replace(
            _DCASE2019,
            devices=_MOBILE_DEVICES,
            unseen_devices=("s4", "s5", "s6"),
            sample_rate=44100,
            channels=1,
            notes="metrics: macro accuracy, multi-class log loss, accuracy per device",
        ),
    ),
    "tau2022-mobile": (
        "TAU Urban Acoustic Scenes 2022 Mobile, development set: the 2020 Mobile recordings "
        "cut into 1-s clips, 44.1 kHz mono, devices a, b, c, s1-s6; s4-s6 unseen in "
        "training (DCASE 2022 task 1, low-complexity models)",
        "non-commercial research use only; never redistribute the audio",
        dataclasses.replace(
            _DCASE2019,
            devices=_MOBILE_DEVICES,
            unseen_devices=("s4", "s5", "s6"),
            clip_seconds=1.0,
            sample_rate=44100,
            channels=1,
            notes="1-s clips are 32 frames with the default front-end, the model's minimum",
        ),
    ),
}


def read_table(text: str) -> dict[str, list[tuple[str, str, int, str]]]:
    """Parse a registry table: dataset -> [(record, file, bytes, md5)] in file order.

    The format is REGISTRIES.tsv's: ``#`` comment lines, a header
    ``dataset record file bytes md5``, then one tab-separated row per archive.
    """
    out: dict[str, list[tuple[str, str, int, str]]] = {}
    header: list[str] | None = None
    for n, line in enumerate(text.splitlines(), start=1):
        if not line.strip() or line.startswith("#"):
            continue
        fields = [f.strip() for f in line.split("\t")]
        if header is None:
            header = fields
            if header != ["dataset", "record", "file", "bytes", "md5"]:
                raise ValueError(f"line {n}: unexpected registry header {fields}")
            continue
        if len(fields) != 5:
            raise ValueError(f"line {n}: expected 5 tab-separated fields, got {len(fields)}")
        name, record, file, size, md5 = fields
        out.setdefault(name, []).append((record, file, int(size), md5.lower()))
    return out


def _load_registry() -> dict[str, DatasetSpec]:
    from importlib import resources

    table = read_table(resources.files("rgasc.data").joinpath(TABLE).read_text())
    specs: dict[str, DatasetSpec] = {}
    for name, rows in table.items():
        records = {r[0] for r in rows}
        if len(records) != 1:
            raise ValueError(f"{TABLE}: {name} spans several records {sorted(records)}")
        record = rows[0][0]
        # Every archive is "<folder>.<part>.zip" and unpacks into <folder>/.
        folder = rows[0][1].split(".", 1)[0]
        description, licence, layout = _LAYOUTS.get(name, ("", "", Layout()))
        spec = make_spec(
            name,
            folder=folder,
            base_url=ZENODO.format(record=record),
            files=[(file, size, md5) for _, file, size, md5 in rows],
            description=description,
            licence=licence,
        )
        specs[name] = dataclasses.replace(spec, record=record, layout=layout)
    return specs


_REGISTRY: dict[str, DatasetSpec] = _load_registry()


def spec_for_folder(folder: str | os.PathLike[str]) -> DatasetSpec | None:
    """The registered dataset a folder holds, judged by its name (``spec.folder``), or None."""
    name = Path(folder).name
    return next((s for s in _REGISTRY.values() if s.folder == name), None)


def available_datasets() -> list[str]:
    """Names accepted by :func:`get_dataset` and ``rgasc download``, sorted."""
    return sorted(_REGISTRY)


def get_dataset(name: str) -> DatasetSpec:
    """The registered :class:`DatasetSpec` called ``name`` (case-insensitive).

    Raises:
        RgascError: for an unknown name, listing the known ones.
    """
    spec = _REGISTRY.get(name.lower())
    if spec is None:
        raise RgascError(
            f"unknown dataset {name!r}; known datasets: {', '.join(available_datasets())} "
            "(`rgasc download --list` describes them)"
        )
    return spec

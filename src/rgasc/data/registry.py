"""What can be downloaded: one entry per dataset, one per published archive (size, md5).

The checksums are the publisher's, so a download is trusted only when it matches them
(see :mod:`rgasc.data.download`). Nothing here touches the network.
"""

from __future__ import annotations

import dataclasses

from rgasc.errors import RgascError


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
    """

    name: str
    files: tuple[RemoteFile, ...]
    folder: str
    base_url: str
    description: str = ""
    licence: str = ""

    @property
    def total_size(self) -> int:
        return sum(f.size for f in self.files)

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


# TUT Urban Acoustic Scenes 2018, development set: Zenodo record 1228142
# (https://zenodo.org/record/1228142), as listed in docs/DATASETS.md. Sizes and md5 sums
# are the ones Zenodo publishes for each file.
_TUT2018 = "TUT-urban-acoustic-scenes-2018-development"
TUT2018 = make_spec(
    "tut2018",
    folder=_TUT2018,
    base_url="https://zenodo.org/record/1228142/files/",
    files=[
        (f"{_TUT2018}.doc.zip", 10_517, "28a4a9c46a6f46709ecc8eece365a3a4"),
        (f"{_TUT2018}.meta.zip", 69_272, "e196065ee83c07af03a11a310364377d"),
        (f"{_TUT2018}.audio.1.zip", 1_657_811_579, "62f97087c447e29def8716204469bf89"),
        (f"{_TUT2018}.audio.2.zip", 1_783_489_370, "8e569a92025d82bff6b02b956d7c6dc9"),
        (f"{_TUT2018}.audio.3.zip", 1_809_675_304, "00d2020582a4535af5e65322fb2bad56"),
        (f"{_TUT2018}.audio.4.zip", 1_756_582_525, "d691eb4271f83ba6ba9a28797accc497"),
        (f"{_TUT2018}.audio.5.zip", 1_724_002_546, "c4d64b5483b60f85e9fe080b3435a6be"),
        (f"{_TUT2018}.audio.6.zip", 1_645_753_049, "2f0feee78f216697eb19497714d97642"),
        (f"{_TUT2018}.audio.7.zip", 1_671_903_917, "07cfefe80a0731de6819181841239f3a"),
        (f"{_TUT2018}.audio.8.zip", 1_673_304_843, "213f3c012859c2e9dcb74aacc8558458"),
        (f"{_TUT2018}.audio.9.zip", 1_674_839_259, "b724442b09abcb3bd095ebff497cef85"),
        (f"{_TUT2018}.audio.10.zip", 1_662_932_947, "a27a32fa52e283ed8013375b8a16f269"),
        (f"{_TUT2018}.audio.11.zip", 1_751_473_843, "7073a121e825ffef99832507f30d6644"),
        (f"{_TUT2018}.audio.12.zip", 1_742_332_198, "6567aa61db12776568b6267ce122fb18"),
        (f"{_TUT2018}.audio.13.zip", 798_990_513, "d00eeb2db0e093d8975521323a96c519"),
    ],
    description="TUT Urban Acoustic Scenes 2018, development set: 8640 clips of 10 s, "
    "10 scenes, 48 kHz stereo (DCASE 2018 task 1A)",
    licence="non-commercial research use only; never redistribute the audio",
)

_REGISTRY: dict[str, DatasetSpec] = {TUT2018.name: TUT2018}


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

"""Reading a log-mel feature cache: lazy features, clip metadata, normalisation statistics.

On-disk layout (written by :func:`rgasc.features.compute_features`)::

    DIR/                       the folder given to `rgasc features --out`
      latest.json              {"key": SUB}: the subfolder completed last; open_cache(DIR)
      SUB/                     SUB = hash(format, FeatureConfig): one folder per front-end
        features-*.npy         float32 (clips, frames, n_mels), rows in meta.csv order, read as
                               a numpy memmap (nothing loaded until indexed)
        manifest.json          config, state key, names, meta, the file above, each clip's
                               identity (size, mtime, sha256 of its audio), bad clips, the
                               dataset's fingerprint, versions; written LAST: the commit point
        progress.json          the next state while an update is unfinished (resumed, never
                               served): its own features file, the rows known so far
        bad_clips.csv          filename,error of clips skipped with --skip-bad (if any)
        norm/HASH.json         per-band mean/std keyed by the clips (and their contents)

Rows are kept per clip: when the dataset changes, a clip whose audio still has the recorded
identity (content hash checked whenever a row is reused) is copied into the new state, the
others are computed, and the superseded file is deleted once the new manifest is written. A
changed clip is therefore never served, and unchanged work is never redone. Rows of bad clips
stay in the array (zeros) to keep rows aligned with ``names``; :meth:`FeatureCache.index`
refuses them and :meth:`FeatureCache.norm_stats` skips them.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
from collections.abc import Iterable, Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from rgasc.artefacts import BAD_CLIPS_FILE
from rgasc.data.datasets import Clip, clip_key
from rgasc.errors import ArtefactError, LabelSpaceError
from rgasc.features.logmel import SAMPLE_RATE, FeatureConfig
from rgasc.features.normalize import band_stats
from rgasc.utils import read_json, text_hash, write_json

FORMAT_VERSION = 2  # the only one read: older caches are recomputed
MANIFEST = "manifest.json"
LATEST = "latest.json"
PROGRESS = "progress.json"
BAD_CLIPS = BAD_CLIPS_FILE


def features_command(
    dataset: str | os.PathLike[str], out: str | os.PathLike[str], cfg: FeatureConfig
) -> str:
    """The ``rgasc features`` command that (re)computes ``cfg``'s features of ``dataset``."""
    import shlex

    # every field is an option of the command; fmax defaults to the rate's Nyquist
    default = FeatureConfig(sample_rate=cfg.sample_rate).replace(sample_rate=SAMPLE_RATE)
    words = ["rgasc", "features", "--dataset", str(dataset), "--out", str(out)]
    for field in dataclasses.fields(cfg):
        value = getattr(cfg, field.name)
        if value != getattr(default, field.name):
            text = f"{value:g}" if isinstance(value, float | int) else str(value)
            words += ["--" + field.name.replace("_", "-"), text]
    return shlex.join(words)


class FeatureCache:
    """A completed feature cache, opened read-only.

    Attributes:
        path: the KEY folder.
        key: hash of the config and the dataset's file list.
        config: the :class:`FeatureConfig` that made the features.
        names: meta.csv file names ("audio/x.wav"), one per row, in dataset order.
        meta: the :class:`Clip` (scene, location, device) of every row.
        features: (clips, frames, n_mels) float32 numpy memmap; ``features[i]`` and
            ``features[idx_array]`` read only those rows.
        bad_clips: names of clips that failed to decode (their rows are zeros; never use them).
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = Path(path)
        manifest_path = self.path / MANIFEST
        if not manifest_path.is_file():
            raise ArtefactError(
                f"{manifest_path}: missing; {self.path} is not a finished feature cache "
                "(run `rgasc features --dataset DATASET --out DIR` again to finish it)"
            )
        m = read_json(manifest_path)
        if m.get("format") != FORMAT_VERSION:
            raise ArtefactError(
                f"{manifest_path}: cache format {m.get('format')} is not {FORMAT_VERSION}, the "
                "one this version reads; recompute it with `rgasc features`"
            )
        self.manifest: dict[str, Any] = m
        self.key: str = m["key"]
        self.config = FeatureConfig.from_dict(m["config"])
        self.meta: list[Clip] = [Clip(**c) for c in m["meta"]]
        self.names: list[str] = [c.filename for c in self.meta]
        self.bad_clips: list[str] = [b["filename"] for b in m.get("bad_clips", [])]
        self.file: str = m["file"]
        try:
            self.features: np.ndarray = np.load(self.path / self.file, mmap_mode="r")
        except (OSError, ValueError) as e:
            raise ArtefactError(
                f"{self.path / self.file}: unreadable ({e}); the cache is damaged, delete "
                f"{self.path} and recompute it with `rgasc features`"
            ) from e
        expected = (len(self.names), self.config.n_frames, self.config.n_mels)
        if self.features.shape != expected:
            raise ArtefactError(
                f"{self.path / self.file}: shape {self.features.shape}, manifest says "
                f"{expected}; the cache is damaged, delete the folder and recompute"
            )
        #: name -> {"size", "mtime_ns", "sha256"} of the audio each row was computed from
        self.identities: dict[str, dict[str, Any]] = dict(m.get("clips", {}))
        #: the dataset the cache was made from (root, clips, clip list hash)
        self.provenance: dict[str, Any] = dict(m.get("provenance", {}))
        #: set by compute_features: clips whose rows (or bad-clip records) were reused, and
        #: good clips computed, by that call
        self.reused: int | None = None
        self.computed: int | None = None
        self._row = {clip_key(n): i for i, n in enumerate(self.names)}
        self._bad = {clip_key(n) for n in self.bad_clips}

    def summary(self) -> str:
        """What the call that returned this cache did, each clip counted once: "R reused,
        C computed, B bad" (a bad clip is only bad, whether found now or recorded before)."""
        computed, bad = self.computed or 0, len(self.bad_clips)
        return f"{len(self) - computed - bad} reused, {computed} computed, {bad} bad"

    # --- lookup -----------------------------------------------------------------------
    def __len__(self) -> int:
        return len(self.names)

    @property
    def scenes(self) -> list[str]:
        """Scene labels present, sorted (the class order of :class:`DcaseDataset`)."""
        return sorted({c.scene for c in self.meta})

    @property
    def files_digest(self) -> str:
        """Hash of the dataset file list (names, sizes, mtimes) the cache was computed from."""
        return str(self.manifest["files_digest"])

    def hashes(self) -> dict[str, str]:
        """clip key -> content hash of the audio each row was computed from (where recorded)."""
        return {clip_key(n): str(i["sha256"]) for n, i in self.identities.items() if i}

    def stale(self, paths: Mapping[str, str | os.PathLike[str]]) -> list[str]:
        """Names (of ``paths``: name -> audio file) whose audio changed since its row was made.

        Cheap: size and mtime only. A file that is absent is not stale (training may run
        without the audio); a clip without a recorded identity (its file was missing, so it
        is a bad clip) is not checked.
        """
        from rgasc.data.provenance import file_stat, same_stat

        out = []
        for name, path in paths.items():
            rec = self.identities.get(name)
            if rec and file_stat(path) is not None and not same_stat(rec, path):
                out.append(name)
        return out

    def command(self, dataset: str | os.PathLike[str] | None = None) -> str:
        """The command that brings this cache up to date with ``dataset`` (default: its own)."""
        root = dataset if dataset is not None else self.manifest.get("dataset", "DATASET")
        return features_command(root, self.path.parent, self.config)

    def usable(self, names: Iterable[str]) -> list[str]:
        """``names`` without the bad clips (the ones a training split may use)."""
        return [n for n in names if clip_key(n) not in self._bad]

    def index(self, names: Iterable[str], *, allow_bad: bool = False) -> np.ndarray:
        """Row indices (int64) of ``names``, given in any form (see :func:`clip_key`).

        Raises:
            LabelSpaceError: a name is not in the cache, or is a bad clip (unless
                ``allow_bad``); filter with :meth:`usable` first to drop bad clips.
        """
        rows: list[int] = []
        missing: list[str] = []
        bad: list[str] = []
        for n in names:
            k = clip_key(n)
            r = self._row.get(k)
            if r is None:
                missing.append(n)
                continue
            if k in self._bad and not allow_bad:
                bad.append(n)
            rows.append(r)
        if missing:
            # the cache cannot tell whether the clips are new ones of its own dataset or
            # another dataset's: never suggest writing another dataset's clips into it
            made = self.manifest.get("dataset", "its dataset")
            raise LabelSpaceError(
                f"{self.path}: {len(missing)} clip(s) are not in the feature cache of {made}, "
                f"e.g. {missing[:3]}; if they are new clips of {made}, update it with "
                f"`{self.command()}`, else compute their own dataset's features into a new "
                "folder (`rgasc features --dataset DATASET --out NEW_FOLDER`)"
            )
        if bad:
            raise LabelSpaceError(
                f"{self.path}: {len(bad)} clip(s) failed to decode and have no features, "
                f"e.g. {bad[:3]} (see {BAD_CLIPS}); drop them with cache.usable(names)"
            )
        return np.asarray(rows, dtype=np.int64)

    # --- normalisation ------------------------------------------------------------------
    def norm_stats(self, train_names: Sequence[str]) -> tuple[np.ndarray, np.ndarray]:
        """Per-band (mean [n_mels], std [n_mels]) float32 over the frames of ``train_names``.

        Bad clips are skipped. Computed once per set of clips (streamed in chunks) and stored
        under ``norm/`` keyed by a hash of the clip names, so the same split reuses it and a
        different split can never get stale statistics.
        """
        keys = sorted({clip_key(n) for n in self.usable(train_names)})
        if not keys:
            raise ArtefactError(f"{self.path}: no usable clips to compute normalisation on")
        # rows are updated per clip: the key names the contents too, never just the names
        hashes = self.hashes()
        h = text_hash(self.config.digest(), *(f"{k}:{hashes.get(k, self.key)}" for k in keys))
        path = self.path / "norm" / f"{h}.json"
        if path.is_file():
            d = read_json(path)
            return np.asarray(d["mean"], np.float32), np.asarray(d["std"], np.float32)
        mean, std = band_stats(self.features, self.index(keys))
        # a read-only cache still works; the stats are just recomputed next time
        with contextlib.suppress(OSError):
            write_json(path, {"clips": len(keys), "mean": mean.tolist(), "std": std.tolist()})
        return mean, std

    def __repr__(self) -> str:
        return (
            f"FeatureCache({str(self.path)!r}, clips={len(self)}, "
            f"shape={tuple(self.features.shape)}, bad={len(self.bad_clips)})"
        )


#: A clip this much shorter than the clip length is padded by more than rounding: DCASE
#: clips of 9.99 s in a 10-s front-end are not worth a warning.
SHORT_TOLERANCE = 0.01


def short_clips(cache: FeatureCache) -> dict[str, float]:
    """name -> decoded seconds of the clips shorter than the cache's clip length (so
    zero-padded up to it), as recorded when their rows were computed (rows of older caches
    record no length and are not counted)."""
    limit = cache.config.clip_seconds * (1.0 - SHORT_TOLERANCE)
    bad = set(cache.bad_clips)
    out = {}
    for name in cache.names:
        seconds = (cache.identities.get(name) or {}).get("seconds")
        if seconds is not None and name not in bad and float(seconds) < limit:
            out[name] = float(seconds)
    return out


def warn_short_clips(cache: FeatureCache) -> None:
    """One RgascWarning when clips are shorter than the cache's clip length: how many, and
    ``--clip-seconds`` (at their typical length) as the fix."""
    import warnings

    from rgasc.errors import RgascWarning

    short = short_clips(cache)
    if not short:
        return
    name, seconds = next(iter(short.items()))
    typical = float(np.median(list(short.values())))
    warnings.warn(
        f"{cache.path}: {len(short)} of {len(cache)} clips are shorter than the "
        f"{cache.config.clip_seconds:g}-s clip length and were zero-padded to it (e.g. "
        f"{name}: {seconds:.2f} s); to use their own length, recompute with --clip-seconds "
        f"{typical:.3g} (FeatureConfig(clip_seconds={typical:.3g}))",
        RgascWarning,
        stacklevel=2,
    )


def open_cache(path: str | os.PathLike[str], cfg: FeatureConfig | None = None) -> FeatureCache:
    """Open a cache given the ``--out`` folder or one of its KEY subfolders.

    Args:
        path: DIR (resolved through ``latest.json``, or, with ``cfg``, the newest finished
            subfolder made with that config) or DIR/KEY.
        cfg: pick the cache made with this config instead of the latest one.

    Raises:
        ArtefactError: nothing finished there (or nothing for ``cfg``).
    """
    path = Path(path)
    if (path / MANIFEST).is_file():
        cache = FeatureCache(path)
        if cfg is not None and cache.config != cfg:
            raise ArtefactError(f"{path}: computed with a different FeatureConfig than asked")
        return cache
    if cfg is None and (path / LATEST).is_file():
        return FeatureCache(path / read_json(path / LATEST)["key"])
    candidates = sorted(
        (p.parent for p in path.glob(f"*/{MANIFEST}")), key=lambda p: (p / MANIFEST).stat().st_mtime
    )
    for sub in reversed(candidates):
        c = FeatureCache(sub)
        if cfg is None or c.config == cfg:
            return c
    what = "" if cfg is None else " for this FeatureConfig"
    raise ArtefactError(
        f"{path}: no finished feature cache{what}; "
        f"run `rgasc features --dataset DATASET --out {path}`"
    )


def export_npz(cache: FeatureCache, path: str | os.PathLike[str]) -> Path:
    """Write ``names`` (str), ``features`` (clips, frames, n_mels), ``bad`` (bool) to one .npz.

    For use outside rgasc; loads the whole array into memory once.
    """
    from rgasc.utils import atomic_path

    path = Path(path)
    bad_set = set(cache.bad_clips)
    bad = np.array([n in bad_set for n in cache.names], dtype=bool)
    with atomic_path(path) as tmp, open(tmp, "wb") as f:
        np.savez(
            f,
            names=np.array(cache.names),
            scenes=np.array([c.scene for c in cache.meta]),
            features=np.asarray(cache.features),
            bad=bad,
        )
    return path


def clip_to_dict(c: Clip) -> dict[str, str]:
    return dataclasses.asdict(c)

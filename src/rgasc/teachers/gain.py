"""The teacher's input level: a rule that scales each clip before the tagger hears it.

Why: a tagger trained on AudioSet (YouTube audio, mastered loud) reads quiet field recordings
as silence. The 10 real TUT2018 development clips sit at -38 to -53 dBFS RMS; int8 YAMNet's
top event for 7 of them is "Silence". Scaled to -20 dBFS RMS they give bus: Speech, Vehicle,
Bus; park: Wind, Rustling leaves (benchmarks/results/teacher-gain/). The paper's dataset is
recorded at those levels, so without a rule its R_SE would be built mostly from "Silence".

A rule is written as a short string, the form ``rgasc tag --gain`` takes and label files
record in their ``teacher_options`` attribute:

- ``none``: the clip as recorded;
- ``rms:DB``: scale the clip so its RMS is ``DB`` dBFS (``rms:-20``);
- ``peak:DB``: scale the clip so its largest absolute sample is ``DB`` dBFS (``peak:-3``).

Both scaling rules never push a sample past full scale (the factor is capped at 1/peak) and
never boost by more than :data:`MAX_BOOST_DB` (digital silence stays silence). The rule runs
inside the teacher (:class:`GainTeacher`), so every caller that builds a teacher with a
``gain`` (``rgasc tag``, the demo) applies it identically.
"""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np

from rgasc.errors import TeacherError

KINDS = ("none", "rms", "peak")
MAX_BOOST_DB = 60.0  # at most x1000: a clip of dither is not made into noise at -20 dBFS
# The rule rgasc tag and the demo use unless told otherwise, chosen by measurement
# (benchmarks/teacher_gain.py; numbers in benchmarks/results/teacher-gain/).
DEFAULT_GAIN = "rms:-20"


@dataclasses.dataclass(frozen=True)
class Gain:
    """A per-clip level rule: ``kind`` (none | rms | peak) and its target level in dBFS."""

    kind: str = "none"
    db: float = 0.0

    @classmethod
    def parse(cls, spec: str | Gain) -> Gain:
        """``"none"``, ``"rms:-20"``, ``"peak:-3"`` -> Gain.

        Raises:
            TeacherError: an unknown kind, a missing or non-numeric level, or a level above
                0 dBFS (which could only be reached by clipping).
        """
        if isinstance(spec, Gain):
            return spec
        text = str(spec).strip().lower()
        kind, _, level = text.partition(":")
        hint = "write none, rms:DB or peak:DB (e.g. rms:-20)"
        if kind not in KINDS:
            raise TeacherError(f"gain {spec!r}: unknown rule {kind!r}; {hint}")
        if kind == "none":
            if level:
                raise TeacherError(f"gain {spec!r}: none takes no level; {hint}")
            return cls()
        try:
            db = float(level)
        except ValueError:
            raise TeacherError(f"gain {spec!r}: {kind} needs a level in dBFS; {hint}") from None
        if not np.isfinite(db) or db > 0:
            raise TeacherError(f"gain {spec!r}: the level must be at most 0 dBFS; {hint}")
        return cls(kind, db)

    def __str__(self) -> str:
        return "none" if self.kind == "none" else f"{self.kind}:{self.db:g}"

    def factors(self, waveforms: np.ndarray) -> np.ndarray:
        """The factor each clip of ``waveforms`` (batch, samples) is multiplied by."""
        x = np.atleast_2d(np.asarray(waveforms, dtype=np.float64))
        if self.kind == "none" or x.shape[-1] == 0:
            return np.ones(x.shape[0])
        peak = np.abs(x).max(axis=-1)
        level = np.sqrt(np.mean(x**2, axis=-1)) if self.kind == "rms" else peak
        target = 10.0 ** (self.db / 20.0)
        with np.errstate(divide="ignore"):
            wanted = np.where(level > 0, target / level, 1.0)
            ceiling = np.where(peak > 0, 1.0 / peak, 1.0)
        return np.minimum(np.minimum(wanted, ceiling), 10.0 ** (MAX_BOOST_DB / 20.0))

    def apply(self, waveforms: np.ndarray) -> np.ndarray:
        """``waveforms`` (batch, samples) or (samples,), each clip scaled by its factor; the
        dtype is kept (float32 in, float32 out)."""
        x = np.asarray(waveforms)
        if self.kind == "none":
            return x
        f = self.factors(x)
        out = np.atleast_2d(x) * f[:, None].astype(x.dtype)
        return out.reshape(x.shape)


class GainTeacher:
    """A teacher that hears every clip through a :class:`Gain` rule.

    It is the wrapped teacher in every other respect (name, labels, sample rate, device);
    its ``options`` add ``gain``, so the rule is recorded with the labels and a tagging run
    under another rule is a different run (no label file made under one rule is reused
    under another).
    """

    def __init__(self, teacher: Any, gain: Gain) -> None:
        self.teacher = teacher
        self.gain = gain
        self.options = {**dict(getattr(teacher, "options", {})), "gain": str(gain)}

    def __getattr__(self, name: str) -> Any:
        # called only for attributes this wrapper lacks: name, labels, sample_rate, ...
        return getattr(self.__dict__["teacher"], name)

    def tag(self, waveforms: np.ndarray) -> np.ndarray:
        return self.teacher.tag(self.gain.apply(waveforms))

    def embed(self, waveforms: np.ndarray) -> np.ndarray | None:
        return self.teacher.embed(self.gain.apply(waveforms))

    def tag_and_embed(self, waveforms: np.ndarray) -> tuple[np.ndarray, np.ndarray | None]:
        x = self.gain.apply(waveforms)
        both = getattr(self.teacher, "tag_and_embed", None)
        if both is not None:
            return both(x)  # type: ignore[no-any-return]
        return self.teacher.tag(x), self.teacher.embed(x)

    def to(self, device: str) -> GainTeacher:
        self.teacher = self.teacher.to(device)
        return self

    def __repr__(self) -> str:
        return f"GainTeacher({self.teacher!r}, gain={str(self.gain)!r})"

"""Config dataclasses that serialise: ``to_dict``/``from_dict`` and YAML files.

Each stage owns one frozen dataclass (``FeatureConfig`` in ``features``, ``ModelConfig`` in
``models``...). They all inherit :class:`Config`, so the resolved config can be written
beside every output and read back to rebuild what made it.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path
from typing import Any, Self

import yaml

from rgasc.utils import text_hash, write_text_atomic


@dataclasses.dataclass(frozen=True)
class Config:
    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if isinstance(v, Config):
                v = v.to_dict()
            elif isinstance(v, tuple):
                v = list(v)
            out[f.name] = v
        return out

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> Self:
        """Build from a dict; unknown keys are an error (a typo must not pass silently)."""
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = set(d) - set(fields)
        if unknown:
            raise ValueError(f"{cls.__name__}: unknown field(s) {sorted(unknown)}")
        kwargs: dict[str, Any] = {}
        for k, v in d.items():
            default = getattr(cls, k, None) if not callable(getattr(cls, k, None)) else None
            if isinstance(v, list) and isinstance(default, tuple):
                v = tuple(v)
            kwargs[k] = v
        return cls(**kwargs)

    def replace(self, **changes: Any) -> Self:
        return dataclasses.replace(self, **changes)

    def digest(self) -> str:
        """Stable hash of every field: the cache key of whatever this config makes."""
        return text_hash(type(self).__name__, json.dumps(self.to_dict(), sort_keys=True))


def save_yaml(path: str | os.PathLike[str], data: dict[str, Any]) -> None:
    write_text_atomic(path, yaml.safe_dump(data, sort_keys=False))


def load_yaml(path: str | os.PathLike[str]) -> dict[str, Any]:
    loaded = yaml.safe_load(Path(path).read_text())
    return loaded if isinstance(loaded, dict) else {}

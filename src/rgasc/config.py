"""Config dataclasses that serialise: ``to_dict``/``from_dict``, dotted overrides, YAML files.

Each stage owns one frozen dataclass (``FeatureConfig`` in ``features``, ``ModelConfig`` in
``models``...). They all inherit :class:`Config`, so the resolved config can be written
beside every output and read back to rebuild what made it. A config may hold other configs
(a tree, like ``TrainConfig``'s sections): ``to_dict`` writes them as nested dicts,
``from_dict`` rebuilds them from the field annotations, and :func:`override` changes any leaf
by its dotted key (``"loss.lambdas"``).

A field declared with :func:`option` also carries its command-line help: the CLI builds each
stage's options from its config (:mod:`rgasc.cli.params`), so a flag's name, type, choices,
default and help exist in one place, the dataclass. A field typed with an enum takes its
members or their values; any other value is a :class:`ConfigError` that lists the valid ones.
"""

from __future__ import annotations

import dataclasses
import enum
import json
import os
import types
import typing
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Self, TypeVar

import yaml

from rgasc.errors import ConfigError
from rgasc.utils import text_hash, write_text_atomic

C = TypeVar("C", bound="Config")


def option(
    default: Any = dataclasses.MISSING,
    *,
    help: str,
    flag: str | None = None,
    path: bool = False,
    default_factory: Any = dataclasses.MISSING,
) -> Any:
    """A config field that is also a command-line option.

    Args:
        default: the field's default (omit for a required field).
        help: one sentence for ``--help``; the default is shown beside it.
        flag: the parameter name when the field's own name would be vague as a flag
            (``select.rule`` is ``select_rule``, i.e. ``--select-rule``).
        path: the value is a file or folder (the CLI types it as a path).
        default_factory: as :func:`dataclasses.field`'s, for a mutable default.
    """
    metadata = {"help": help, "flag": flag, "path": path}
    if default_factory is not dataclasses.MISSING:
        return dataclasses.field(default_factory=default_factory, metadata=metadata)
    return dataclasses.field(default=default, metadata=metadata)


@dataclasses.dataclass(frozen=True)
class Config:
    def __post_init__(self) -> None:
        """Enum-typed fields: a value becomes its member; anything else is refused."""
        for f in dataclasses.fields(self):
            kind = enum_type(_hints(type(self))[f.name])
            value = getattr(self, f.name)
            if kind is None or value is None or isinstance(value, kind):
                continue
            try:
                member = kind(value.value if isinstance(value, enum.Enum) else value)
            except ValueError:
                valid = tuple(m.value for m in kind)
                raise ConfigError(f"{f.name}={value!r}: use one of {valid}") from None
            object.__setattr__(self, f.name, member)

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            if isinstance(v, Config):
                v = v.to_dict()
            elif isinstance(v, tuple):
                v = list(v)
            elif isinstance(v, enum.Enum):
                v = v.value  # plain YAML/JSON, and the same digest as the value itself
            out[f.name] = v
        return out

    @classmethod
    def from_dict(cls, d: Mapping[str, Any]) -> Self:
        """Build from a dict; nested configs are rebuilt from their field annotations.

        Unknown keys are an error (a typo must not pass silently), at any depth.
        """
        fields = {f.name: f for f in dataclasses.fields(cls)}
        unknown = set(d) - set(fields)
        if unknown:
            raise ValueError(
                f"{cls.__name__}: unknown field(s) {sorted(unknown)}; valid: {sorted(fields)}"
            )
        hints = _hints(cls)
        kwargs: dict[str, Any] = {}
        for k, v in d.items():
            sub = _config_type(hints.get(k))
            if sub is not None and isinstance(v, Mapping):
                v = sub.from_dict(v)
            elif isinstance(v, list) and _is_tuple(hints.get(k)):
                v = tuple(v)
            kwargs[k] = v
        return cls(**kwargs)

    def replace(self, **changes: Any) -> Self:
        return dataclasses.replace(self, **changes)

    def digest(self) -> str:
        """Stable hash of every field: the cache key of whatever this config makes."""
        return text_hash(type(self).__name__, json.dumps(self.to_dict(), sort_keys=True))


_HINTS: dict[type, dict[str, Any]] = {}


def _hints(cls: type) -> dict[str, Any]:
    """The resolved field annotations of a dataclass (``from __future__`` makes them strings)."""
    if cls not in _HINTS:
        _HINTS[cls] = typing.get_type_hints(cls)
    return _HINTS[cls]


def _config_type(hint: Any) -> type[Config] | None:
    """The Config class a field holds (``X`` or ``X | None``), else None."""
    candidates = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    for t in candidates:
        if isinstance(t, type) and issubclass(t, Config):
            return t
    return None


def enum_type(hint: Any) -> type[enum.Enum] | None:
    """The enum class of a field typed ``E`` or ``E | None``, else None."""
    candidates = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    for t in candidates:
        if isinstance(t, type) and issubclass(t, enum.Enum):
            return t
    return None


def _is_tuple(hint: Any) -> bool:
    candidates = typing.get_args(hint) if isinstance(hint, types.UnionType) else (hint,)
    return any(t is tuple or typing.get_origin(t) is tuple for t in candidates)


def field_paths(cls: type[Config], prefix: str = "") -> list[str]:
    """Every leaf field of a config tree as a dotted key, in declaration order."""
    out: list[str] = []
    hints = _hints(cls)
    for f in dataclasses.fields(cls):
        sub = _config_type(hints[f.name])
        if sub is not None:
            out += field_paths(sub, f"{prefix}{f.name}.")
        else:
            out.append(prefix + f.name)
    return out


def field_type(cls: type[Config], key: str) -> Any:
    """The resolved annotation of the leaf ``key`` (dotted) of a config tree."""
    head, _, rest = key.partition(".")
    hint = _hints(cls)[head]
    return field_type(_config_type(hint) or cls, rest) if rest else hint


def field_of(cls: type[Config], key: str) -> dataclasses.Field[Any]:
    """The :class:`dataclasses.Field` of the leaf ``key`` (dotted) of a config tree."""
    head, _, rest = key.partition(".")
    f = next(f for f in dataclasses.fields(cls) if f.name == head)
    if not rest:
        return f
    sub = _config_type(_hints(cls)[head])
    assert sub is not None, key
    return field_of(sub, rest)


def field_default(cls: type[Config], key: str) -> Any:
    """The dataclass default of the leaf ``key`` (dotted); ``dataclasses.MISSING`` if none."""
    head, _, rest = key.partition(".")
    f = next(f for f in dataclasses.fields(cls) if f.name == head)
    if rest:
        sub = _config_type(_hints(cls)[head])
        assert sub is not None
        return field_default(sub, rest)
    if f.default_factory is not dataclasses.MISSING:
        return f.default_factory()
    return f.default


def _plain(value: Any, hint: Any) -> Any:
    """A value as the field stores it: paths as str, enum members as their value, lists of a
    tuple field as tuples (so YAML and the CLI give what the constructor would)."""
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    if isinstance(value, list) and _is_tuple(hint):
        return tuple(value)
    return value


def override(cfg: C, changes: Mapping[str, Any]) -> C:
    """``cfg`` with the leaves named by dotted keys changed, every section re-validated.

    ``override(cfg, {"loss.lambdas": (1, 0, 0, 0), "optim.epochs": 3, "seed": 1})``. All
    changes of a section are applied at once, so fields checked together (e.g. ``model.init``
    and ``model.init_checkpoint``) can change together. ``Path`` values become ``str`` and enum
    members their value.

    Raises:
        ConfigError: a key that is not a leaf of the tree (the message lists the valid ones),
            or a value a section's checks refuse.
    """
    cls = type(cfg)
    valid = field_paths(cls)
    unknown = [k for k in changes if k not in valid]
    if unknown:
        # a leaf named without its section ("lr") is the likely slip: name the full key
        hints = [v for k in unknown for v in valid if v.rsplit(".", 1)[-1] == k.rsplit(".", 1)[-1]]
        mean = f" (did you mean {', '.join(hints)}?)" if hints else ""
        raise ConfigError(
            f"unknown {cls.__name__} key(s) {unknown}{mean}; valid keys: {', '.join(valid)}"
        )
    direct: dict[str, Any] = {}
    nested: dict[str, dict[str, Any]] = {}
    for key, value in changes.items():
        head, _, rest = key.partition(".")
        if rest:
            nested.setdefault(head, {})[rest] = value
        else:
            direct[head] = _plain(value, field_type(cls, key))
    for head, sub in nested.items():
        direct[head] = override(getattr(cfg, head), sub)
    return dataclasses.replace(cfg, **direct) if direct else cfg


def flatten(d: Mapping[str, Any], prefix: str = "") -> dict[str, Any]:
    """A nested dict (``to_dict``'s) as dotted keys -> leaf values; the inverse of nesting."""
    out: dict[str, Any] = {}
    for k, v in d.items():
        if isinstance(v, Mapping):
            out.update(flatten(v, f"{prefix}{k}."))
        else:
            out[prefix + k] = v
    return out


def save_yaml(path: str | os.PathLike[str], data: dict[str, Any]) -> None:
    write_text_atomic(path, yaml.safe_dump(data, sort_keys=False))


def load_yaml(path: str | os.PathLike[str]) -> dict[str, Any]:
    loaded = yaml.safe_load(Path(path).read_text())
    return loaded if isinstance(loaded, dict) else {}


# --- where a stage runs: one meaning, one help text in every command ---------------------------
ACCELERATOR_HELP = (
    "Lightning accelerator: auto (CUDA, else MPS, else CPU), cpu, gpu (CUDA or MPS), cuda or mps."
)
DEVICES_HELP = (
    "Lightning devices: auto, a count (2), -1 (every device) or indices (0,1; cuda:1 names one). "
    "predict and evaluate run on one; tag and features give each process a shard of the clips; "
    "train runs DDP over them."
)
NUM_NODES_HELP = (
    "Machines, each running --devices processes (set MASTER_ADDR, MASTER_PORT and NODE_RANK "
    "on each)."
)

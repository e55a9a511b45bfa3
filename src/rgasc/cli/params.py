"""Command-line options generated from a stage's config dataclass.

A field declared with :func:`rgasc.config.option` carries its help; its name gives the flag
(``batch_size`` -> ``--batch-size``, or the field's ``flag``), its annotation the type, an
enum annotation the choices, its default what ``--help`` shows. :func:`with_config_options`
appends one typer parameter per leaf of a config tree to a command's signature (typer reads
``__signature__``): a new field is a new option with no other line to write, and two commands
built from one config spell, type and default it alike.

Every generated parameter defaults to None, "not given", so that a ``--config`` file's or a
resumed run's setting stays; :func:`config_changes` turns the given ones into the dotted
changes that :func:`rgasc.config.override` applies, and the dataclass default applies last.
"""

from __future__ import annotations

import dataclasses
import inspect
import typing
from collections.abc import Callable, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, TypeVar

import typer
from typer.core import TyperCommand

from rgasc.config import Config, enum_type, field_default, field_of, field_paths, field_type

F = TypeVar("F", bound=Callable[..., Any])


@dataclasses.dataclass(frozen=True)
class Param:
    """One generated option: the config leaf ``key`` and how the command line spells it."""

    key: str  # dotted key in the config tree, e.g. "optim.lr"
    name: str  # the Python parameter name, e.g. "lr"; the flag is --lr
    hint: Any  # the field's resolved annotation
    default: Any  # the dataclass default (dataclasses.MISSING when required)
    help: str
    path: bool

    @property
    def flag(self) -> str:
        return "--" + self.name.replace("_", "-")

    @property
    def section(self) -> str:
        """The tree section (``optim``), or ``run`` for a top-level field."""
        return self.key.split(".", 1)[0] if "." in self.key else "run"

    def default_text(self) -> str | None:
        """The default as ``--help`` shows it (None when the field has none)."""
        d = self.default
        if d is dataclasses.MISSING or d is None:
            return None
        if isinstance(d, bool):
            return self.name.replace("_", "-") if d else "no-" + self.name.replace("_", "-")
        if isinstance(d, tuple):
            return " ".join(f"{x:g}" for x in d)
        if isinstance(d, float):
            return f"{d:g}"
        return str(getattr(d, "value", d))


def params_of(cls: type[Config]) -> list[Param]:
    """The options of every leaf of ``cls`` that was declared with :func:`rgasc.config.option`.

    Raises:
        AssertionError: two leaves would get the same flag (give one a ``flag``).
    """
    out: list[Param] = []
    for key in field_paths(cls):
        f = field_of(cls, key)
        if "help" not in f.metadata:
            continue
        name = f.metadata.get("flag") or key.rsplit(".", 1)[-1]
        hint, default = field_type(cls, key), field_default(cls, key)
        out.append(Param(key, name, hint, default, f.metadata["help"], bool(f.metadata["path"])))
    names = [p.name for p in out]
    assert len(names) == len(set(names)), f"{cls.__name__}: flags clash: {names}"
    return out


def _kind(p: Param) -> Any:
    """The type typer parses the value as."""
    if p.path:
        return Path
    choices = enum_type(p.hint)
    if choices is not None:
        return choices
    args = [a for a in typing.get_args(p.hint) if a is not type(None)]
    if isinstance(p.hint, type) or typing.get_origin(p.hint) is tuple:
        return p.hint
    return args[0] if len(args) == 1 else p.hint  # X | None -> X


def parameter(
    p: Param, *, panels: Mapping[str, str] | None = None, note: Callable[[Param], str] | None = None
) -> inspect.Parameter:
    """The typer parameter of one option (default None = not given)."""
    kind = _kind(p)
    decls = [f"{p.flag}/--no-{p.flag[2:]}"] if kind is bool else [p.flag]
    default = p.default_text()
    info = typer.Option(
        *decls,
        help=" ".join(filter(None, [p.help, note(p) if note else ""])),
        show_default=default if default is not None else False,
        case_sensitive=False,
        rich_help_panel=panels.get(p.section) if panels else None,
    )
    return inspect.Parameter(
        p.name,
        inspect.Parameter.KEYWORD_ONLY,
        default=None,
        annotation=Annotated[kind | None, info],
    )


def with_config_options(
    cls: type[Config],
    *,
    exclude: Sequence[str] = (),
    panels: Mapping[str, str] | None = None,
    note: Callable[[Param], str] | None = None,
) -> Callable[[F], F]:
    """Append the options of ``cls`` (less ``exclude``, by parameter name) to a command that
    takes ``**options``.

    Args:
        panels: section -> the ``--help`` panel its options are listed under.
        note: text appended to an option's help (e.g. what a preset sets it to).
    """

    def decorate(fn: F) -> F:
        sig = inspect.signature(fn, eval_str=True)
        own = [p for p in sig.parameters.values() if p.kind != inspect.Parameter.VAR_KEYWORD]
        added = [
            parameter(p, panels=panels, note=note) for p in params_of(cls) if p.name not in exclude
        ]
        clash = {p.name for p in own} & {p.name for p in added}
        assert not clash, f"{fn.__name__}: own parameters {clash} are also config options"
        fn.__signature__ = sig.replace(parameters=[*own, *added])  # type: ignore[attr-defined]
        return fn

    return decorate


def config_changes(cls: type[Config], values: Mapping[str, Any]) -> dict[str, Any]:
    """A command's parameter values (name -> value) as dotted changes of ``cls``.

    Names that are not options of ``cls`` are left out (a command's own arguments); None means
    "not given" and is left out too.
    """
    by_name = {p.name: p.key for p in params_of(cls)}
    return {by_name[k]: v for k, v in values.items() if k in by_name and v is not None}


# --- tuple options written with commas ---------------------------------------------------------
def tuple_flags(cls: type[Config]) -> frozenset[str]:
    """Flags of the tuple-typed options of ``cls`` (``--lambdas``)."""
    return frozenset(p.flag for p in params_of(cls) if typing.get_origin(p.hint) is tuple)


def split_commas(args: Sequence[str], flags: frozenset[str]) -> list[str]:
    """``[..., "--lambdas", "1,0,0,0"]`` (or ``--lambdas=1,0,0,0``) as four values."""
    out: list[str] = []
    it = iter(args)
    for a in it:
        if a == "--":
            out += [a, *it]
            break
        flag, eq, value = a.partition("=")
        if flag in flags and eq:
            out += [flag, *value.split(",")]
        elif a in flags:
            nxt = next(it, None)
            out += [a] if nxt is None else [a, *nxt.split(",")] if "," in nxt else [a, nxt]
        else:
            out.append(a)
    return out


def comma_command(cls: type[Config]) -> type[TyperCommand]:
    """The command class for ``@app.command(cls=...)`` that also reads the tuple options of
    ``cls`` written with commas."""
    flags = tuple_flags(cls)

    def parse_args(self: TyperCommand, ctx: Any, args: list[str]) -> list[str]:
        return TyperCommand.parse_args(self, ctx, split_commas(args, flags))

    return type(f"{cls.__name__}Command", (TyperCommand,), {"parse_args": parse_args})

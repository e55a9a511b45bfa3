"""The CLI's shared vocabulary: choice enums, option types, the device helper, old spellings.

One name means one thing in every command:

- ``--model RUN_OR_CKPT``: the trained model (a run folder or a checkpoint file);
- ``--accelerator`` / ``--devices``: where a model runs, with Lightning's names and meanings
  (:func:`torch_device` maps them to one torch device for the single-process commands);
- ``--top-k``: how many top events a command lists;
- ``--labels`` is always a pseudo-label file (``rgasc tag --out``); the teacher's class list
  is ``--class-labels``; quantities carry their unit (``--hop-length`` in samples,
  ``--hop-seconds``).

Choices are :class:`enum.StrEnum` subclasses, so ``--help`` lists them and a typo is a usage
error (exit 2) naming the valid values, before any file is read.

Spellings renamed in this release keep working for one release: :func:`with_aliases` gives a
command a table of :class:`Alias` entries; an old spelling on the command line is rewritten
into the new one before parsing, with a deprecation line on stderr.

This module imports no torch: the choices come from registries and tuples that import cheaply
(numpy at most), so ``rgasc --help`` stays quick.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Iterable
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeAlias

import typer
from typer.core import TyperCommand

from rgasc.data.registry import available_datasets
from rgasc.errors import RgascError
from rgasc.inference.formats import FORMATS
from rgasc.relation.build import RELATION_SPLITS
from rgasc.teachers import available_teachers


# --- choices -------------------------------------------------------------------------------
def choice_enum(name: str, values: Iterable[str]) -> type[StrEnum]:
    """A StrEnum whose members are ``values`` (member name = value), in the given order."""
    return StrEnum(name, [(v, v) for v in values])  # type: ignore[return-value]


class ArchiveSelection(StrEnum):
    """``rgasc download --only``: every archive, or the doc and meta archives alone."""

    all = "all"
    meta = "meta"


# Typer reads these at run time; for mypy they are plain strings (a StrEnum is one), since the
# member lists come from registries mypy cannot see.
if TYPE_CHECKING:
    AcceleratorName: TypeAlias = str
    TeacherName: TypeAlias = str
    DatasetName: TypeAlias = str
    PredictFormat: TypeAlias = str
    ExportFormat: TypeAlias = str
    EvalSplit: TypeAlias = str
    RelationSplit: TypeAlias = str
else:
    #: Lightning's accelerator names plus the two torch device types they stand for.
    AcceleratorName = choice_enum("AcceleratorName", ("auto", "cpu", "gpu", "cuda", "mps"))
    TeacherName = choice_enum("TeacherName", available_teachers())
    DatasetName = choice_enum("DatasetName", available_datasets())
    PredictFormat = choice_enum("PredictFormat", FORMATS)
    # rgasc.inference.export.EXPORT_FORMATS and rgasc.evaluate.run.SPLITS import torch, so
    # their values are repeated here (tests/cli/test_options.py checks they agree).
    ExportFormat = choice_enum("ExportFormat", ("onnx", "torchscript"))
    EvalSplit = choice_enum("EvalSplit", ("test", "val", "train"))
    RelationSplit = choice_enum("RelationSplit", RELATION_SPLITS)


# --- option types --------------------------------------------------------------------------
AcceleratorOption = Annotated[
    AcceleratorName,
    typer.Option(
        "--accelerator",
        case_sensitive=False,
        help="Where the model runs: auto (CUDA, else MPS, else CPU), cpu, gpu (CUDA or MPS), "
        "cuda or mps; as in `rgasc train`.",
    ),
]
#: Lightning's --devices, for the commands that may use several (train, experiment).
DevicesOption = Annotated[
    str, typer.Option("--devices", help="Lightning devices: auto, N (a count), or 0,1 (indices).")
]
#: --devices for the single-process commands (tag, predict, evaluate): one device.
OneDeviceOption = Annotated[
    str,
    typer.Option(
        "--devices",
        help="One device: auto or 1 (the first), or an index: 0, '1,' (Lightning's list form) "
        "or cuda:1.",
    ),
]
#: --devices of the per-clip stages (tag, features): one device, or one process per device,
#: each computing a shard of the clips (rgasc.distributed).
ShardDevicesOption = Annotated[
    str,
    typer.Option(
        "--devices",
        help="One device (auto, 1, an index: 0, '1,' or cuda:1), or several processes, each "
        "on a shard of the clips: a count (2), -1 (every device) or indices (0,1).",
    ),
]
NumNodesOption = Annotated[
    int,
    typer.Option(
        "--num-nodes",
        min=1,
        help="Machines, each running --devices processes (set MASTER_ADDR, MASTER_PORT and "
        "NODE_RANK on each, as for `rgasc train`).",
    ),
]
TopKOption = Annotated[
    int, typer.Option("--top-k", min=1, help="How many top events to list (per scene or per file).")
]
ModelOption = Annotated[
    Path,
    typer.Option(
        "--model",
        metavar="RUN_OR_CKPT",
        help="Trained model: a run folder (`rgasc train --out`) or a checkpoint file (best.pt).",
    ),
]
#: --model where the whole run folder is needed (its config names the dataset and cache).
RunOption = Annotated[
    Path, typer.Option("--model", metavar="RUN", help="Run folder written by `rgasc train`.")
]


# --- --accelerator / --devices -> one torch device ---------------------------------------------
def _one_index(devices: str, shown: str) -> int | None:
    """``--devices`` of a single-process command -> a device index, or None for "the first".

    ``shown`` is what the user typed, for the message.
    """
    text = devices.strip().lower()
    if text in ("auto", "1"):
        return None
    listed = text.strip("[]").rstrip(",")
    if listed.isdigit() and (text == "0" or text != listed):  # "0", "1,", "[1]"
        return int(listed)
    raise RgascError(
        f"--devices {shown}: this command runs on one device; give auto or 1 (the first), "
        f"or one index: 0, '2,' or cuda:2 (a count above 1 and lists are for `rgasc train`)"
    )


def torch_device(accelerator: str, devices: str = "auto") -> str:
    """The torch device (``"cpu"``, ``"cuda:1"``, ``"mps"``) for ``--accelerator --devices``.

    ``--devices`` may also name the device (``cuda:1``, ``cpu``), which then decides the
    accelerator when it is ``auto``.

    Raises:
        RgascError: the accelerator is not available here, the index does not exist, the two
            options disagree, or ``--devices`` asks for more than one device.
    """
    import torch

    acc = str(accelerator).lower()
    text = devices.strip().lower()
    if text.split(":")[0] in ("cpu", "cuda", "mps"):  # a torch device string
        kind, _, index = text.partition(":")
        if acc not in ("auto", kind) and not (acc == "gpu" and kind in ("cuda", "mps")):
            raise RgascError(
                f"--devices {devices} contradicts --accelerator {accelerator}; drop one of them"
            )
        acc = kind
        idx = _one_index(f"{index}," if index else "auto", devices)
    else:
        idx = _one_index(devices, devices)
    cuda, mps = torch.cuda.is_available(), torch.backends.mps.is_available()
    if acc == "auto":
        acc = "cuda" if cuda else "mps" if mps else "cpu"
    elif acc == "gpu":
        if not (cuda or mps):
            raise RgascError("--accelerator gpu: no CUDA or MPS device here; use auto or cpu")
        acc = "cuda" if cuda else "mps"
    if acc == "cuda":
        if not cuda:
            raise RgascError(
                "--accelerator cuda: no CUDA device is available here; use auto or cpu"
            )
        n = torch.cuda.device_count()
        if idx is not None and idx >= n:
            raise RgascError(
                f"--devices {devices}: there are {n} CUDA device(s), indices 0..{n - 1}"
            )
        return f"cuda:{idx or 0}"
    if acc == "mps" and not mps:
        raise RgascError("--accelerator mps: MPS is not available here; use auto or cpu")
    if idx:  # cpu and mps are one device each
        raise RgascError(f"--devices {devices}: {acc} has one device; use --devices auto")
    return acc


# --- old spellings -------------------------------------------------------------------------
@dataclasses.dataclass(frozen=True)
class Alias:
    """An old spelling accepted for one more release.

    Attributes:
        old: the old option (``--hop``), or for a former positional argument its metavar
            (``RUN``) with ``positional=True``.
        new: the option that replaces it (``--hop-seconds``), as shown in the message.
        to_args: old value -> the new command-line words; default ``[new, value]``. For an
            option that became two (``--device cuda:1`` -> ``--accelerator cuda --devices
            cuda:1``).
        positional: ``old`` was the command's positional argument.
    """

    old: str
    new: str
    to_args: Callable[[str], list[str]] | None = None
    positional: bool = False

    def replace(self, value: str) -> list[str]:
        return self.to_args(value) if self.to_args else [self.new, value]

    def message(self) -> str:
        what = f"the positional {self.old}" if self.positional else self.old
        use = f"{self.new} {self.old}" if self.positional else self.new
        return f"warning: {what} is deprecated, use {use}; it will be removed in the next release"


def device_to_accelerator(value: str) -> list[str]:
    """Old ``--device cpu|cuda|cuda:N|mps`` -> ``--accelerator KIND [--devices cuda:N]``."""
    kind = value.split(":")[0]
    return ["--accelerator", kind, *(["--devices", value] if ":" in value else [])]


#: The old ``--device`` of tag and predict.
DEVICE_ALIAS = Alias("--device", "--accelerator/--devices", device_to_accelerator)


def _option_names(words: list[str]) -> set[str]:
    return {w.split("=", 1)[0] for w in words if w.startswith("--")}


class AliasedCommand(TyperCommand):
    """A typer command that rewrites its :attr:`aliases` into the new spellings, then parses."""

    aliases: tuple[Alias, ...] = ()

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if self.aliases and not kwargs.get("epilog"):  # say in --help what still works
            kwargs["epilog"] = "Deprecated, removed in the next release: " + "; ".join(
                f"a positional {a.old} (use {a.new} {a.old})"
                if a.positional
                else f"{a.old} (use {a.new})"
                for a in self.aliases
            )
        super().__init__(*args, **kwargs)

    # ctx is click's Context (typer vendors click; typer.Context is a subclass of it)
    def parse_args(self, ctx: Any, args: list[str]) -> list[str]:
        return super().parse_args(ctx, self.rewrite(ctx, list(args)))

    def rewrite(self, ctx: Any, args: list[str]) -> list[str]:
        """``args`` with every old spelling replaced; prints one deprecation line for each."""
        given = _option_names(args)
        options = {a.old: a for a in self.aliases if not a.positional}
        out: list[str] = []
        i = 0
        while i < len(args):
            word = args[i]
            if word == "--":  # everything after it is positional
                out.extend(args[i:])
                break
            name, eq, value = word.partition("=")
            alias = options.get(name)
            if alias is None:
                out.append(word)
                i += 1
                continue
            if not eq:
                if i + 1 >= len(args):
                    raise typer.BadParameter(f"{name} needs a value", ctx=ctx)
                value = args[i + 1]
                i += 1
            i += 1
            new = alias.replace(value)
            self._refuse_both(ctx, alias, given & _option_names(new))
            typer.echo(alias.message(), err=True)
            out.extend(new)
        return self._positional(ctx, out, given)

    def _positional(self, ctx: Any, args: list[str], given: set[str]) -> list[str]:
        """Turn the first positional word into the option that replaced the positional."""
        alias = next((a for a in self.aliases if a.positional), None)
        if alias is None:
            return args
        takes_value = {
            name
            for p in self.get_params(ctx)
            if p.param_type_name == "option"
            and not (getattr(p, "is_flag", False) or getattr(p, "count", False))
            for name in (*p.opts, *p.secondary_opts)
        }
        i = 0
        while i < len(args):
            word = args[i]
            if word == "--":
                i += 1
                break
            if word.startswith("-") and word != "-":
                i += 2 if word in takes_value else 1  # "--out x" vs "--json", "--out=x"
                continue
            break
        if i >= len(args):
            return args
        self._refuse_both(ctx, alias, given & {alias.new})
        typer.echo(alias.message(), err=True)
        return [*args[:i], *alias.replace(args[i]), *args[i + 1 :]]

    @staticmethod
    def _refuse_both(ctx: Any, alias: Alias, both: set[str]) -> None:
        if both:
            raise typer.BadParameter(
                f"{alias.old} is the old spelling of {alias.new}; give only "
                f"{', '.join(sorted(both))}",
                ctx=ctx,
            )


def with_aliases(*aliases: Alias) -> type[AliasedCommand]:
    """The command class for ``@app.command(cls=...)`` that accepts ``aliases``."""
    return type("AliasedCommand", (AliasedCommand,), {"aliases": aliases})

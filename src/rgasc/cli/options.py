"""The CLI's shared vocabulary: choice enums, option types and the device helper.

One name means one thing in every command:

- ``--model RUN_OR_CKPT``: the trained model (a run folder or a checkpoint file);
- ``--accelerator`` / ``--devices``: where a model runs, with Lightning's names and meanings
  (:func:`torch_device` maps them to one torch device for the single-process commands);
- ``--dataset DIR``: the dataset folder a stage reads (DCASE layout);
- ``--workers``: worker processes (decoding, data loading); 0 = this process;
- ``--clip-seconds``: the length every clip is cropped or zero-padded to;
- ``--top-k``: how many top events a command lists;
- ``--labels`` is always a pseudo-label file (``rgasc tag --out``); the teacher's class list
  is ``--class-labels``; quantities carry their unit (``--hop-length`` in samples,
  ``--hop-seconds``).

Choices are :class:`enum.StrEnum` subclasses, so ``--help`` lists them and a typo is a usage
error (exit 2) naming the valid values, before any file is read.

This module imports no torch: the choices come from registries and tuples that import cheaply
(numpy at most), so ``rgasc --help`` stays quick.
"""

from __future__ import annotations

from collections.abc import Iterable
from enum import StrEnum
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, TypeAlias

import typer

from rgasc.config import ACCELERATOR_HELP, DEVICES_HELP, NUM_NODES_HELP
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
    AcceleratorName, typer.Option("--accelerator", case_sensitive=False, help=ACCELERATOR_HELP)
]
#: Lightning's --devices; each command says how many it can use (DEVICES_HELP).
DevicesOption = Annotated[str, typer.Option("--devices", help=DEVICES_HELP)]
NumNodesOption = Annotated[int, typer.Option("--num-nodes", min=1, help=NUM_NODES_HELP)]
DatasetOption = Annotated[
    Path, typer.Option("--dataset", help="Dataset folder in the DCASE layout.")
]
WorkersOption = Annotated[
    int, typer.Option("--workers", min=0, help="Worker processes (decoding); 0 = this process.")
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


# --- the running command, for hints ---
def current_command(ctx: typer.Context, **override: Any) -> str:
    """The running command as the user would type it again: every option they gave (in the
    command's order), with ``override``'s values (parameter name -> value) set or added.

    Rebuilt from the parsed parameters rather than ``sys.argv``, which holds the caller's
    command line when rgasc runs inside another program (a test, a notebook).
    """
    import shlex

    words = ["rgasc", str(ctx.info_name)]
    for param in ctx.command.params:
        name = str(param.name)
        source = ctx.get_parameter_source(name)
        if (source is None or source.name == "DEFAULT") and name not in override:
            continue
        words += _words(param, override.get(name, ctx.params.get(name)))
    return shlex.join(words)


def _words(param: Any, value: Any) -> list[str]:
    """How ``param`` (a click parameter) with ``value`` is written on a command line."""
    values = list(value) if isinstance(value, list | tuple) else [value]
    if param.param_type_name == "argument":
        return [str(v) for v in values if v is not None]
    if getattr(param, "is_flag", False):
        if value:
            return [param.opts[0]]
        return [param.secondary_opts[0]] if param.secondary_opts else []
    flag = max(param.opts, key=len)  # the long name
    return [w for v in values if v is not None for w in (flag, str(v))]

"""The ``rgasc`` command: parse options, call one library function per command.

One module per group of stages (``data``, ``labels``, ``training``, ``evaluate``,
``inference``); each registers its commands on the shared :data:`app`; the option names they
share (``--model``, ``--accelerator``/``--devices``, ``--top-k``) and the choice enums live in
:mod:`rgasc.cli.options`. Heavy imports (torch, lightning) happen
inside each command so ``rgasc --help`` is quick. Any :class:`rgasc.errors.RgascError` ends
in one clear message and exit status 2.
"""

from __future__ import annotations

import importlib
import sys
import warnings
from typing import TextIO

import typer

from rgasc.cli._app import app
from rgasc.errors import Interrupted, RgascError, RgascWarning

__all__ = ["app", "main"]

# Importing a module registers its commands; `rgasc --help` lists them in this order,
# the order of the pipeline.
for _module in ("data", "labels", "training", "evaluate", "inference", "report"):
    importlib.import_module(f"rgasc.cli.{_module}")


@app.command()
def version() -> None:
    """Print the versions of rgasc and its main dependencies."""
    from rgasc.utils import package_versions

    for name, v in package_versions().items():
        typer.echo(f"{name} {v}")


_show_warning = warnings.showwarning


def _one_line_warning(
    message: Warning | str,
    category: type[Warning],
    filename: str,
    lineno: int,
    file: TextIO | None = None,
    line: str | None = None,
) -> None:
    """rgasc's own warnings as one ``warning: ...`` line; any other warning as Python shows it."""
    if issubclass(category, RgascWarning):
        typer.secho(f"warning: {message}", err=True, fg=typer.colors.YELLOW)
    else:
        _show_warning(message, category, filename, lineno, file, line)


def _command(args: list[str] | None) -> str:
    """The command line being run, as the user would type it again."""
    import shlex

    return shlex.join(["rgasc", *(sys.argv[1:] if args is None else args)])


def main(args: list[str] | None = None) -> None:
    warnings.showwarning = _one_line_warning
    try:
        app(args)
    except Interrupted as e:
        again = f"; continue with `{_command(args)}`" if e.same_command else ""
        typer.secho(f"interrupted: {e}{again}", err=True, fg=typer.colors.YELLOW)
        sys.exit(e.exit_code)
    except RgascError as e:
        typer.secho(f"error: {e}", err=True, fg=typer.colors.RED)
        sys.exit(2)

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

import typer

from rgasc.cli._app import app
from rgasc.errors import RgascError

__all__ = ["app", "main"]

# Importing a module registers its commands; `rgasc --help` lists them in this order,
# the order of the pipeline.
for _module in ("data", "labels", "training", "evaluate", "inference"):
    importlib.import_module(f"rgasc.cli.{_module}")


@app.command()
def version() -> None:
    """Print the versions of rgasc and its main dependencies."""
    from rgasc.utils import package_versions

    for name, v in package_versions().items():
        typer.echo(f"{name} {v}")


def main() -> None:
    try:
        app()
    except RgascError as e:
        typer.secho(f"error: {e}", err=True, fg=typer.colors.RED)
        sys.exit(2)

"""The ``rgasc`` command: parse options, call one library function per command.

Heavy imports (torch, lightning) happen inside each command so ``rgasc --help`` is quick.
Any :class:`rgasc.errors.RgascError` ends in one clear message and exit status 2.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Annotated

import typer

from rgasc.errors import RgascError

app = typer.Typer(
    name="rgasc",
    help="Relation-guided acoustic scene classification: download -> features -> tag -> "
    "relation -> train -> evaluate -> predict.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

PathArg = Annotated[Path, typer.Argument()]

# Each stage adds its command(s) below its own marker. Keep each command a few lines:
# options in, one library call, a short summary out.

@app.command()
def version() -> None:
    """Print the versions of rgasc and its main dependencies."""
    from rgasc.utils import package_versions

    for name, v in package_versions().items():
        typer.echo(f"{name} {v}")


# --- commands: data (download, synth) ---

# --- commands: features ---

# --- commands: tag, relation ---

# --- commands: train, evaluate ---

# --- commands: experiment, demo ---

# --- commands: predict, export, info ---


def main() -> None:
    try:
        app()
    except RgascError as e:
        typer.secho(f"error: {e}", err=True, fg=typer.colors.RED)
        sys.exit(2)


if __name__ == "__main__":
    main()

"""The typer application every command module registers on."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

app = typer.Typer(
    name="rgasc",
    help="Relation-guided acoustic scene classification: download -> features -> tag -> "
    "relation -> train -> evaluate -> predict.",
    no_args_is_help=True,
    add_completion=False,
    pretty_exceptions_enable=False,
)

PathArg = Annotated[Path, typer.Argument()]


@app.callback()
def _root() -> None:
    """Relation-guided acoustic scene classification (Hou et al., IJCNN 2022)."""

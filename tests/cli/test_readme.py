"""Every ``rgasc`` command line of the README names options that the command has."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rgasc.cli import app

README = Path(__file__).resolve().parents[2] / "README.md"


def readme_commands() -> list[list[str]]:
    """Each ``rgasc SUBCOMMAND ...`` line of the README's bash blocks, as tokens."""
    blocks = re.findall(r"```bash\n(.*?)```", README.read_text(), flags=re.DOTALL)
    text = "\n".join(blocks).replace("\\\n", " ")
    out = []
    for line in text.splitlines():
        line = line.split("#", 1)[0].strip()
        if line.startswith("rgasc "):
            out.append(line.split())
    return out


COMMANDS = readme_commands()


def test_the_readme_has_the_dataset_paths() -> None:
    text = README.read_text()
    assert "## Run it on TAU 2020 Mobile" in text and "## Run it on your own recordings" in text
    names = {c[1] for c in COMMANDS}
    assert {"download", "prepare", "features", "tag", "relation", "train", "evaluate"} <= names


@pytest.mark.parametrize("name", sorted({c[1] for c in COMMANDS}))
def test_readme_options_exist(name: str) -> None:
    res = CliRunner().invoke(app, [name, "--help"], env={"COLUMNS": "250"})
    assert res.exit_code == 0, res.output
    used = {t.split("=", 1)[0] for c in COMMANDS if c[1] == name for t in c if t.startswith("--")}
    missing = [opt for opt in sorted(used) if not re.search(rf"{opt}(?![\w-])", res.output)]
    assert not missing, f"`rgasc {name}` has no {missing}"

"""The package's import graph: the layer contracts hold, no cycle, no module over the size limit.

Every ``import`` in a module counts, at the top or inside a function: an import delayed to
keep torch or matplotlib lazy still couples the two modules. Imports under
``if TYPE_CHECKING:`` are for annotations only and never run, so they do not count.
"""

from __future__ import annotations

import ast
import os
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

SRC = Path(__file__).resolve().parents[1] / "src"
MAX_LINES = 500


def _modules() -> dict[str, Path]:
    out = {}
    for path in (SRC / "rgasc").rglob("*.py"):
        parts = path.relative_to(SRC).with_suffix("").parts
        name = ".".join(parts[:-1] if parts[-1] == "__init__" else parts)
        out[name] = path
    return out


def _type_checking_lines(tree: ast.AST) -> set[int]:
    lines: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            for child in node.body:
                lines.update(range(child.lineno, (child.end_lineno or child.lineno) + 1))
    return lines


def import_graph() -> dict[str, set[str]]:
    """Module -> the rgasc modules it imports (``from a.b import c`` names a.b.c if a module)."""
    mods = _modules()
    graph: dict[str, set[str]] = {m: set() for m in mods}
    for name, path in mods.items():
        tree = ast.parse(path.read_text())
        skip = _type_checking_lines(tree)
        for node in ast.walk(tree):
            if getattr(node, "lineno", None) in skip:
                continue
            if isinstance(node, ast.ImportFrom) and node.level == 0 and node.module:
                if not node.module.startswith("rgasc"):
                    continue
                for alias in node.names:
                    sub = f"{node.module}.{alias.name}"
                    graph[name].add(sub if sub in mods else node.module)
            elif isinstance(node, ast.Import):
                graph[name].update(a.name for a in node.names if a.name in mods)
        graph[name].discard(name)
    return graph


def find_cycle(graph: dict[str, set[str]]) -> list[str] | None:
    """One cycle as [a, b, ..., a], or None (iterative DFS with colours)."""
    state: dict[str, int] = {}
    for root in sorted(graph):
        if state.get(root):
            continue
        path: list[str] = []
        stack = [(root, iter(sorted(graph[root])))]
        state[root] = 1
        path.append(root)
        while stack:
            node, children = stack[-1]
            nxt = next(children, None)
            if nxt is None:
                stack.pop()
                path.pop()
                state[node] = 2
            elif state.get(nxt) == 1:
                return path[path.index(nxt) :] + [nxt]
            elif not state.get(nxt) and nxt in graph:
                state[nxt] = 1
                path.append(nxt)
                stack.append((nxt, iter(sorted(graph[nxt]))))
    return None


def test_find_cycle_detects_a_planted_cycle() -> None:
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": {"a"}}) == ["a", "b", "c", "a"]
    assert find_cycle({"a": {"b"}, "b": {"c"}, "c": set()}) is None


def test_package_has_no_import_cycle() -> None:
    graph = import_graph()
    assert len(graph) > 40  # the walk found the package
    cycle = find_cycle(graph)
    assert cycle is None, "import cycle: " + " -> ".join(cycle or [])


def _lint_imports(cwd: Path, config: Path) -> subprocess.CompletedProcess[str]:
    exe = Path(sys.executable).with_name("lint-imports")
    if not exe.is_file():
        pytest.skip("import-linter is not installed (pip install -e '.[dev]')")
    # PYTHONPATH: the package under test is importable by name from where it lies
    env = {**os.environ, "PYTHONPATH": str(cwd), "PYTHONDONTWRITEBYTECODE": "1"}
    return subprocess.run(
        [str(exe), "--config", str(config), "--no-cache"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        check=False,
    )


def test_layers_follow_the_data_flow() -> None:
    """The contracts of pyproject.toml hold (imports inside functions count too)."""
    root = SRC.parent
    out = _lint_imports(SRC, root / "pyproject.toml")
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-2000:]
    assert "0 broken" in out.stdout


def test_every_package_has_a_layer() -> None:
    """A new top-level module must be placed in the layer contract, not left outside it."""
    layers = tomllib.loads((SRC.parent / "pyproject.toml").read_text())["tool"]["importlinter"]
    listed = {
        name.strip() for layer in layers["contracts"][0]["layers"] for name in layer.split("|")
    }
    top = {
        f"rgasc.{p.stem if p.is_file() else p.name}"
        for p in (SRC / "rgasc").iterdir()
        if (p.suffix == ".py" and not p.name.startswith("__")) or (p / "__init__.py").is_file()
    }
    assert top == listed


def test_the_layer_contract_sees_an_import_inside_a_function(tmp_path: Path) -> None:
    """A planted upward import, delayed into a function body, breaks a layers contract."""
    pkg = tmp_path / "toy"
    (pkg / "low").mkdir(parents=True)
    (pkg / "high").mkdir()
    (pkg / "__init__.py").write_text("")
    (pkg / "high" / "__init__.py").write_text("from toy.low import f\n")
    (pkg / "low" / "__init__.py").write_text(
        "def f():\n    from toy.high import f as g  # against the layers\n    return g\n"
    )
    cfg = tmp_path / "contracts.toml"
    cfg.write_text(
        '[tool.importlinter]\nroot_package = "toy"\n\n'
        '[[tool.importlinter.contracts]]\nname = "toy layers"\ntype = "layers"\n'
        'layers = ["toy.high", "toy.low"]\n'
    )
    out = _lint_imports(tmp_path, cfg)
    assert out.returncode != 0
    assert "toy.low is not allowed to import toy.high" in out.stdout


def test_no_module_over_the_size_limit() -> None:
    long = {n: len(p.read_text().splitlines()) for n, p in _modules().items()}
    assert not {n: k for n, k in long.items() if k > MAX_LINES}

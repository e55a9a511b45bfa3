"""``rgasc info`` prints aligned ``key  value`` lines, nested keys flattened (issue 24, item 7)."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from rgasc.cli import app
from rgasc.inference.export import (
    aligned,
    flat_items,
    format_summary,
    model_summary,
    one_based_epochs,
)


def test_flat_items_dot_the_nested_keys_in_order() -> None:
    d = {"a": 1, "optim": {"lr": 1e-3, "sched": {"kind": "cosine"}}, "none": None, "empty": {}}
    assert flat_items(d) == [
        ("a", 1),
        ("optim.lr", 1e-3),
        ("optim.sched.kind", "cosine"),
        ("none", None),
        ("empty", {}),
    ]


def test_aligned_puts_keys_and_values_in_two_columns() -> None:
    lines = aligned("training", {"epoch": 3, "optim": {"weight_decay": 1e-4}, "curve": [0.5] * 20})
    assert lines[0].startswith("training    epoch ")
    assert lines[1].startswith("            optim.weight_decay  0.0001")
    values_at = {line.index(v) for line, v in zip(lines, ("3", "0.0001", "0.5"), strict=True)}
    assert len(values_at) == 1  # one value column
    assert lines[2].endswith("... (20 values)")
    assert aligned("test", {}) == []


def test_stored_epochs_are_shown_from_one() -> None:
    d = {"epoch": 3, "selection_rule": {"rule": "best", "epoch": 3}, "flag": True}
    assert one_based_epochs(d) == {
        "selected_epoch": 4,
        "selection_rule": {"rule": "best", "selected_epoch": 4},
        "flag": True,
    }


def test_summary_shows_no_raw_dict(tiny_run: Path) -> None:
    s = model_summary(tiny_run)
    s["training"] = {
        **s["training"],
        "optim": {"optimizer": "adamw", "lr": 1e-3},
        "selection_rule": {"rule": "best", "epoch": 3, "score": 0.5},
        "pretrained": None,
    }
    text = format_summary(s)
    assert "{" not in text and "}" not in text and "'" not in text
    lines = text.splitlines()
    assert "training    selected_epoch" in text and any(
        line.split() == ["optim.lr", "0.001"] for line in lines
    )
    assert any(line.split() == ["selection_rule.selected_epoch", "4"] for line in lines)


def test_info_cli_prints_aligned_lines(tiny_run: Path) -> None:
    res = CliRunner().invoke(app, ["info", "--model", str(tiny_run)])
    assert res.exit_code == 0, res.output
    lines = res.output.splitlines()
    assert "{" not in res.output
    i = next(i for i, line in enumerate(lines) if line.startswith("training"))
    assert lines[i].split() == ["training", "selected_epoch", "4"]  # best.pt stores epoch 3
    assert lines[i + 1].split() == ["selection_split", "val"]
    assert lines[i].index("4") == lines[i + 1].index("val")

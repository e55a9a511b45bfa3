"""The README.txt written into a built copy of the real-scenes benchmark."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any


def dataset_readme(
    summary: Mapping[str, Any],
    settings: Mapping[str, Any],
    packages: Mapping[str, Any],
    scene_events: Mapping[str, Mapping[str, float]],
) -> str:
    """Plain-text description of one build: counts, events per scene, sources, licences."""
    lines = [
        f"rgasc real-scenes benchmark ({settings['version']}), seed {settings['seed']}",
        "",
        f"{summary['clips']} clips of {settings['clip_seconds']:g} s, "
        f"{settings['sample_rate']} Hz mono 16-bit PCM, DCASE layout (audio/, meta.csv,",
        "evaluation_setup/fold1_*.txt). Built by `python -m rgasc.data.realscenes` from real",
        "recordings in pinned Debian packages (manifest.csv lists every one with its licence);",
        "all sources are band-limited to 5.5 kHz (mixed at 11025 Hz) before mixing.",
        "",
        "Scenes (clips in fold1 train / validate / evaluate). The three folds have disjoint",
        "locations; train shares no event recording with validate or evaluate. Labels with a",
        "single training recording have no validation recording of their own: validation",
        "clips draw them from the evaluate recordings ("
        + (", ".join(summary.get("validate_hears_evaluate", [])) or "none")
        + "), so do not train on train + validate before scoring evaluate.",
    ]
    for scene, folds in summary["scenes"].items():
        counts = " / ".join(f"{folds.get(f, 0):4d}" for f in ("train", "validate", "evaluate"))
        lines.append(f"  {scene:16s} {counts}")
    lines += [
        "",
        "Probability that a clip contains an event, per scene (scaled by",
        "U(0.7, 1.3) per location; a present event occurs twice with probability 0.3):",
    ]
    for scene in sorted(scene_events):
        prof = sorted(scene_events[scene].items(), key=lambda kv: -kv[1])
        lines.append(f"  {scene}: " + "; ".join(f"{k} {p:.2f}" for k, p in prof))
    lines += [
        "",
        "events.csv (tab-separated, header): filename, event_label, onset, offset",
        "(seconds within the clip), one row per placed event; footsteps are one row per",
        "walk. Usable as ground truth: `rgasc tag --dataset DATA --teacher annotations`.",
        "",
        "Packages (all redistributable; per-file licences in manifest.csv):",
    ]
    for name in sorted(packages):
        p = packages[name]
        lines.append(f"  {p.name} {p.version} ({p.size / 1e6:.1f} MB): {p.licence}")
    lines += [
        "",
        "The clips are derivative works of these recordings and carry their licences",
        "(GPL-2+, CC-BY-SA-2.0/3.0, CC-BY-3.0, CC0, Artistic-1.0); attribution: the",
        "copyright files of the packages above, /usr/share/doc/PACKAGE/copyright.",
    ]
    return "\n".join(lines) + "\n"

"""The configurations of each experiment (rows of the paper's tables) and their CLI parsers.

Every paper number here is quoted from Hou et al., "Relation-guided acoustic scene
classification aided with event embeddings" (IJCNN 2022), fold 1 of TUT2018, accuracy in %:
Table I (ablation), Table II (lambda grid), Table III (baselines) and Table V (per class).
Fig. 2 (shared blocks) is a plot without numbers: only its peak (N = 2) is quoted.
"""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping, Sequence
from typing import Any

from rgasc.errors import RgascError
from rgasc.train.config.averaging import Averaging
from rgasc.train.config.recipes import preset
from rgasc.train.config.selection import Rule
from rgasc.train.config.tree import PAPER_LAMBDAS, PUASC_LAMBDAS

EXPERIMENTS = (
    "shared-blocks",
    "ablation",
    "lambdas",
    "baselines",
    "per-class",
    "recipe",
    "variance",
)
KINDS = ("train", "lookup", "pann_fixed", "skipped", "derived")
#: Table II, rows #1-#8: (l1 scene, l2 s_by_event, l3 event, l4 e_by_scene) and Acc %.
PAPER_TABLE_II: tuple[tuple[tuple[float, float, float, float], float], ...] = (
    ((1, 0, 1, 0.01), 75.92),
    ((1, 0, 0.5, 0.01), 76.27),
    ((1, 0.1, 1, 0.1), 75.05),
    ((1, 0.1, 0.1, 0.1), 75.62),
    ((1, 0.1, 0.5, 0.1), 75.79),
    (PAPER_LAMBDAS, 77.35),
    ((1, 0.01, 0.01, 0.01), 76.48),
    ((1, 0.001, 0.01, 0.001), 76.71),
)
_TUT_SCENES = (
    "airport",
    "bus",
    "metro",
    "metro_station",
    "park",
    "public_square",
    "shopping_mall",
    "street_pedestrian",
    "street_traffic",
    "tram",
)
#: Table V: per-class test accuracy % of puASC and RGASC, by TUT2018 scene name.
PAPER_TABLE_V: dict[str, dict[str, float]] = {
    "puASC": dict(
        zip(
            _TUT_SCENES,
            (82.26, 67.35, 78.16, 64.86, 93.38, 52.31, 73.47, 52.63, 85.77, 64.36),
            strict=True,
        )
    ),
    "RGASC": dict(
        zip(
            _TUT_SCENES,
            (86.42, 76.86, 77.01, 82.24, 90.50, 56.94, 74.91, 65.99, 90.24, 72.41),
            strict=True,
        )
    ),
}


#: The row of each experiment every other row is compared with, paired by seed
#: (:mod:`rgasc.experiments.stats`): the scene-loss-only model where there is one, else the
#: paper's chosen configuration (N = 2; Table II #6, or a custom grid's first row).
BASELINES: dict[str, str] = {
    "shared-blocks": "N2",
    "ablation": "scene_only",
    "lambdas": "lambdas_1_0.01_0.5_0.01",
    "baselines": "puasc",
    "per-class": "puasc",
    "recipe": "puasc_paper",
    "variance": "puasc",
}


def baseline_of(name: str, settings: Sequence[Setting]) -> str | None:
    """The baseline config of experiment ``name`` among ``settings`` (the first if absent)."""
    names = [s.name for s in settings if s.kind != "skipped"]
    want = BASELINES.get(name)
    if want in names:
        return want
    return names[0] if names else None


@dataclasses.dataclass(frozen=True)
class Setting:
    """One configuration of an experiment: a row of its table.

    Attributes:
        name: folder name (``OUT/<name>/seed<k>``). label: the row's text.
        kind: "train" (a network, via ``rgasc.train``), "lookup" (event-only lookup),
            "pann_fixed" (linear classifier on the frozen teacher), "skipped" (not run,
            ``note`` says why) or "derived" (not run: another number of ``source``'s runs).
        changes: dotted TrainConfig keys to change from the base
            (:func:`rgasc.config.override`, e.g. ``{"loss.lambdas": ...}``).
        paper: the paper's accuracy in % (None where it has none); paper_ref: where.
        deterministic: same result for any seed, so run once (first seed).
        versus: the row this one is compared with (paired by seed); "" = the experiment's
            baseline (:data:`BASELINES`).
        source: kind "derived": the configuration whose runs hold this row's numbers.
        metric: where in each run's metrics.json the row's val/test results are, dotted
            (``"rules.last"``); "" = the top level (the run's selected weights).
    """

    name: str
    label: str
    kind: str = "train"
    changes: Mapping[str, Any] = dataclasses.field(default_factory=dict)
    paper: float | None = None
    paper_ref: str = ""
    note: str = ""
    deterministic: bool = False
    versus: str = ""
    source: str = ""
    metric: str = ""


def parse_grid(text: str) -> list[tuple[float, float, float, float]]:
    """``"l1,l2,l3,l4;l1,l2,l3,l4"`` -> lambda tuples (RgascError on a malformed entry)."""
    rows = []
    for part in (p.strip() for p in text.split(";")):
        if not part:
            continue
        try:
            vals = tuple(float(v) for v in part.split(","))
        except ValueError:
            vals = ()
        if len(vals) != 4 or any(v < 0 or not math.isfinite(v) for v in vals):
            raise RgascError(f"--grid entry {part!r}: give 4 non-negative numbers l1,l2,l3,l4")
        rows.append((vals[0], vals[1], vals[2], vals[3]))
    if not rows:
        raise RgascError(f"--grid {text!r}: no entries; e.g. '1,0.01,0.5,0.01;1,0,0,0'")
    return rows


def pick_configs(settings: Sequence[Setting], names: Sequence[str] | None) -> list[Setting]:
    """The rows named in ``names`` (all rows for None), in table order; a derived row brings
    the row it reads from.

    Raises:
        RgascError: a name that is not a row of the experiment (the message lists them).
    """
    if not names:
        return list(settings)
    known = [s.name for s in settings]
    unknown = [n for n in names if n not in known]
    if unknown:
        raise RgascError(
            f"--configs {','.join(unknown)}: not rows of this experiment; "
            f"its rows: {', '.join(known)}"
        )
    want = set(names) | {s.source for s in settings if s.name in names and s.source}
    return [s for s in settings if s.name in want]


def parse_seeds(parts: Sequence[str]) -> list[int]:
    """Seeds from words like ``["1 2", "3"]`` or ``["1,2,3"]``, duplicates dropped."""
    seeds: list[int] = []
    for p in parts:
        for tok in p.replace(",", " ").split():
            try:
                seeds.append(int(tok))
            except ValueError:
                raise RgascError(f"seed {tok!r} is not an integer") from None
    if not seeds:
        raise RgascError("give at least one seed, e.g. --seeds 1 2 3")
    return list(dict.fromkeys(seeds))


def _lam(lam: Sequence[float]) -> tuple[float, ...]:
    return tuple(float(x) for x in lam)


PUASC = Setting(
    "puasc",
    "puASC (L_scene only)",
    changes={"loss.lambdas": PUASC_LAMBDAS},
    paper=71.46,
    paper_ref="Table I #1",
)
LOOKUP = Setting(
    "event_lookup",
    "event only via R: argmax y_e . R^T (no training)",
    kind="lookup",
    paper=36.90,
    paper_ref="Table I #2",
    note="deterministic: one run",
    deterministic=True,
)
_ABLATION = (  # name, label, lambdas, Table I row, Acc %
    ("scene_event", "L_scene + L_event", (1, 0, 1, 0), 3, 72.94),
    ("relation_only", "L_s_by_event + L_e_by_scene", (0, 1, 0, 1), 4, 10.07),
    ("scene_event_e_by_scene", "L_scene + L_event + L_e_by_scene", (1, 0, 1, 1), 5, 75.80),
    ("scene_s_by_event_event", "L_scene + L_s_by_event + L_event", (1, 1, 1, 0), 6, 74.36),
)
_FINETUNE = "PANN fine-tuning (CNN14 init, L_scene only)"
#: How a teacher (a label file's ``teacher`` attribute, :mod:`rgasc.teachers`) is named in a
#: table; another name is shown as it is.
TEACHER_TITLES = {
    "panns-cnn14-16k": "PANN",
    "panns-cnn14": "PANN",
    "yamnet": "YAMNet",
    "annotations": "Annotations",
}


def teacher_title(teacher: str | None) -> str:
    """The name of the teacher-probability baseline's teacher in a table: "PANN" for a PANN
    CNN14, "YAMNet", another teacher's own name, "Teacher" when the label file names none."""
    if not teacher:
        return "Teacher"
    return TEACHER_TITLES.get(teacher, teacher)


def fixed_mode_setting(teacher: str | None) -> Setting:
    """Table III's "fixed mode" row: a linear classifier on the frozen teacher's outputs,
    named after the teacher that made the label file (the paper's row is PANN's)."""
    title = teacher_title(teacher)
    pann = title == "PANN"
    return Setting(
        "pann_fixed",  # the folder name of earlier sweeps, whatever the teacher
        f"{title} fixed mode (linear classifier on the frozen teacher)",
        kind="pann_fixed",
        paper=56.9,
        paper_ref="Table III",
        note="deterministic: one run" + ("" if pann else "; the paper's figure is PANN's"),
        deterministic=True,
    )


def experiment_settings(
    name: str,
    grid: Sequence[Sequence[float]] | None = None,
    init_checkpoint: str | None = None,
    teacher: str | None = None,
) -> list[Setting]:
    """The configurations of experiment ``name`` (one of :data:`EXPERIMENTS`).

    Args:
        grid: lambdas experiment: rows to run instead of Table II's (a row equal to one of
            Table II's gets its paper figure).
        init_checkpoint: baselines: CNN14 checkpoint of the fine-tuning row (else skipped).
        teacher: baselines: the teacher of the label file (its ``teacher`` attribute), which
            names the fixed-mode row (:func:`fixed_mode_setting`).
    """
    rgasc = Setting(
        "rgasc",
        f"RGASC (lambdas {PAPER_LAMBDAS})",
        changes={"loss.lambdas": PAPER_LAMBDAS},
        paper=77.35,
        paper_ref="Table II #6",
    )
    if name == "shared-blocks":
        note = "the paper plots N = 0..6 (Fig. 2) without numbers; its peak is N = 2"
        return [
            Setting(
                f"N{n}",
                f"N = {n} shared blocks",
                changes={"model.shared_blocks": n, "loss.lambdas": PAPER_LAMBDAS},
                note=note if n == 2 else "",
            )
            for n in range(7)
        ]
    if name == "ablation":
        rows = [
            Setting(
                n,
                f"{label}, lambdas {_lam(lam)}",
                changes={"loss.lambdas": _lam(lam)},
                paper=acc,
                paper_ref=f"Table I #{i}",
            )
            for n, label, lam, i, acc in _ABLATION
        ]
        scene_only = dataclasses.replace(PUASC, name="scene_only", label="L_scene (puASC)")
        return [scene_only, LOOKUP, *rows]
    if name == "lambdas":
        table = {_lam(lam): (acc, i) for i, (lam, acc) in enumerate(PAPER_TABLE_II, start=1)}
        out = []
        for lam in [_lam(g) for g in grid] if grid else list(table):
            acc, i = table.get(lam, (None, 0))
            out.append(
                Setting(
                    "lambdas_" + "_".join(f"{x:g}" for x in lam),
                    f"lambdas {lam}",
                    changes={"loss.lambdas": lam},
                    paper=acc,
                    paper_ref=f"Table II #{i}" if i else "",
                )
            )
        return out
    if name == "baselines":
        if init_checkpoint:
            finetune = Setting(
                "pann_finetune",
                _FINETUNE,
                changes={
                    "model.init": "panns",
                    "model.init_checkpoint": init_checkpoint,
                    "loss.lambdas": PUASC_LAMBDAS,
                    "model.width": 1.0,
                },
                paper=73.8,
                paper_ref="Table III",
                note="width 1 (CNN14's)",
            )
        else:
            finetune = Setting(
                "pann_finetune",
                _FINETUNE,
                kind="skipped",
                paper=73.8,
                paper_ref="Table III",
                note="skipped: needs --init-checkpoint",
            )
        fixed = fixed_mode_setting(teacher)
        return [
            PUASC,
            LOOKUP,
            fixed,
            finetune,
            dataclasses.replace(rgasc, paper=77.4, paper_ref="Table III"),
        ]
    if name == "per-class":
        return [PUASC, rgasc]
    if name == "recipe":
        return recipe_settings()
    if name == "variance":
        return variance_settings()
    raise RgascError(f"unknown experiment {name!r}; choose one of {', '.join(EXPERIMENTS)}")


#: The pieces a modern recipe may hold, each removed in turn by the recipe experiment: (name,
#: what is removed, the changes that turn it off). Only those the preset
#: (:data:`rgasc.train.config.recipes.MODERN`) switches on get a row (:func:`modern_pieces`).
PIECES: tuple[tuple[str, str, Mapping[str, Any]], ...] = (
    ("mixup", "mixup", {"augment.mixup_alpha": 0.0}),
    ("mixstyle", "Freq-MixStyle", {"augment.mixstyle_p": 0.0}),
    ("freq_mask", "frequency mask", {"augment.freq_masks": 0, "augment.freq_mask_width": 0}),
    ("roll", "time roll", {"augment.time_roll": 0}),
    (
        "adamw",
        "AdamW + weight decay (Adam, no decay)",
        {"optim.optimizer": "adam", "optim.weight_decay": 0.0},
    ),
    (
        "schedule",
        "warm-up + cosine decay (constant lr)",
        {"optim.schedule": "constant", "optim.warmup": 0.0, "optim.lr_floor": 0.0},
    ),
)


def modern_pieces() -> tuple[tuple[str, str, Mapping[str, Any]], ...]:
    """The :data:`PIECES` that ``--recipe modern`` switches on (removing one changes it)."""
    modern = preset("modern")
    return tuple(p for p in PIECES if any(modern[k] != v for k, v in p[2].items()))


# every study run also scores the selected weights on the training split (the train/val gap)
# and every selection rule's weights: rules do not change training
_STUDY = {"select.score_all": True}


def _recipe(name: str) -> dict[str, Any]:
    # the preset's values written out: a row's recipe does not depend on the base's --recipe
    return {**preset(name), "recipe": name, **_STUDY}


def recipe_settings() -> list[Setting]:
    """puASC and RGASC under the paper's and the modern recipe, then RGASC-modern with each
    piece of the recipe removed (each compared with the full modern recipe)."""
    lam = {"puasc": PUASC_LAMBDAS, "rgasc": PAPER_LAMBDAS}
    rows = [
        Setting(
            "puasc_paper",
            "puASC, paper recipe",
            changes={**_recipe("paper"), "loss.lambdas": lam["puasc"]},
        ),
        Setting(
            "rgasc_paper",
            "RGASC, paper recipe",
            versus="puasc_paper",
            changes={**_recipe("paper"), "loss.lambdas": lam["rgasc"]},
        ),
        Setting(
            "puasc_modern",
            "puASC, modern recipe",
            versus="puasc_paper",
            changes={**_recipe("modern"), "loss.lambdas": lam["puasc"]},
        ),
        Setting(
            "rgasc_modern",
            "RGASC, modern recipe",
            versus="puasc_modern",
            changes={**_recipe("modern"), "loss.lambdas": lam["rgasc"]},
        ),
        # the same runs again, compared with RGASC under the paper's recipe
        Setting(
            "rgasc_modern_vs_paper",
            "RGASC, modern recipe (vs RGASC, paper recipe)",
            kind="derived",
            source="rgasc_modern",
            versus="rgasc_paper",
        ),
    ]
    for piece, label, off in modern_pieces():
        rows.append(
            Setting(
                f"rgasc_modern_no_{piece}",
                f"RGASC, modern recipe without {label}",
                versus="rgasc_modern",
                changes={**_recipe("modern"), "loss.lambdas": lam["rgasc"], **off},
            )
        )
    return rows


#: The variance experiment's rules, in table order: (rule, row-name suffix, label).
VARIANCE_RULES = (
    (Rule.SMOOTHED.value, "smoothed", "smoothed curve (centred window)"),
    (Rule.LAST.value, "last", "last epoch"),
    (Rule.AVERAGED.value, "ema", "EMA weights at the end"),
)


def variance_settings() -> list[Setting]:
    """puASC and RGASC trained once per seed with EMA on; their rows under each selection
    rule are read from the same runs (``select.score_all``), RGASC compared with puASC."""
    study = {**_STUDY, "average.method": Averaging.EMA.value}
    rows = [
        Setting(
            "puasc",
            "puASC, best epoch (the paper's rule)",
            changes={**study, "loss.lambdas": PUASC_LAMBDAS},
        ),
        Setting(
            "rgasc",
            "RGASC, best epoch (the paper's rule)",
            versus="puasc",
            changes={**study, "loss.lambdas": PAPER_LAMBDAS},
        ),
    ]
    for rule, suffix, label in VARIANCE_RULES:
        for model, text in (("puasc", "puASC"), ("rgasc", "RGASC")):
            versus = "" if model == "puasc" else f"puasc_{suffix}"  # the same rule's puASC
            rows.append(
                Setting(
                    f"{model}_{suffix}",
                    f"{text}, {label}",
                    kind="derived",
                    source=model,
                    metric=f"rules.{rule}",
                    versus=versus,
                )
            )
    return rows

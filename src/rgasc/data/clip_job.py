"""One resumable pass over the clips of a dataset, with bad clips kept apart.

``rgasc features`` and ``rgasc tag`` both compute something for every clip of a dataset
that may hold thousands of clips, a few of them undecodable, and a run may be stopped at any
point (Ctrl-C, a killed job, one bad file). Both follow the same protocol, implemented once
here by :class:`ClipJob`:

- clips already done (recorded by an earlier, interrupted run) are not computed again;
- the stage computes the others in batches of its choosing (worker processes, equal-length
  batches on a GPU) and reports, per clip, a result or a :class:`Bad` record;
- a bad clip stops the run with an error naming the file, unless ``skip_bad``: then every
  bad clip is recorded and the run goes on, so one pass lists them all;
- what is done is flushed to disk every few batches and whenever the run stops, through
  the stage's own atomic writer, so a rerun of the same command resumes there;
- Ctrl-C becomes :class:`~rgasc.errors.Interrupted`, whose message says what is kept.

What is computed and how it is stored stay with each stage: the job only sees clips (any
hashable value: a :class:`~rgasc.data.datasets.Clip`, a row number) and opaque results.
The list of bad clips beside an artefact (``filename,error`` CSV) is written and read by
:func:`write_bad_clips` and :func:`read_bad_clips`.
"""

from __future__ import annotations

import contextlib
import csv
import dataclasses
import os
from collections.abc import Callable, Container, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from typing import Any, Generic, TypeVar

from rgasc.errors import Interrupted, RgascError
from rgasc.utils import atomic_path

C = TypeVar("C")  # a clip, as the stage names it
R = TypeVar("R")  # what the stage computes for one clip

#: The hint appended to a bad clip's error when the run stops on it.
SKIP_BAD_HINT = "rerun with --skip-bad to leave it out and go on"


@dataclasses.dataclass(frozen=True)
class Bad:
    """A clip the stage could not compute.

    Attributes:
        error: why; its message names the file (raised, with a hint, unless ``skip_bad``).
        detail: what the stage still learnt of the clip (e.g. its file identity), handed
            back to the stage's ``store`` with the record.
    """

    error: RgascError
    detail: Any = None

    @property
    def message(self) -> str:
        return str(self.error)


#: One clip's outcome: its result, or why it has none.
Outcome = tuple[C, R | Bad]


@dataclasses.dataclass
class ClipJobResult(Generic[C]):
    """What one :meth:`ClipJob.run` did (clips done by earlier runs are in neither list).

    Attributes:
        done: the clips computed by this run, in the order their results arrived.
        bad: the clips found bad by this run, with their records (empty unless skip_bad).
    """

    done: list[C] = dataclasses.field(default_factory=list)
    bad: list[tuple[C, Bad]] = dataclasses.field(default_factory=list)


def _stopped(kept: int, total: int) -> str:
    return f"stopped with {kept} of {total} clips done"


@dataclasses.dataclass
class ClipJob(Generic[C, R]):
    """A stage's per-clip work, made resumable: see the module's docstring for the protocol.

    Attributes:
        compute: given the clips still to do, in order, yields batches of (clip, result or
            :class:`Bad`); how clips are batched, decoded or parallelised is the stage's
            choice, and batches may come out of order. A generator is closed when the run
            stops early, so it may hold worker pools in ``with`` blocks.
        store: called for every result and, with ``skip_bad``, every bad record; it only
            updates the stage's state in memory (or in a memmap), ``flush`` persists it.
        flush: writes the state so far atomically (a crash mid-flush must leave the last
            flush readable: see :func:`rgasc.utils.atomic_path`); called every
            ``flush_every`` batches and when the run stops with something unflushed.
        skip_bad: record bad clips and go on, instead of raising the first one's error.
        hint: appended to that error's message in parentheses.
        stopped: the :class:`~rgasc.errors.Interrupted` message, given (clips kept, clips).
        flush_every: batches between flushes.
        desc: the progress bar's label; progress: show it (tqdm).
    """

    compute: Callable[[list[C]], Iterable[Sequence[Outcome[C, R]]]]
    store: Callable[[C, R | Bad], None]
    flush: Callable[[], None]
    skip_bad: bool = False
    hint: str = SKIP_BAD_HINT
    stopped: Callable[[int, int], str] = _stopped
    flush_every: int = 1
    desc: str = "clips"
    progress: bool = True

    def run(self, clips: Sequence[C], done: Container[C] = frozenset()) -> ClipJobResult[C]:
        """Compute every clip of ``clips`` not in ``done``; store and flush as they come.

        Args:
            clips: every clip of the run (the progress bar's total), in order.
            done: the clips an earlier run already recorded (results or bad records).

        Returns:
            the clips this call computed and the bad clips it found.

        Raises:
            the first bad clip's error (its class, message plus ``hint``) unless
            ``skip_bad``; Interrupted on Ctrl-C; any error of ``compute`` or ``store``.
            In every case what was done before is flushed first, so a rerun resumes.
        """
        from tqdm.auto import tqdm

        todo = [c for c in clips if c not in done]
        result: ClipJobResult[C] = ClipJobResult()
        bar = tqdm(
            total=len(clips),
            initial=len(clips) - len(todo),
            unit="clip",
            desc=self.desc,
            disable=not self.progress,
        )
        batches: Iterator[Sequence[Outcome[C, R]]] = iter(())
        unflushed = 0
        try:
            if todo:
                batches = iter(self.compute(todo))
            for batch in batches:
                first_bad = self._take(batch, result)
                unflushed += 1
                if first_bad is not None:
                    err = first_bad.error
                    raise type(err)(f"{err} ({self.hint})") from err
                bar.update(len(batch))
                if unflushed >= self.flush_every:
                    self.flush()
                    unflushed = 0
        except KeyboardInterrupt as e:
            self._stop(batches, unflushed)
            kept = len(clips) - len(todo) + len(result.done) + len(result.bad)
            raise Interrupted(self.stopped(kept, len(clips)), same_command=True) from e
        except BaseException:
            self._stop(batches, unflushed)
            raise
        finally:
            bar.close()
        return result

    def _take(self, batch: Sequence[Outcome[C, R]], result: ClipJobResult[C]) -> Bad | None:
        """Store a batch's outcomes; the first bad one when bad clips stop the run.

        Every result of the batch is stored even then: it is computed already, and a rerun
        need not compute it again.
        """
        first_bad: Bad | None = None
        for clip, value in batch:
            if isinstance(value, Bad):
                if not self.skip_bad:
                    first_bad = first_bad or value
                    continue
                result.bad.append((clip, value))
            else:
                result.done.append(clip)
            self.store(clip, value)
        return first_bad

    def _stop(self, batches: Iterator[Any], unflushed: int) -> None:
        """Stop the stage's workers, then keep what is done; the error that stopped the run
        is the one the user must see, so a failing flush (disk full) does not replace it:
        the last good flush stays on disk."""
        close = getattr(batches, "close", None)
        if close is not None:
            with contextlib.suppress(Exception):
                close()
        if unflushed:
            with contextlib.suppress(Exception):
                self.flush()


# --- the list of bad clips beside an artefact ---------------------------------------------
def write_bad_clips(path: str | os.PathLike[str], bad: Mapping[str, str]) -> None:
    """Write ``filename,error`` rows (in ``bad``'s order) atomically; with no bad clip,
    remove ``path`` instead, so no list of an earlier run is left beside the new artefact."""
    if not bad:
        Path(path).unlink(missing_ok=True)
        return
    with atomic_path(path) as tmp, open(tmp, "w", newline="") as f:
        w = csv.writer(f)
        w.writerow(["filename", "error"])
        w.writerows(bad.items())


def read_bad_clips(path: str | os.PathLike[str]) -> dict[str, str]:
    """filename -> error of a list written by :func:`write_bad_clips` ({} when absent)."""
    path = Path(path)
    if not path.is_file():
        return {}
    with open(path, newline="") as f:
        return {r["filename"]: r["error"] for r in csv.DictReader(f)}

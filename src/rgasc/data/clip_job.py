"""One resumable pass over the clips of a dataset, with bad clips kept apart.

``rgasc features`` and ``rgasc tag`` both compute something for every clip of a dataset
that may hold thousands of clips, a few of them undecodable, and a run may be stopped at any
point (Ctrl-C, a killed job, one bad file). Both follow the same protocol, implemented once
here by :class:`ClipJob`:

- clips already done (recorded by an earlier, interrupted run) are not computed again;
- the stage computes the others in batches of its choosing (worker processes, equal-length
  batches on a GPU) and reports, per clip, a result or a :class:`Bad` record;
- bad clips never stop the pass: every clip is computed, so one pass finds them all. With
  ``skip_bad`` they are recorded and the run succeeds without them; otherwise they are not
  recorded (a rerun tries them again) and the run then fails with one message that counts
  them, names the first few and ends with the stage's hint (its command with --skip-bad);
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

#: The end of the bad-clips error when the stage names no command of its own.
SKIP_BAD_HINT = "rerun with --skip-bad to leave them out and go on"
#: Bad clips a message names (the rest are counted, and listed in the stage's file).
SHOWN_BAD = 3


def skip_bad_hint(command: str | None) -> str:
    """The end of the bad-clips error: ``command`` (the user's, with --skip-bad) to run."""
    if command is None:
        return SKIP_BAD_HINT
    return f"rerun with `{command}` to leave them out and go on"


def bad_clips_message(
    bad: Sequence[Bad], total: int, listed: Path | None = None, hint: str = SKIP_BAD_HINT
) -> str:
    """One line: how many of ``total`` clips are bad, the first few (their errors name the
    files), where the full list is, that the others are kept, and ``hint``."""
    # " | " between clips: an error's own message may hold "; "
    shown = " | ".join(b.message for b in bad[:SHOWN_BAD])
    more = f" | and {len(bad) - SHOWN_BAD} more" if len(bad) > SHOWN_BAD else ""
    where = f" (all listed in {listed})" if listed is not None else ""
    kept = f"the other {total - len(bad)} are done and kept, so " if len(bad) < total else ""
    return f"{len(bad)} of {total} clips are bad: {shown}{more}{where}; {kept}{hint}"


def common_class(errors: Sequence[RgascError]) -> type[RgascError]:
    """The most specific RgascError class every one of ``errors`` is an instance of (callers
    may catch e.g. AudioTooShortError when every bad clip is too short)."""
    for cls in type(errors[0]).__mro__:
        if issubclass(cls, RgascError) and all(isinstance(e, cls) for e in errors):
            return cls
    return RgascError


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
        bad: the clips found bad by this run, with their records.
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
        skip_bad: record bad clips and succeed without them, instead of failing at the end
            of the pass with one error that lists them (see :func:`bad_clips_message`).
        hint: how that error ends (:func:`skip_bad_hint` of the stage's command).
        bad_list: writes the full list of bad clips where the stage keeps it and returns
            that path, for the error to name (None: the error names the first few only).
        stopped: the :class:`~rgasc.errors.Interrupted` message, given (clips kept, clips).
        flush_every: batches between flushes.
        desc: the progress bar's label; progress: show it (tqdm).
    """

    compute: Callable[[list[C]], Iterable[Sequence[Outcome[C, R]]]]
    store: Callable[[C, R | Bad], None]
    flush: Callable[[], None]
    skip_bad: bool = False
    hint: str = SKIP_BAD_HINT
    bad_list: Callable[[Sequence[tuple[C, Bad]]], Path | None] | None = None
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
            without ``skip_bad``, when a clip was bad: once every clip was tried, one error
            of the bad clips' common class listing them (the good results stored and
            flushed); Interrupted on Ctrl-C; any error of ``compute`` or ``store``. In every
            case what was done before is flushed first, so a rerun resumes.
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
                self._take(batch, result)
                unflushed += 1
                bar.update(len(batch))
                if unflushed >= self.flush_every:
                    self.flush()
                    unflushed = 0
        except KeyboardInterrupt as e:
            self._stop(batches, unflushed)
            kept = len(clips) - len(todo) + len(result.done) + len(result.bad) * self.skip_bad
            raise Interrupted(self.stopped(kept, len(clips)), same_command=True) from e
        except BaseException:
            self._stop(batches, unflushed)
            raise
        finally:
            bar.close()
        if result.bad and not self.skip_bad:
            self._stop(batches, unflushed)
            raise self._failure(result.bad, len(clips))
        return result

    def _take(self, batch: Sequence[Outcome[C, R]], result: ClipJobResult[C]) -> None:
        """Store a batch's outcomes; bad ones only with ``skip_bad`` (otherwise they are
        collected for the error, and a rerun tries them again)."""
        for clip, value in batch:
            if isinstance(value, Bad):
                result.bad.append((clip, value))
                if not self.skip_bad:
                    continue
            else:
                result.done.append(clip)
            self.store(clip, value)

    def _failure(self, bad: Sequence[tuple[C, Bad]], total: int) -> RgascError:
        """The one error of a pass that found ``bad`` clips (listed by the stage, if it can)."""
        listed = None
        if self.bad_list is not None:
            with contextlib.suppress(OSError):  # the list is a courtesy: its error must not win
                listed = self.bad_list(bad)
        records = [b for _, b in bad]
        cls = common_class([b.error for b in records])
        return cls(bad_clips_message(records, total, listed, self.hint))

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

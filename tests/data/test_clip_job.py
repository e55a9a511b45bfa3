"""The resumable per-clip job shared by ``rgasc features`` and ``rgasc tag``: resume, bad
clips (all of them in one pass, or the first one's error naming its file), flushes that a
crash cannot tear, and the bad-clip list beside an artefact. Tiny in-memory clips only."""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from pathlib import Path

import pytest

from rgasc.data.clip_job import Bad, ClipJob, read_bad_clips, write_bad_clips
from rgasc.errors import AudioCorruptError, AudioTooShortError, Interrupted
from rgasc.utils import atomic_path, read_json, write_json

CLIPS = [f"audio/c{i}.wav" for i in range(10)]


class Stage:
    """A toy stage: a clip's result is its name's length; state flushed to one JSON file."""

    def __init__(self, path: Path, bad: Sequence[str] = (), stop_at: int | None = None) -> None:
        self.path = path
        self.bad_names = set(bad)
        self.stop_at = stop_at  # Ctrl-C when this batch (0-based) would be computed
        self.results: dict[str, int] = {}
        self.bad: dict[str, str] = {}
        self.asked: list[str] = []  # every clip compute was given
        self.flushes = 0
        if path.is_file():  # what an earlier run flushed: resume from it
            saved = read_json(path)
            self.results, self.bad = saved["results"], saved["bad"]

    def compute(self, todo: list[str]) -> Iterator[list[tuple[str, int | Bad]]]:
        self.asked += todo
        for b, i in enumerate(range(0, len(todo), 3)):
            if b == self.stop_at:
                raise KeyboardInterrupt
            yield [
                (c, Bad(AudioCorruptError(f"{c}: cannot decode"), detail=b))
                if c in self.bad_names
                else (c, len(c))
                for c in todo[i : i + 3]
            ]

    def store(self, clip: str, value: int | Bad) -> None:
        if isinstance(value, Bad):
            self.bad[clip] = value.message
        else:
            self.results[clip] = value

    def flush(self) -> None:
        self.flushes += 1
        write_json(self.path, {"results": self.results, "bad": self.bad})

    def job(self, **kw: object) -> ClipJob[str, int]:
        return ClipJob(self.compute, self.store, self.flush, progress=False, **kw)  # type: ignore[arg-type]

    def done(self) -> set[str]:
        return set(self.results) | set(self.bad)


def test_a_rerun_resumes_and_computes_only_what_is_not_done(tmp_path: Path) -> None:
    state = tmp_path / "state.json"
    first = Stage(state, stop_at=2)
    with pytest.raises(Interrupted, match="stopped with 6 of 10 clips done") as info:
        first.job().run(CLIPS)
    assert info.value.same_command
    assert sorted(read_json(state)["results"]) == CLIPS[:6]  # both batches kept

    second = Stage(state)
    result = second.job().run(CLIPS, done=second.done())
    assert second.asked == CLIPS[6:] and result.done == CLIPS[6:] and result.bad == []
    assert second.results == {c: len(c) for c in CLIPS}
    # nothing left: compute is not even called
    third = Stage(state)
    assert third.job().run(CLIPS, done=third.done()).done == [] and third.asked == []


def test_skip_bad_lists_every_bad_clip_in_one_pass(tmp_path: Path) -> None:
    bad = [CLIPS[1], CLIPS[4], CLIPS[8]]
    stage = Stage(tmp_path / "state.json", bad=bad)
    result = stage.job(skip_bad=True).run(CLIPS)
    assert [c for c, _ in result.bad] == bad
    assert [r.detail for _, r in result.bad] == [0, 1, 2]  # the stage's detail travels along
    assert len(result.done) == 7 and CLIPS[1] not in result.done
    assert set(stage.bad) == set(bad) and "c4.wav: cannot decode" in stage.bad[CLIPS[4]]
    assert read_json(stage.path)["bad"] == stage.bad
    # a rerun counts the bad clips as done: they are not decoded again
    again = Stage(stage.path, bad=bad)
    again.job(skip_bad=True).run(CLIPS, done=again.done())
    assert again.asked == []


def test_without_skip_bad_every_clip_is_tried_and_one_error_lists_the_bad_ones(
    tmp_path: Path,
) -> None:
    """Three bad files: one pass, one message (not three reruns), the good work kept."""
    bad = [CLIPS[1], CLIPS[4], CLIPS[8]]
    stage = Stage(tmp_path / "state.json", bad=bad)
    listed: list[list[str]] = []

    def bad_list(found: Sequence[tuple[str, Bad]]) -> Path:
        listed.append([c for c, _ in found])
        return tmp_path / "bad.csv"

    job = stage.job(hint="rerun with `rgasc x --skip-bad` to go on", bad_list=bad_list)
    with pytest.raises(AudioCorruptError) as info:
        job.run(CLIPS)
    msg = str(info.value)
    assert msg.startswith("3 of 10 clips are bad: audio/c1.wav: cannot decode | ")
    assert "c4.wav" in msg and "c8.wav" in msg and "\n" not in msg
    assert "(all listed in " + str(tmp_path / "bad.csv") + ")" in msg
    assert msg.endswith("rerun with `rgasc x --skip-bad` to go on")
    assert listed == [bad]
    # every good clip was computed, stored and flushed; a bad clip is recorded only with
    # skip_bad (so a rerun tries it again)
    assert sorted(read_json(stage.path)["results"]) == sorted(set(CLIPS) - set(bad))
    assert read_json(stage.path)["bad"] == {}
    again = Stage(stage.path, bad=bad)
    result = again.job(skip_bad=True).run(CLIPS, done=again.done())
    assert again.asked == bad and [c for c, _ in result.bad] == bad


def test_the_bad_clips_error_counts_beyond_the_first_few_and_keeps_a_common_class(
    tmp_path: Path,
) -> None:
    from rgasc.errors import AudioError, AudioTruncatedError

    def mixed(todo: list[str]) -> Iterator[list[tuple[str, int | Bad]]]:
        kinds = [AudioTooShortError, AudioTruncatedError]
        yield [(c, Bad(kinds[i % 2](f"{c}: bad"))) for i, c in enumerate(todo[:5])]

    stage = Stage(tmp_path / "s.json")
    job: ClipJob[str, int] = ClipJob(mixed, stage.store, stage.flush, progress=False)
    with pytest.raises(AudioError) as info:
        job.run(CLIPS)
    assert type(info.value) is AudioError  # the common class of too short and truncated
    msg = str(info.value)
    assert msg.count(": bad") == 3 and "| and 2 more" in msg and "listed in" not in msg
    assert msg.endswith("rerun with --skip-bad to leave them out and go on")

    def short(todo: list[str]) -> Iterator[list[tuple[str, int | Bad]]]:
        yield [(todo[0], Bad(AudioTooShortError(f"{todo[0]}: too short")))]

    job = ClipJob(short, stage.store, stage.flush, progress=False)
    with pytest.raises(AudioTooShortError, match=r"1 of 10 clips are bad: audio/c0.wav: too"):
        job.run(CLIPS)


def test_flushes_every_n_batches_and_a_torn_flush_keeps_the_last_one(tmp_path: Path) -> None:
    stage = Stage(tmp_path / "state.json")
    stage.job(flush_every=2).run(CLIPS)  # 4 batches of 3, 3, 3, 1
    assert stage.flushes == 2

    # a kill in the middle of a flush: the temporary file is torn, the state is not
    state = tmp_path / "torn.json"
    torn = Stage(state, stop_at=3)  # flushed after batch 2, Ctrl-C with batch 3 unflushed
    real = torn.flush
    tried: list[bool] = []

    def crashing_flush() -> None:
        if torn.flushes == 1:
            tried.append(True)
            with atomic_path(state) as tmp:
                tmp.write_text('{"results": {"audio/c0.w')
                raise OSError("No space left on device")
        real()

    torn.flush = crashing_flush  # type: ignore[method-assign]
    job = ClipJob(torn.compute, torn.store, torn.flush, flush_every=2, progress=False)
    with pytest.raises(Interrupted, match="9 of 10"):  # the cause, not the flush's error
        job.run(CLIPS)
    assert tried == [True]
    assert sorted(json.loads(state.read_text())["results"]) == CLIPS[:6]
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []


def test_an_early_stop_closes_the_stages_workers(tmp_path: Path) -> None:
    closed: list[bool] = []
    stage = Stage(tmp_path / "state.json", bad=[CLIPS[0]])

    def compute(todo: list[str]) -> Iterator[list[tuple[str, int | Bad]]]:
        try:
            yield from stage.compute(todo)
        finally:  # where a stage shuts its worker pool down
            closed.append(True)

    job: ClipJob[str, int] = ClipJob(compute, stage.store, stage.flush, progress=False)
    with pytest.raises(AudioCorruptError):
        job.run(CLIPS)
    assert closed == [True]


def test_bad_clip_list_round_trip_and_removal(tmp_path: Path) -> None:
    path = tmp_path / "labels.h5.bad_clips.csv"
    bad = {"audio/b.wav": 'b.wav: cannot decode ("junk", 27 bytes)', "audio/a.wav": "short"}
    write_bad_clips(path, bad)
    assert path.read_bytes().startswith(b"filename,error\r\naudio/b.wav,")  # order kept
    assert read_bad_clips(path) == bad
    write_bad_clips(path, {})  # no bad clip: no stale list left beside the artefact
    assert not path.exists() and read_bad_clips(path) == {}

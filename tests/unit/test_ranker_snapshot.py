"""The ranker's snapshots while the stream runs: written by a forked child (``streams.forked``) that
sees the engine as it was at the fork, or copied and written on a thread; paced by what they cost;
and the journal of the records applied since (``streams.journal``), replayed after a kill."""

from __future__ import annotations

import asyncio
import os
import sys
import time
from pathlib import Path
from typing import Any

import orjson
import pytest

from groundswell.metrics import Metrics
from groundswell.settings import Settings
from streams import forked
from streams.journal import Journal
from streams.ranking import SNAPSHOT_COST_FACTOR, RankStage

T = 1_783_000_000.0


def _signal(*edges: tuple[str, str, str]) -> dict[str, Any]:
    return {"edges": [[ev, src, dst, "repost", T, 2.0, T - 0.5] for ev, src, dst in edges], "followers": []}


def _stage(tmp_path: Path) -> RankStage:
    settings = Settings(data_dir=tmp_path, intent_enabled=False)
    stage = RankStage(settings, Metrics.create(), clock=lambda: T + 1)
    stage.load()
    return stage


@pytest.mark.parametrize("fork", [True, False])
async def test_a_snapshot_taken_while_running_restores_the_engine(tmp_path: Path, fork: bool) -> None:
    stage = _stage(tmp_path)
    stage.apply(_signal(("e1", "x:a", "x:star"), ("e2", "x:b", "x:star")), offset=5)
    assert await stage.take_snapshot(fork=fork)
    assert not await stage.take_snapshot(fork=fork)  # nothing changed since: nothing written
    again = _stage(tmp_path)
    assert again.last_offset == 5
    assert again.engine.score("x:star").value == stage.engine.score("x:star").value
    assert again.engine.snapshot_state(copy=False)["applied"] == stage.engine.snapshot_state()["applied"]


async def test_the_child_writes_the_engine_as_it_was_at_the_fork(tmp_path: Path) -> None:
    stage = _stage(tmp_path)
    stage.apply(_signal(("e1", "x:a", "x:star")), offset=1)
    at_fork = stage.engine.score("x:star").value
    snapshot = asyncio.create_task(stage.take_snapshot(fork=True))
    await asyncio.sleep(0)  # the task forks on its first step, then waits for the child
    stage.apply(_signal(("e2", "x:b", "x:star"), ("e3", "x:c", "x:star")), offset=2)  # the loop goes on
    assert await snapshot
    restored = _stage(tmp_path)
    assert restored.last_offset == 1 and restored.engine.score("x:star").value == at_fork
    assert stage.snapshot_due(float("inf"))  # applied since the fork: the next snapshot is due


async def test_a_failed_snapshot_is_due_again_and_the_process_goes_on(tmp_path: Path) -> None:
    stage = _stage(tmp_path)
    stage.apply(_signal(("e1", "x:a", "x:star")), offset=1)
    stage.path.mkdir()  # the file cannot be written: the child fails
    assert not await stage.take_snapshot(fork=True)
    assert stage.snapshot_due(time.monotonic())
    assert not await stage.take_snapshot(fork=False)
    assert stage.snapshot_due(time.monotonic())


async def test_the_next_snapshot_waits_in_proportion_to_what_the_last_one_took(tmp_path: Path) -> None:
    stage = _stage(tmp_path)
    assert not stage.snapshot_due(time.monotonic())  # nothing applied yet
    stage.apply(_signal(("e1", "x:a", "x:star")), offset=1)
    started = time.monotonic()
    assert stage.snapshot_due(started)
    assert await stage.take_snapshot(fork=True)
    hist = stage._m.snapshot_seconds
    took = hist.labels("total")._sum.get()  # what this snapshot took, by its own measure
    assert took >= hist.labels("loop")._sum.get() > 0.0
    stage.apply(_signal(("e2", "x:b", "x:star")), offset=2)
    assert not stage.snapshot_due(started + 0.5 * SNAPSHOT_COST_FACTOR * took)
    assert stage.snapshot_due(time.monotonic() + SNAPSHOT_COST_FACTOR * took)


async def test_waiting_for_a_child_cancelled_ends_and_reaps_it() -> None:
    child = forked.start(lambda: time.sleep(30))
    waiting = asyncio.create_task(forked.wait(child))
    await asyncio.sleep(0.05)
    waiting.cancel()
    with pytest.raises(asyncio.CancelledError):
        await waiting
    with pytest.raises(ChildProcessError):  # gone and reaped: nothing left to wait for
        os.waitpid(child.pid, os.WNOHANG)  # noqa: ASYNC222 - WNOHANG: it does not block


async def test_a_child_that_raises_exits_1_with_its_traceback(capfd: pytest.CaptureFixture[str]) -> None:
    def boom() -> None:
        raise RuntimeError("disk full")

    assert await forked.wait(forked.start(boom)) == 1
    assert "RuntimeError: disk full" in capfd.readouterr().err
    assert await forked.wait(forked.start(lambda: None)) == 0


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a per-thread nice value is Linux's")
async def test_a_child_runs_nicer_than_its_parent_when_asked(tmp_path: Path) -> None:
    seen = tmp_path / "nice"

    def report() -> None:
        seen.write_text(str(os.getpriority(os.PRIO_PROCESS, 0)))

    parent = os.getpriority(os.PRIO_PROCESS, 0)
    assert await forked.wait(forked.start(report, niceness=6)) == 0
    assert int(seen.read_text()) == min(19, parent + 6)
    assert os.getpriority(os.PRIO_PROCESS, 0) == parent
    assert await forked.wait(forked.start(report)) == 0
    assert int(seen.read_text()) == parent


def test_a_killed_ranker_resumes_from_its_snapshot_and_journal(tmp_path: Path) -> None:
    stage = _stage(tmp_path)
    stage.apply_record(orjson.dumps(_signal(("e1", "x:a", "x:star"))), offset=1)
    assert asyncio.run(stage.take_snapshot(fork=True))
    assert stage.journal.segments() == []  # the snapshot holds all of it
    stage.apply_record(orjson.dumps(_signal(("e2", "x:b", "x:star"))), offset=2)
    stage.apply_record(orjson.dumps(_signal(("e3", "x:c", "x:b"))), offset=3)
    stage.apply_record(orjson.dumps(_signal(("e2", "x:b", "x:star"))), offset=2)  # redelivered: nothing
    # killed here: no save; Faust may have committed offset 3 already
    again = _stage(tmp_path)
    assert again.last_offset == 1
    assert again.replay_journal() == 3  # the redelivered record too: it repeats only seen keys
    assert again.last_offset == 2
    for account in ("x:star", "x:b", "x:c"):
        assert again.engine.score(account).value == stage.engine.score(account).value
    again.flush()
    again.replay_journal()  # twice: nothing moves
    assert not again.pending
    assert again.save() and again.journal.segments() == []


def test_a_record_that_is_not_a_signal_record_is_refused_unjournalled(tmp_path: Path) -> None:
    stage = _stage(tmp_path)
    with pytest.raises(orjson.JSONDecodeError):
        stage.apply_record(b"{torn", offset=1)
    with pytest.raises(ValueError, match="a JSON object, not list"):
        stage.apply_record(b"[1, 2]", offset=1)
    assert stage.journal.segments() == [] and stage.last_offset == -1


def test_journal_segments_replay_in_order_and_ignore_a_torn_last_entry(tmp_path: Path) -> None:
    journal = Journal(tmp_path, "j")
    journal.append(1, b"one")
    journal.append(2, b"")
    covered = journal.rotate()
    journal.append(3, b"three")
    assert list(journal.replay()) == [(1, b"one"), (2, b""), (3, b"three")]
    journal.close()
    with open(journal.segments()[-1], "ab") as f:
        f.write(b"\x00\x00\x00\x00\x00\x00\x00\x04\x00\x00\x00\x09par")  # killed mid-write
    reopened = Journal(tmp_path, "j")
    reopened.append(4, b"four")  # a new segment after the others
    assert [o for o, _ in reopened.replay()] == [1, 2, 3, 4]
    reopened.drop(covered)
    assert [o for o, _ in reopened.replay()] == [3, 4]


def test_the_deferred_core_number_work_is_a_gauge(tmp_path: Path) -> None:
    stage = _stage(tmp_path)  # the settings' default: core numbers wait for idle time
    stage.apply(_signal(("e1", "x:a", "x:star"), ("e2", "x:b", "x:star"), ("e3", "x:c", "x:b")), offset=1)
    assert stage.engine.kcore_backlog == 3
    stage.maintain(0.0)  # at least one insert per call
    gauge = stage._m.kcore_backlog._value.get()
    assert gauge == stage.engine.kcore_backlog < 3
    while stage.engine.kcore_backlog:
        stage.maintain(1.0)
    assert stage._m.kcore_backlog._value.get() == 0


async def test_a_stop_ends_a_snapshot_child_still_writing_an_older_state(tmp_path: Path) -> None:
    stage = _stage(tmp_path)
    stage.apply(_signal(("e1", "x:a", "x:star")), offset=1)
    replace = stage._replace

    def slow_replace(data: bytes) -> None:  # runs in the child
        time.sleep(3)
        replace(data)

    stage._replace = slow_replace  # type: ignore[method-assign]
    snapshot = asyncio.create_task(stage.take_snapshot(fork=True))
    await asyncio.sleep(0.2)  # the child is writing offset 1
    stage._replace = replace  # type: ignore[method-assign]
    stage.apply(_signal(("e2", "x:b", "x:star")), offset=2)
    assert stage.save()  # the worker stopping: the child is ended, offset 2 written here
    assert not await snapshot
    await asyncio.sleep(3.5)  # had the child lived, it would have replaced the file by now
    assert _stage(tmp_path).last_offset == 2


def test_a_write_finishing_after_a_newer_ones_leaves_the_newer_in_place(tmp_path: Path) -> None:
    """Without fork, a timer's snapshot is written on a thread, and a stop may write a newer one
    meanwhile: whichever finishes last, the file holds the newer."""
    stage = _stage(tmp_path)
    stage.apply(_signal(("e1", "x:a", "x:star")), offset=1)
    older = stage.capture()
    stage.apply(_signal(("e2", "x:b", "x:star")), offset=2)
    newer = stage.capture()
    assert older is not None and newer is not None and older.seq < newer.seq
    stage.write(newer)
    stage.write(older)
    assert _stage(tmp_path).last_offset == 2


def test_a_record_counts_when_the_journal_cannot_be_written(tmp_path: Path) -> None:
    stage = _stage(tmp_path)
    (tmp_path / "influence-engine.tmp4242").write_bytes(b"half a snapshot")  # a killed writer's
    stage.journal.folder = tmp_path / "not-a-folder"
    stage.journal.folder.write_bytes(b"")  # a file where the journal's folder should be
    stage.apply_record(orjson.dumps(_signal(("e1", "x:a", "x:star"))), offset=1)
    assert "x:star" in stage.pending
    _stage(tmp_path)  # a ranker loading removes what a killed writer left
    assert not list(tmp_path.glob("*.tmp*"))

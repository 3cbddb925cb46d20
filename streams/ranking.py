"""The ranker: ``scores.signals`` -> influence engine -> ``scores.influence`` (and the graph).

One ``RankStage`` per process, fed only by the worker that owns the single partition the signal
records land in (``streams.signals.RANK_KEY``). It keeps the ``InfluenceEngine`` (incremental
PageRank, core numbers, engagement, followers) in memory:

- ``apply`` takes one signal record: edges and followers go into the engine (idempotent by
  ``(event id, src, dst)``), the accounts whose composite moved wait in ``pending`` until ``flush``
  (after a record when ``report_due``: at ``MAX_PENDING`` or ``influence_report_gap_seconds`` after
  the last, else every ``FLUSH_S``), which sends one ``scores.influence`` record each;
  the graph's Account nodes get the latest composite of each changed account every
  ``influence_graph_write_seconds`` (``take_unwritten``): PageRank moves ~2 accounts per raw
  event, and one node write per move cost the graph store more than the activities themselves;
- ``save`` writes the engine's snapshot (atomically: temp file + rename) with the offset of the last
  record applied; ``load`` restores it, so a restarted ranker resumes where it stood, and records it
  already applied change nothing (the engine applies each edge once, by its event key). While the stream runs,
  ``take_snapshot`` writes it from a forked child (``streams.forked``): the loop is held for the
  fork only, not for copying the state (1.2-1.7 s at 190k accounts, measured), and the next snapshot
  waits ``SNAPSHOT_COST_FACTOR`` times as long as the last one took, so snapshots keep to a bounded
  share of a core whatever the engine's size.

Honest limit: the snapshot is a file in ``data_dir`` (one machine). A ranker taking over on another
machine starts from an empty engine; influence then grows back from the new edges.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import os
import threading
import time
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import Any

import orjson

from groundswell.background import NICENESS
from groundswell.metrics import Metrics
from groundswell.settings import TOPIC_INFLUENCE, Settings
from scoring.composite import CompositeScore
from scoring.influence_engine import InfluenceEdge, InfluenceEngine, encode_snapshot
from streams import forked
from streams.journal import Journal
from streams.records import Out

log = logging.getLogger(__name__)

SNAPSHOT_FILE = "influence-engine.snapshot"
JOURNAL_NAME = "influence-engine.journal"
FLUSH_S = 0.1
MAX_PENDING = 2_000
#: graph writes a composite waits through for its account's node (the signals run ahead of the
#: graph stage by up to a few seconds under load) before it is dropped; a newer composite of that
#: account starts again
UNWRITTEN_TRIES = 30
#: the next snapshot waits at least this many times as long as the last one took: snapshots then take
#: at most about a tenth of a core (encoding took ~0.2 s at 19k accounts, ~5 s at 190k, measured)
SNAPSHOT_COST_FACTOR = 10.0


Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class Captured:
    """A snapshot taken, not yet written."""

    seq: int  # the order captures were taken in: a write never puts an older one over a newer one
    offset: int  # of the last record applied
    state: dict[str, Any]  # the engine's (``InfluenceEngine.snapshot_state``)


class RankStage:
    def __init__(self, settings: Settings, metrics: Metrics, clock: Clock = time.time) -> None:
        self._settings = settings
        self._m = metrics
        self._clock = clock
        self.engine = InfluenceEngine.from_settings(settings)
        self.pending: dict[str, CompositeScore] = {}
        #: reported on scores.influence, not yet on the graph's Account nodes (written less often)
        self.unwritten: dict[str, CompositeScore] = {}
        self._tries: dict[str, int] = {}  # graph writes an unwritten composite has missed
        self._received: list[float] = []  # received_at of the edges behind ``pending``
        self._reported_at = -float("inf")  # the clock's time of the last flush
        self.last_offset = -1
        self._dirty = False
        self.path = settings.data_dir / SNAPSHOT_FILE
        #: the records applied since the last snapshot, replayed by ``replay_journal`` after a kill
        self.journal = Journal(settings.data_dir, JOURNAL_NAME)
        self.loaded = False
        self._next_snapshot_at = 0.0  # time.monotonic() before which no snapshot is due
        self._child: forked.Child | None = None  # a snapshot being written by a forked child
        self._captures = 0  # captures taken (their seq)
        self._written_seq = 0  # the newest capture written here (thread path, stop)
        self._write_lock = threading.Lock()

    # -- persistence -----------------------------------------------------------------------------
    def load(self) -> None:
        """Restore the last snapshot, once; a missing or unreadable one leaves the engine empty."""
        if self.loaded:
            return
        self.loaded = True
        for torn in self.path.parent.glob(self.path.stem + ".tmp*"):  # a writer ended mid-write
            torn.unlink(missing_ok=True)
        try:
            envelope = orjson.loads(self.path.read_bytes())
            self.engine.restore(base64.b64decode(envelope["engine"]))
            self.last_offset = int(envelope["offset"])
            log.info("influence engine restored: %d accounts, offset %d", len(self.engine), self.last_offset)
        except FileNotFoundError:
            return
        except Exception as e:  # a torn or foreign file: start empty rather than not at all
            log.warning("influence engine snapshot %s unreadable (%r): starting empty", self.path, e)

    def rebuild(
        self, event_edges: Iterable[tuple[str, str, str, str, float]], followers: Iterable[tuple[str, int]]
    ) -> int:
        """Seed an empty engine from the graph (the system of record) when there is no snapshot:
        ``(event id, src, dst, kind, at)`` from the graph's event markers, keyed exactly like the
        live edges, so signals of events the graph already held are not counted twice. Returns the
        edges seeded."""
        edges = [
            InfluenceEdge(event_id, src, dst, kind, at)
            for event_id, src, dst, kind, at in event_edges
            if src != dst
        ]
        result = self.engine.apply_detailed(edges)
        for account_id, count in followers:
            self.engine.set_followers(account_id, count)
        self.pending.update(result.changed)
        self._dirty = True
        log.info("influence engine seeded from the graph: %d interaction edges", result.applied)
        return result.applied

    def replay_journal(self) -> int:
        """Apply the journal's records (after ``load``, and ``rebuild`` where there was no snapshot):
        what a killed ranker had applied since its last snapshot. -> records applied"""
        applied = 0
        for offset, record in self.journal.replay():
            try:  # what the snapshot already holds repeats only keys the engine has seen
                self.apply(orjson.loads(record), offset)
            except Exception as e:  # it failed when it first came too, and went to the dead letters
                log.warning("journal record at offset %d not applied again (%r)", offset, e)
                continue
            applied += 1
        if applied:
            log.info(
                "influence engine: %d records replayed from the journal, offset %d", applied, self.last_offset
            )
        return applied

    def apply_record(self, record: bytes, offset: int) -> None:
        """Journal a ``scores.signals`` record, then apply it (``apply``). Raises on a record that is
        not a signal record, unjournalled."""
        signal = orjson.loads(record)
        if not isinstance(signal, dict):
            raise ValueError(f"a signal record is a JSON object, not {type(signal).__name__}")
        try:
            self.journal.append(offset, record)
        except OSError as e:  # a full or read-only disk: the record still counts, unprotected
            log.warning("signal record at offset %d not journalled (%r)", offset, e)
        self.apply(signal, offset)

    def save(self) -> bool:
        """Capture and write a snapshot if anything changed since the last one (both here). A
        snapshot child still running is ended first: finishing after this one, it would put an
        older state in its place."""
        if self._child is not None:
            forked.kill(self._child)
            self._child = None  # take_snapshot sees it is no longer its child's
            self.mark_dirty()
        covered = self.journal.rotate()
        captured = self.capture()
        if captured is None:
            return False
        self.write(captured)
        self.journal.drop(covered)
        return True

    def capture(self) -> Captured | None:
        """The state to snapshot, copied, or None when nothing changed. Call it where the engine is
        updated (the event loop); ``write`` may then run on a thread."""
        if not self._dirty:
            return None
        self._dirty = False
        self._captures += 1
        return Captured(self._captures, self.last_offset, self.engine.snapshot_state())

    def write(self, captured: Captured) -> None:
        """Encode and write a captured state (atomically: temp file + rename); any thread. One
        written after a newer capture was (a timer's write on a thread finishing after the stop's
        own) is dropped: the newer one already holds all it holds."""
        data = self._encoded(captured.offset, captured.state)
        with self._write_lock:
            if captured.seq < self._written_seq:
                return
            self._replace(data)
            self._written_seq = captured.seq

    @staticmethod
    def _encoded(offset: int, state: dict[str, Any]) -> bytes:
        return orjson.dumps({"offset": offset, "engine": base64.b64encode(encode_snapshot(state)).decode()})

    def _replace(self, data: bytes) -> None:
        tmp = self.path.with_suffix(f".tmp{os.getpid()}")  # a snapshot child's apart from ours
        self.path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_bytes(data)
        os.replace(tmp, self.path)

    def mark_dirty(self) -> None:
        """A captured snapshot could not be written: the next one must be taken."""
        self._dirty = True

    def snapshot_due(self, now: float) -> bool:
        """Whether a snapshot is due at monotonic time ``now``: something changed since the last one,
        and the wait after it (``SNAPSHOT_COST_FACTOR`` times what it took) is over."""
        return self.loaded and self._dirty and now >= self._next_snapshot_at

    async def take_snapshot(self, *, fork: bool | None = None) -> bool:
        """Write a snapshot of the engine as it is now; call it on the loop that updates the engine.
        In a forked child where the platform has ``fork`` (``fork=None``), else copied here and
        written on a thread. -> whether it was written (a failed one is due again at once)."""
        if not self._dirty:
            return False
        use_fork = forked.can_fork() if fork is None else fork
        started = time.monotonic()
        ok = False
        covered = self.journal.rotate()  # the records this snapshot holds: dropped once it is written
        if use_fork:
            self._dirty = False
            offset, engine = self.last_offset, self.engine
            child = forked.start(  # nicer than the stream: a snapshot can wait, the stream cannot
                lambda: self._replace(self._encoded(offset, engine.snapshot_state(copy=False))),
                niceness=NICENESS,
            )
            self._child = child
            held = child.fork_s
            try:
                code = await forked.wait(child)
            except asyncio.CancelledError:  # stopping: the child is gone, the state still unsaved
                self._child = None
                self.mark_dirty()
                raise
            if self._child is not child:  # ended by ``save``, which wrote a newer one
                return False
            self._child = None
            ok = code == 0
            if not ok:
                log.error("influence engine snapshot not written (its process ended with %s)", code)
        else:
            captured = self.capture()
            held = time.monotonic() - started
            if captured is not None:
                try:
                    await asyncio.to_thread(self.write, captured)
                    ok = True
                except Exception:
                    log.exception("influence engine snapshot not written")
        took = time.monotonic() - started
        self._m.snapshot_seconds.labels("loop").observe(held)
        self._m.snapshot_seconds.labels("total").observe(took)
        if ok:
            self._next_snapshot_at = started + SNAPSHOT_COST_FACTOR * took
            self.journal.drop(covered)
        else:
            self.mark_dirty()
        return ok

    # -- the stream ------------------------------------------------------------------------------
    def apply(self, signal: dict[str, Any], offset: int) -> None:
        """Apply one signal record. Its edges are applied once each by their event key (the engine's
        window of recent keys), not by offset: offsets start again from 0 on a new embedded broker
        while the snapshot in ``data_dir`` stays (a second ``up``), and a redelivered record only
        repeats keys. ``last_offset`` is the offset of the record applied last."""
        self.last_offset = offset
        self._dirty = True
        edges = []
        received: dict[str, float] = {}
        for row in signal.get("edges") or ():
            event_id, src, dst, kind, at, weight = row[:6]
            edges.append(InfluenceEdge(str(event_id), str(src), str(dst), str(kind), float(at), weight))
            if len(row) > 6:
                received[str(dst)] = float(row[6])
        result = self.engine.apply_detailed(edges)
        if result.duplicates:
            self._m.events_repeated.labels("ranking").inc(result.duplicates)
        for rejected in result.rejected:
            self._m.dead_letters.labels("ranking", "invalid_edge").inc()
            log.debug("edge rejected: %s", rejected.reason)
        self.pending.update(result.changed)
        self._received.extend(received[a] for a in result.changed if a in received)
        for account_id, followers, at in signal.get("followers") or ():
            changed = self.engine.set_followers(str(account_id), int(followers), float(at))
            if changed is not None:
                self.pending[changed.account_id] = changed
        self._m.events_in.labels("ranking", "signals").inc()

    def maintain(self, budget_s: float) -> None:
        """Idle-time work: deferred core-number updates."""
        if self.engine.kcore_work_waiting:
            self.pending.update(self.engine.maintain(budget_s))
            self._dirty = True
        self._m.kcore_backlog.set(self.engine.kcore_backlog)

    def take_unwritten(self) -> list[CompositeScore]:
        """The latest composite of every account reported since the last graph write (cleared)."""
        done, self.unwritten = self.unwritten, {}
        return list(done.values())

    def requeue(self, scores: Iterable[CompositeScore]) -> None:
        """Scores whose graph write failed wait for the next one, unless a newer one already does."""
        for score in scores:
            self.unwritten.setdefault(score.account_id, score)

    def written(self, taken: Iterable[CompositeScore], missed: Iterable[CompositeScore]) -> None:
        """After a graph write of ``taken``: the ``missed`` ones (no node yet, or the node already
        newer) wait for the next write, each up to ``UNWRITTEN_TRIES`` times."""
        missed = list(missed)
        missed_ids = {score.account_id for score in missed}
        for score in taken:
            if score.account_id not in missed_ids:
                self._tries.pop(score.account_id, None)
        for score in missed:
            tries = self._tries.pop(score.account_id, 0) + 1
            if tries > UNWRITTEN_TRIES:
                self._m.dead_letters.labels("ranking", "score_not_written").inc()
            elif score.account_id not in self.unwritten:  # else a newer one waits, from 0 tries
                self._tries[score.account_id] = tries
                self.unwritten[score.account_id] = score

    def report_due(self) -> bool:
        """Whether the composites waiting go out now rather than on the ``FLUSH_S`` tick: at
        ``MAX_PENDING``, or when the last flush is at least ``influence_report_gap_seconds`` old (a
        gap of ``FLUSH_S`` or more: on the tick only)."""
        if len(self.pending) >= MAX_PENDING:
            return True
        gap_s = self._settings.influence_report_gap_seconds
        return gap_s < FLUSH_S and bool(self.pending) and self._clock() - self._reported_at >= gap_s

    def flush(self) -> list[Out]:
        """One ``scores.influence`` record per account whose composite moved since the last flush."""
        if not self.pending:
            return []
        now = self._reported_at = self._clock()
        done, self.pending = self.pending, {}
        self.unwritten.update(done)
        received, self._received = self._received, []
        outs = [
            Out(TOPIC_INFLUENCE, account_id.encode(), orjson.dumps(influence_record(score)))
            for account_id, score in done.items()
        ]
        for r in received:
            self._m.stage_latency.labels("influence").observe(max(0.0, now - r))
        self._m.events_out.labels("ranking", "influence").inc(len(outs))
        return outs


def influence_record(score: CompositeScore) -> dict[str, Any]:
    """The ``scores.influence`` value: the composite with its breakdown (``CompositeScore.to_dict``)."""
    return score.to_dict()

"""The graph stage's adapter: batches into the graph store, poison records into the dead letters.

Batches pass through a bounded queue to ONE writer task:
- backpressure: ``submit`` waits while ``max_pending`` batches are queued, so a consumer that
  outruns the store stops fetching instead of buffering without bound;
- per-key order: one writer applies batches in the order they were submitted (for a consumer of
  keyed partitions, the order of each key's records), each batch in one transaction, and within a
  batch the planner applies events in event-time order (``graph.plan``);
- ``write`` is ``submit`` and wait: the caller acknowledges its records only once they are in the
  store (at-least-once; replays are harmless, every effect is keyed by event id). A caller that
  acknowledges records itself may keep several batches in flight with ``submit``.

The store retries transient errors and write conflicts itself (backoff with jitter); an
unreachable store holds the batch (it says nothing about the data); what the store still refuses
is bisected so that one bad activity goes to social.deadletter and the rest of its batch is written.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass, field
from typing import NamedTuple

import orjson
from neo4j.exceptions import ServiceUnavailable, SessionExpired

from activity.deadletter import DeadLetter, DeadLetterReason
from activity.raw import RawEvent
from activity.schema import Activity
from graph.store import GraphStore
from groundswell.metrics import Metrics
from groundswell.settings import Settings
from identity.resolver import IdentityLink
from streams.pipeline import dead_letter_out
from streams.records import Out

log = logging.getLogger(__name__)

#: the store is down or unreachable, which says nothing about the data: wait, do not dead-letter
UNAVAILABLE = (ServiceUnavailable, SessionExpired, OSError)


class WriteResult(NamedTuple):
    """What a write returns."""

    applied: list[Activity]  # the activities applied now (not replays)
    dead: list[Out]  # dead letters
    #: erased accounts the applied activities named (``graph.write_path``: nothing written on them)
    erased: frozenset[str] = frozenset()


@dataclass(slots=True)
class _Met:
    """What the store's calls for one batch (several, when it is bisected) reported."""

    applied: set[str] = field(default_factory=set)  # event ids applied now
    erased: set[str] = field(default_factory=set)  # erased accounts the applied activities named


@dataclass(slots=True)
class _Job:
    activities: list[Activity]
    links: list[IdentityLink]
    scores: list[tuple[str, float, float]]
    done: asyncio.Future[WriteResult] = field(
        default_factory=lambda: asyncio.get_running_loop().create_future()
    )


class GraphWriter:
    def __init__(
        self, settings: Settings, metrics: Metrics, max_pending: int = 2, io_thread: bool = False
    ) -> None:
        self._settings = settings
        self._io_thread = io_thread  # the store's driver on the process's graph I/O thread
        self._m = metrics
        self._store: GraphStore | None = None
        self._queue: asyncio.Queue[_Job] = asyncio.Queue(maxsize=max(1, max_pending))
        self._drainer: asyncio.Task[None] | None = None

    async def open(self) -> GraphStore:
        """Connect (and set the schema up) once; while the store is unreachable, wait for it."""
        delay = 0.5
        while self._store is None:
            store: GraphStore | None = None
            try:
                store = await GraphStore.connect(self._settings, self._m, io_thread=self._io_thread)
                await store.setup()
                self._store = store
            except UNAVAILABLE as e:
                if store is not None:
                    await store.close()
                log.warning("graph store unreachable (%r); retrying in %.1fs", e, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
        return self._store

    async def stored_influence(self, account_id: str) -> float | None:
        store = await self.open()
        return (await store.influence_logs([account_id])).get(account_id)

    async def close(self, drain_s: float = 30.0) -> None:
        """Finish what is queued (for at most ``drain_s`` seconds: an unreachable store holds its
        batch forever), stop the writer task, close the store. Batches left are cancelled (their
        callers see CancelledError; nothing of them was acknowledged as written)."""
        if self._drainer is not None:
            if not self._drainer.done():
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(self._queue.join(), drain_s)
            self._drainer.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._drainer
            self._drainer = None
            while not self._queue.empty():
                self._queue.get_nowait().done.cancel()
                self._queue.task_done()
        if self._store is not None:
            await self._store.close()
            self._store = None

    @property
    def pending(self) -> int:
        """Batches queued, not yet taken by the writer."""
        return self._queue.qsize()

    async def submit(
        self,
        activities: list[Activity],
        links: list[IdentityLink],
        scores: list[tuple[str, float, float]],
    ) -> asyncio.Future[WriteResult]:
        """Queue a batch for the writer; waits while the queue is full (backpressure). -> a future
        of what ``write`` returns."""
        if self._drainer is None or self._drainer.done():
            self._drainer = asyncio.create_task(self._drain(), name="graph-writer")
        job = _Job(list(activities), list(links), list(scores))
        await self._queue.put(job)
        return job.done

    async def write(
        self,
        activities: list[Activity],
        links: list[IdentityLink],
        scores: list[tuple[str, float, float]],
    ) -> WriteResult:
        """Write a batch and wait until it is in the store. -> the activities applied now, dead
        letters for what could not be, the erased accounts they named."""
        return await (await self.submit(activities, links, scores))

    async def _drain(self) -> None:
        while True:
            job = await self._queue.get()
            try:
                result = await self._write_now(job.activities, job.links, job.scores)
            except asyncio.CancelledError:
                job.done.cancel()
                raise
            except Exception as e:  # never expected (bad data is dead-lettered): hand it to the caller
                if not job.done.cancelled():
                    job.done.set_exception(e)
            else:
                if not job.done.cancelled():
                    job.done.set_result(result)
            finally:
                self._queue.task_done()

    async def _write_now(
        self,
        activities: list[Activity],
        links: list[IdentityLink],
        scores: list[tuple[str, float, float]],
    ) -> WriteResult:
        store = await self.open()
        started = time.time()
        dead: list[Out] = []
        met = _Met()
        if activities or links:
            dead = await self._apply(store, activities, links, met)
        if scores:
            latest: dict[str, tuple[str, float, float]] = {}
            for row in scores:
                if row[0] not in latest or latest[row[0]][2] <= row[2]:
                    latest[row[0]] = row
            await store.set_influence(list(latest.values()))
        for a in activities:
            self._m.events_in.labels("graph", a.network.value).inc()
        if activities:
            self._m.stage_latency.labels("graph").observe(
                max(0.0, time.time() - min(a.received_at for a in activities))
            )
            self._m.events_out.labels("graph", "all").inc(len(activities))
        log.debug("graph batch of %d in %.3fs", len(activities), time.time() - started)
        fresh: list[Activity] = []
        for a in activities:
            if a.event_id in met.applied:
                met.applied.discard(a.event_id)  # once, even if the batch repeats it
                fresh.append(a)
        return WriteResult(fresh, dead, frozenset(met.erased))

    async def _apply(
        self, store: GraphStore, activities: list[Activity], links: list[IdentityLink], met: _Met
    ) -> list[Out]:
        delay = 0.5
        while True:
            try:
                result = await store.apply(activities, links)
                met.applied.update(result.applied_ids)
                met.erased.update(result.erased_accounts)
                return []
            except UNAVAILABLE as e:
                # the store is down, not the data: hold the batch (and so the stream) until it is back
                log.warning("graph store unavailable (%r); retrying the batch in %.1fs", e, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
            except Exception as e:
                return await self._bisect(store, activities, links, met, e)

    async def _bisect(
        self,
        store: GraphStore,
        activities: list[Activity],
        links: list[IdentityLink],
        met: _Met,
        e: Exception,
    ) -> list[Out]:
        """A batch the store refused: find the record(s) it refuses, dead-letter them, write the rest."""
        if len(activities) + len(links) <= 1:
            return [self._dead(activities, links, e)]
        log.warning("graph batch of %d failed (%r); bisecting", len(activities) + len(links), e)
        mid_a, mid_l = len(activities) // 2, len(links) // 2
        first = await self._apply(store, activities[:mid_a], links[:mid_l], met)
        return first + await self._apply(store, activities[mid_a:], links[mid_l:], met)

    def _dead(self, activities: list[Activity], links: list[IdentityLink], error: Exception) -> Out:
        if activities:
            a = activities[0]
            payload, source, received = orjson.dumps(a.to_dict()), a.source, a.received_at
        else:
            payload, source, received = links[0].to_bytes(), "identity", links[0].at
        raw = RawEvent(format="activity", source=source, received_at=received, payload=payload)
        return dead_letter_out(
            DeadLetter.of(raw, DeadLetterReason.INVALID_VALUE, repr(error), stage="graph"), self._m
        )

"""The graph stage's adapter: batches into the graph store, poison records into the dead letters.

The store retries transient errors and constraint races itself; what still fails is bisected so
that one bad activity goes to social.deadletter and the rest of its batch is written.
"""

from __future__ import annotations

import asyncio
import logging
import time

import orjson
from neo4j.exceptions import ServiceUnavailable, SessionExpired

from activity.deadletter import DeadLetter, DeadLetterReason
from activity.raw import RawEvent
from activity.schema import Activity
from graph.store import GraphStore
from groundswell.metrics import Metrics
from groundswell.settings import Settings
from identity.resolver import IdentityLink
from streams.pipeline import Out, dead_letter_out

log = logging.getLogger(__name__)

#: the store is down or unreachable, which says nothing about the data: wait, do not dead-letter
UNAVAILABLE = (ServiceUnavailable, SessionExpired, OSError)


class GraphWriter:
    def __init__(self, settings: Settings, metrics: Metrics) -> None:
        self._settings = settings
        self._m = metrics
        self._store: GraphStore | None = None

    async def open(self) -> GraphStore:
        """Connect (and set the schema up) once; while the store is unreachable, wait for it."""
        delay = 0.5
        while self._store is None:
            store = await GraphStore.connect(self._settings, self._m)
            try:
                await store.setup()
                self._store = store
            except UNAVAILABLE as e:
                await store.close()
                log.warning("graph store unreachable (%r); retrying in %.1fs", e, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
        return self._store

    async def stored_influence(self, account_id: str) -> float | None:
        store = await self.open()
        return (await store.influence_logs([account_id])).get(account_id)

    async def close(self) -> None:
        if self._store is not None:
            await self._store.close()
            self._store = None

    async def write(
        self,
        activities: list[Activity],
        links: list[IdentityLink],
        scores: list[tuple[str, float, float]],
    ) -> tuple[list[Activity], list[Out]]:
        """Write a batch. -> (the activities applied now, dead letters for what could not be)."""
        store = await self.open()
        started = time.time()
        dead: list[Out] = []
        applied: set[str] = set()
        if activities or links:
            dead = await self._apply(store, activities, links, applied)
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
            if a.event_id in applied:
                applied.discard(a.event_id)  # once, even if the batch repeats it
                fresh.append(a)
        return fresh, dead

    async def _apply(
        self, store: GraphStore, activities: list[Activity], links: list[IdentityLink], applied: set[str]
    ) -> list[Out]:
        delay = 0.5
        while True:
            try:
                result = await store.apply(activities, links)
                applied.update(result.applied_ids)
                return []
            except UNAVAILABLE as e:
                # the store is down, not the data: hold the batch (and so the stream) until it is back
                log.warning("graph store unavailable (%r); retrying the batch in %.1fs", e, delay)
                await asyncio.sleep(delay)
                delay = min(delay * 2, 30.0)
            except Exception as e:
                return await self._bisect(store, activities, links, applied, e)

    async def _bisect(
        self,
        store: GraphStore,
        activities: list[Activity],
        links: list[IdentityLink],
        applied: set[str],
        e: Exception,
    ) -> list[Out]:
        """A batch the store refused: find the record(s) it refuses, dead-letter them, write the rest."""
        if len(activities) + len(links) <= 1:
            return [self._dead(activities, links, e)]
        log.warning("graph batch of %d failed (%r); bisecting", len(activities) + len(links), e)
        mid_a, mid_l = len(activities) // 2, len(links) // 2
        first = await self._apply(store, activities[:mid_a], links[:mid_l], applied)
        return first + await self._apply(store, activities[mid_a:], links[mid_l:], applied)

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

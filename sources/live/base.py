"""What every live source shares: the event a connector yields, a durable cursor, redelivery
de-duplication, reconnect backoff, metrics, and the loop that produces to social.raw.

A connector (``LiveSource``) only speaks its network's protocol: it yields ``SourceEvent``s forever,
reconnecting by itself (``Backoff``) and resuming from the cursor it was built with. ``run_source``
de-duplicates redelivered events (by ``dedupe_key``), produces each raw payload, and saves the
cursor only after the producer has flushed everything before it, so a restart never skips an
event (at-least-once from the network, exactly-once into social.raw within the dedupe window).
"""

from __future__ import annotations

import asyncio
import logging
import os
import random
import time
from collections import OrderedDict
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

import orjson
from prometheus_client import CollectorRegistry, Counter, Gauge

from activity.raw import RawEvent

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class SourceEvent:
    raw: RawEvent
    dedupe_key: str  # stable per event across redeliveries (e.g. DID + rev, status uri, fullname)
    source_time: float | None = None  # the network's own clock for this event (epoch seconds)
    cursor: str | None = None  # where to resume after this event, when the protocol has one


class LiveSource(Protocol):
    name: str
    metrics: SourceMetrics | None  # set by the process; reconnects are counted on it

    def events(self) -> AsyncIterator[SourceEvent]:
        """Yield events forever (reconnecting inside); return only when ``stop()`` was called."""
        ...

    def stop(self) -> None: ...


def json_cursor(cursor: str | None, source: str) -> dict[str, object]:
    """A saved cursor that is a JSON object (per instance, per listing...); anything unreadable
    means "no cursor" (logged), never a crash."""
    if not cursor:
        return {}
    try:
        obj = orjson.loads(cursor)
    except orjson.JSONDecodeError:
        log.warning("%s: ignoring unreadable cursor %r", source, cursor[:200])
        return {}
    return {str(k): v for k, v in obj.items()} if isinstance(obj, dict) else {}


class CursorStore:
    """One small file per source under ``data_dir/cursors``; written atomically and fsynced."""

    def __init__(self, directory: Path) -> None:
        self._dir = directory
        self._dir.mkdir(parents=True, exist_ok=True)

    def _path(self, name: str) -> Path:
        return self._dir / f"{name}.cursor"

    def load(self, name: str) -> str | None:
        path = self._path(name)
        return path.read_text().strip() or None if path.exists() else None

    def save(self, name: str, cursor: str) -> None:
        tmp = self._path(name).with_suffix(".tmp")
        with tmp.open("w") as f:
            f.write(cursor)
            f.flush()
            os.fsync(f.fileno())
        tmp.replace(self._path(name))


class Deduper:
    """Remembers the last ``capacity`` keys; ``seen`` is True for a key already in the window."""

    def __init__(self, capacity: int = 200_000) -> None:
        self._keys: OrderedDict[str, None] = OrderedDict()
        self._capacity = capacity

    def seen(self, key: str) -> bool:
        if key in self._keys:
            self._keys.move_to_end(key)
            return True
        self._keys[key] = None
        if len(self._keys) > self._capacity:
            self._keys.popitem(last=False)
        return False


class Backoff:
    """Exponential backoff with full jitter, reset after a connection that delivered events."""

    def __init__(self, initial: float = 0.5, maximum: float = 60.0, rng: random.Random | None = None) -> None:
        self.initial, self.maximum = initial, maximum
        self._attempt = 0
        self._rng = rng or random.Random()

    def reset(self) -> None:
        self._attempt = 0

    def next_delay(self) -> float:
        ceiling = min(self.maximum, self.initial * 2**self._attempt)
        self._attempt += 1
        return self._rng.uniform(0, ceiling)

    async def sleep(self) -> None:
        await asyncio.sleep(self.next_delay())


@dataclass(frozen=True)
class SourceMetrics:
    events: Counter  # labels: source
    duplicates: Counter  # labels: source
    reconnects: Counter  # labels: source
    lag_seconds: Gauge  # labels: source

    @classmethod
    def create(cls, registry: CollectorRegistry) -> SourceMetrics:
        return cls(
            events=Counter(
                "groundswell_live_events_total",
                "Events received from a live source",
                ["source"],
                registry=registry,
            ),
            duplicates=Counter(
                "groundswell_live_duplicates_total",
                "Redelivered events dropped",
                ["source"],
                registry=registry,
            ),
            reconnects=Counter(
                "groundswell_live_reconnects_total",
                "Reconnects to a live source",
                ["source"],
                registry=registry,
            ),
            lag_seconds=Gauge(
                "groundswell_live_lag_seconds",
                "Seconds behind the source's clock",
                ["source"],
                registry=registry,
            ),
        )


async def run_source(
    source: LiveSource,
    send: Callable[[RawEvent], None],
    flush: Callable[[], None],
    cursors: CursorStore,
    metrics: SourceMetrics,
    deduper: Deduper | None = None,
    checkpoint_every: float = 1.0,
    clock: Callable[[], float] = time.time,
) -> int:
    """Produce a source's events until it stops; returns how many were sent."""
    dedupe = deduper or Deduper()
    sent = 0
    pending: str | None = None
    last_checkpoint = time.monotonic()
    async for ev in source.events():
        if dedupe.seen(ev.dedupe_key):
            metrics.duplicates.labels(source.name).inc()
            if ev.cursor is not None:
                pending = ev.cursor
            continue
        send(ev.raw)
        sent += 1
        metrics.events.labels(source.name).inc()
        if ev.source_time is not None:
            metrics.lag_seconds.labels(source.name).set(max(0.0, clock() - ev.source_time))
        if ev.cursor is not None:
            pending = ev.cursor
        if pending is not None and time.monotonic() - last_checkpoint >= checkpoint_every:
            flush()  # everything before the cursor is in the broker before the cursor is saved
            cursors.save(source.name, pending)
            pending, last_checkpoint = None, time.monotonic()
    flush()
    if pending is not None:
        cursors.save(source.name, pending)
    return sent

"""How long the workers keep their memories per account and per subject.

The priority stage keeps each author account's recent mention ids (table ``mention-authors``),
the alerting stage each subject's cooldowns and decided event ids (``alert-subjects``), the
identity intake each account's hashes of the profile fields it sent for resolution
(``identity-seen``). They grow with every account that ever mentioned the company, or that was
ever seen at all. Each value carries the wall-clock time it was last written (``stamped``; the
agents read and write bare values through a ``StampedTable``, made by ``stamped_table``), and a
timer (``TableSweeper``, installed by ``install_sweeps``) deletes the entries of this worker's
partitions not written for ``state_retention_seconds``: a tombstone goes to the table's
changelog, so neither a restart nor a take-over brings them back. An author or subject seen again
after that starts afresh: a replay of mentions older than the retention is scored (and may alert)
again, as a replay of more than an author's last 128 mentions already was. A table whose entries
are read far more often than they change (``identity-seen``) rewrites an entry it reads when its
stamp is older than half the retention (``stale``), so an account that stays active keeps its
entry at the cost of one changelog record a half-retention.

The sweep takes a list of the keys at once and then works through them in chunks, reading each
value again when its turn comes, so the event loop is never held for the whole table and an entry
written meanwhile is kept.
"""

from __future__ import annotations

import asyncio
import functools
import logging
import struct
import time
from collections.abc import Awaitable, Callable, Iterable, MutableMapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from groundswell.metrics import Metrics
from groundswell.settings import Settings
from streams.partitioner import partition_for
from streams.records import key_partitioned_table

log = logging.getLogger(__name__)

#: a stamped value starts with these bytes (a JSON value never starts with NUL), then the time
#: (big-endian float64, seconds since the epoch), then the value itself
STAMP_MAGIC = b"\x00T"
_TIME = struct.Struct(">d")
_HEADER = len(STAMP_MAGIC) + _TIME.size
#: the first sweep comes this long after the worker's start at the latest (then every
#: ``state_sweep_seconds``): the entry gauge is there for ops early, and values from before stamps
#: get theirs early
FIRST_SWEEP_S = 30.0
#: keys looked at between two yields to the event loop (benchmarks/table_sweep.py: ~4 ms a chunk
#: with a tenth of them expired, on the 2-core machine)
SWEEP_CHUNK = 500


def stamped(value: bytes, at: float) -> bytes:
    """``value`` with the time it was written."""
    return STAMP_MAGIC + _TIME.pack(at) + value


def unstamped(raw: bytes | None) -> tuple[bytes | None, float | None]:
    """The value and the time it was written; a value from before stamps has no time (None)."""
    if raw is None:
        return None, None
    at = written_at(raw)
    return (raw, None) if at is None else (raw[_HEADER:], at)


def written_at(raw: bytes) -> float | None:
    """The time a stored value was written (None: from before stamps), without copying the value."""
    if raw.startswith(STAMP_MAGIC) and len(raw) >= _HEADER:
        return float(_TIME.unpack_from(raw, len(STAMP_MAGIC))[0])
    return None


def stale(at: float | None, now: float, retention_s: float) -> bool:
    """Whether a value written at ``at`` (None: before stamps) and read ``now`` should be written
    again to keep it: more than half the retention ago, or not stamped at all."""
    return at is None or now - at > retention_s / 2


class StampedTable:
    """A key-partitioned Faust table seen as bare values: ``get`` and ``[key] = value`` leave the
    stamps to it (the write time from ``clock``); ``read`` also gives the time a value was written.
    ``raw`` is the table itself, stamps included, for the sweep (and Faust's changelog and
    recovery, which never see anything but stored bytes)."""

    def __init__(self, raw: MutableMapping[str, bytes], clock: Callable[[], float] = time.time) -> None:
        self.raw = raw
        self.clock = clock

    def read(self, key: str) -> tuple[bytes | None, float | None]:
        return unstamped(self.raw.get(key))

    def get(self, key: str) -> bytes | None:
        return self.read(key)[0]

    def __setitem__(self, key: str, value: bytes) -> None:
        self.raw[key] = stamped(value, self.clock())


def stamped_table(app: Any, name: str, partitions: int) -> StampedTable:
    """``streams.records.key_partitioned_table`` with stamped values (see the module's docstring)."""
    return StampedTable(key_partitioned_table(app, name, partitions))


@dataclass
class SweepPlan:
    """What a sweep does with the entries it looked at."""

    #: written longer than the retention ago: deleted
    expired: list[str] = field(default_factory=list)
    #: written before values carried a time: stamped now, so their retention starts now
    restamp: list[str] = field(default_factory=list)
    #: written within the retention, kept as they are (whichever worker's partition)
    kept: int = 0


def plan_sweep(
    items: Iterable[tuple[str, bytes | None]],
    now: float,
    retention_s: float,
    owned: Callable[[str], bool] = lambda _: True,
) -> SweepPlan:
    """Sort ``(key, stored value)`` pairs into expired, to restamp and kept. Of the entries that need
    something done, only the keys this worker ``owned`` are taken (the rest are another worker's to
    sweep); ``owned`` is asked only for those, since most entries are kept and it can be costly."""
    plan = SweepPlan()
    for key, raw in items:
        if raw is None:
            continue
        at = written_at(raw)
        if at is None:
            if owned(key):
                plan.restamp.append(key)
        elif now - at > retention_s:
            if owned(key):
                plan.expired.append(key)
        else:
            plan.kept += 1
    return plan


class TableSweeper:
    """Deletes a table's entries not written for ``retention_s`` (see the module's docstring).

    ``table`` is a Faust table whose changelog partition comes from the key
    (``streams.records.KeyPartitionedTable``), so a delete outside a stream's event goes to the
    right partition; ``owned_partitions`` says which partitions this worker holds now."""

    def __init__(
        self,
        name: str,
        table: MutableMapping[str, bytes],
        partitions: int,
        owned_partitions: Callable[[], set[int]],
        retention_s: float,
        metrics: Metrics,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.name = name
        self._table = table
        self._partitions = partitions
        self._owned_partitions = owned_partitions
        self._retention_s = retention_s
        self._m = metrics
        self._clock = clock
        self._next_due: float | None = None  # monotonic; None: not swept yet

    @staticmethod
    def tick_seconds(sweep_every_s: float) -> float:
        """How often the worker's timer asks ``due``: the first sweep within ``FIRST_SWEEP_S``."""
        return min(sweep_every_s, FIRST_SWEEP_S)

    def due(self, now: float, sweep_every_s: float) -> bool:
        """Whether a sweep is due at monotonic time ``now``: at the timer's first tick, then every
        ``sweep_every_s``. Marks it done when it says yes."""
        if self._next_due is not None and now < self._next_due:
            return False
        self._next_due = now + sweep_every_s
        return True

    async def sweep(self) -> SweepPlan:
        """One pass over the table; returns what it did."""
        owned = self._owned_partitions()
        keys = list(self._table.keys())
        done = SweepPlan()
        for start in range(0, len(keys), SWEEP_CHUNK):
            now = self._clock()
            chunk = keys[start : start + SWEEP_CHUNK]
            plan = plan_sweep(
                ((k, self._table.get(k)) for k in chunk),
                now,
                self._retention_s,
                lambda k: partition_for(k.encode(), self._partitions) in owned,
            )
            for key in plan.expired:
                del self._table[key]
            for key in plan.restamp:
                value, _ = unstamped(self._table.get(key))
                if value is not None:
                    self._table[key] = stamped(value, now)
            done.expired.extend(plan.expired)
            done.restamp.extend(plan.restamp)
            done.kept += plan.kept
            await asyncio.sleep(0)  # let the stream's agents run between chunks
        self._m.table_entries_expired.labels(self.name).inc(len(done.expired))
        self._m.table_entries.labels(self.name).set(len(self._table))
        if done.expired or done.restamp:
            log.info(
                "table %s: %d entries expired, %d stamped, %d kept",
                self.name,
                len(done.expired),
                len(done.restamp),
                done.kept,
            )
        return done


def owned_partitions(app: Any, source_topic: str) -> set[int]:
    """The partitions of ``source_topic`` a Faust ``app``'s worker holds now (its active ones): those
    of the tables co-partitioned with it that this worker may write."""
    return {tp.partition for tp in app.assignor.assigned_actives() if tp.topic == source_topic}


def install_sweeps(
    app: Any,
    tables: Sequence[tuple[str, StampedTable]],
    source_topic: str,
    settings: Settings,
    metrics: Metrics,
    then: Callable[[], Awaitable[None]] | None = None,
) -> list[TableSweeper]:
    """A timer on the Faust ``app`` that sweeps ``tables`` (name, stamped table) every
    ``state_sweep_seconds``. The tables are co-partitioned with ``source_topic``: this worker's
    active partitions of it are the tables' partitions it sweeps. ``then``: called after each
    timer tick that swept."""

    sweepers = [
        TableSweeper(
            name,
            table.raw,
            settings.partitions,
            functools.partial(owned_partitions, app, source_topic),
            settings.state_retention_seconds,
            metrics,
        )
        for name, table in tables
    ]

    async def retention_timer() -> None:
        swept = False
        for sweeper in sweepers:  # an exception in a timer would stop the worker
            if not sweeper.due(time.monotonic(), settings.state_sweep_seconds):
                continue
            swept = True
            try:
                await sweeper.sweep()
            except Exception:
                log.exception("table %s not swept; the next timer tries again", sweeper.name)
        if swept and then is not None:
            try:
                await then()
            except Exception:
                log.exception("after the sweep of %s; the next sweep tries again", [n for n, _ in tables])

    app.timer(
        interval=TableSweeper.tick_seconds(settings.state_sweep_seconds),
        name=f"retention of {', '.join(name for name, _ in tables)}",
    )(retention_timer)
    return sweepers

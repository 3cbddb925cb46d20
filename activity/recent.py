"""A bounded memory of the event ids a stage has recently applied for one key.

Stages downstream of normalize see an event again when its record is redelivered (a restart, a
rebalance) or the source is replayed. The graph write skips such events by itself (its event
markers); a stage that runs ahead of the graph keeps, per key (an author account, an alert subject),
the hashes of the latest ``capacity`` event ids it applied (``activity.schema.event_hash``: 8
bytes, not the id), in a table it can restore. An event older than the key's latest ``capacity``
is forgotten: the bound, not time, limits what a replay can repeat.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import orjson

from activity.schema import event_hash

#: event ids remembered per key by default
DEFAULT_CAPACITY = 128


@dataclass
class RecentEvents:
    #: hashes of the event ids applied, oldest first
    hashes: list[int] = field(default_factory=list)
    capacity: int = DEFAULT_CAPACITY

    def add(self, event_id: str) -> bool:
        """Remember ``event_id``; False when it is already remembered (nothing changes then)."""
        h = event_hash(event_id)
        if h in self.hashes:
            return False
        self.hashes.append(h)
        if len(self.hashes) > self.capacity:
            del self.hashes[: len(self.hashes) - self.capacity]
        return True

    @classmethod
    def of(cls, hashes: Iterable[int], capacity: int = DEFAULT_CAPACITY) -> RecentEvents:
        kept = [int(h) for h in hashes]
        return cls(kept[-capacity:] if capacity > 0 else [], capacity)

    def to_bytes(self) -> bytes:
        return orjson.dumps(self.hashes)

    @classmethod
    def from_bytes(cls, data: bytes | None, capacity: int = DEFAULT_CAPACITY) -> RecentEvents:
        return cls.of(orjson.loads(data) if data else (), capacity)

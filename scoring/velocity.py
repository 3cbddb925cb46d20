"""How fast a topic is being talked about: mentions per hour over a sliding window of event time.

Pure and deterministic: the clock is the events' own time (``created_at``), so a replay of the same
stream gives the same velocities as the live run. Mentions are kept in time buckets (``buckets`` per
window) as sets of event-id hashes: a redelivered event is counted once, memory is bounded by the
mentions inside one window, and buckets that fall out of the window are dropped.

``observe`` records a mention; ``rate(topic, at)`` is the number of distinct mentions with event time
in ``(at - window, at]`` divided by the window in hours. A mention older than the newest time seen
minus the window is ignored (it can no longer change any rate that will be asked for). State
round-trips through ``to_bytes``/``from_bytes`` for a changelog table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import orjson

from activity.schema import event_hash


@dataclass
class VelocityTracker:
    window_s: float = 3600.0
    buckets: int = 60
    #: topic -> bucket index -> hashes of the event ids seen in it
    _seen: dict[str, dict[int, set[int]]] = field(default_factory=dict)
    _latest: float = -math.inf

    def __post_init__(self) -> None:
        if not (math.isfinite(self.window_s) and self.window_s > 0.0) or self.buckets < 1:
            raise ValueError(f"window_s must be positive and buckets >= 1: {self.window_s}, {self.buckets}")

    @property
    def _width(self) -> float:
        return self.window_s / self.buckets

    def observe(self, topic: str, event_id: str, at: float) -> bool:
        """Record one mention of ``topic``; False when it was already counted or is too old."""
        if not math.isfinite(at):
            return False
        if at > self._latest:
            self._latest = at
            self._prune()
        if at <= self._latest - self.window_s:
            return False
        bucket = self._seen.setdefault(topic, {}).setdefault(math.floor(at / self._width), set())
        h = event_hash(event_id)
        if h in bucket:
            return False
        bucket.add(h)
        return True

    def rate(self, topic: str, at: float) -> float:
        """Mentions per hour of ``topic`` in ``(at - window, at]`` (bucket resolution)."""
        if not math.isfinite(at):
            return 0.0
        hi = math.floor(at / self._width)
        lo = hi - self.buckets + 1
        count = sum(len(s) for b, s in self._seen.get(topic, {}).items() if lo <= b <= hi)
        return count * 3600.0 / self.window_s

    def rates(self, topics: tuple[str, ...], at: float) -> float:
        """The fastest of ``topics`` (a post in several topics is as urgent as its busiest)."""
        return max((self.rate(t, at) for t in topics), default=0.0)

    def _prune(self) -> None:
        oldest = math.floor((self._latest - self.window_s) / self._width)
        for topic in list(self._seen):
            buckets = self._seen[topic]
            for b in [b for b in buckets if b < oldest]:
                del buckets[b]
            if not buckets:
                del self._seen[topic]

    def __len__(self) -> int:
        """Mentions held (all topics)."""
        return sum(len(s) for buckets in self._seen.values() for s in buckets.values())

    def to_bytes(self) -> bytes:
        return orjson.dumps(
            {
                "window_s": self.window_s,
                "buckets": self.buckets,
                "latest": None if self._latest == -math.inf else self._latest,
                "seen": {t: {str(b): sorted(s) for b, s in bs.items()} for t, bs in self._seen.items()},
            }
        )

    @classmethod
    def from_bytes(
        cls, data: bytes | None, *, window_s: float = 3600.0, buckets: int = 60
    ) -> VelocityTracker:
        """Restore; empty data gives a fresh tracker with the given window. A state saved with another
        window or bucket count is re-bucketed by dropping it (velocity refills within one window)."""
        if not data:
            return cls(window_s=window_s, buckets=buckets)
        d = orjson.loads(data)
        if float(d["window_s"]) != window_s or int(d["buckets"]) != buckets:
            return cls(window_s=window_s, buckets=buckets)
        tracker = cls(window_s=window_s, buckets=buckets)
        tracker._latest = -math.inf if d["latest"] is None else float(d["latest"])
        tracker._seen = {t: {int(b): set(s) for b, s in bs.items()} for t, bs in d["seen"].items()}
        return tracker

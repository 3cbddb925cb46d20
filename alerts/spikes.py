"""Volume spikes per topic: mentions in the last hour against the topic's 7-day hourly baseline.

The rule (docs/alerts.md "Volume spikes"):

* counts are kept in event time: per minute for the last hour, per clock hour for 7 days;
* the *window* is the rolling hour ``(t - 3600, t]`` where ``t`` is the newest event time seen for
  the topic (never later than the wall clock, so one future-dated post cannot move it);
* the *baseline* is the 168 complete clock hours before the window's first hour (the window spans
  hours H-1 and H, the baseline is H-169 .. H-2, so a spike never inflates its own baseline);
  hours before the topic was first seen do not count, hours without mentions count as 0;
* a spike needs ``min_baseline_hours`` of baseline (default 24) and ``min_count`` mentions in the
  window (default 10), and then ``count > mean + k * max(std, 1)`` (the floor of 1 keeps a perfectly
  flat baseline from alerting on one extra mention);
* a topic alerts at most once per clock hour, with an id derived from (topic, hour) so a replay
  gives the same alert id.

Counting is split from detection: :class:`VolumeCounter` pre-aggregates mentions per (topic,
minute) where the posts are scored, and :class:`SpikeDetector` consumes those counts keyed by topic
(one small record per topic and minute instead of one per post). ``TopicVolume`` is the per-topic
state, bytes in and out, for a table keyed by topic.
"""

from __future__ import annotations

import math
from collections.abc import Iterable
from dataclasses import dataclass, field

import orjson

from alerts.rules import topics_of
from alerts.schema import Alert, AlertKind, Severity, Spike, stable_id
from scoring.priority import ScoredPost

MINUTE = 60
HOUR = 3600
BASELINE_HOURS = 24 * 7
SPIKE_RULE = "volume-spike"


@dataclass(frozen=True, slots=True)
class TopicCount:
    """Mentions of ``topic`` in the minute starting at ``minute * 60``."""

    topic: str
    minute: int
    count: int
    newest_received_at: float

    def to_bytes(self) -> bytes:
        return orjson.dumps([self.topic, self.minute, self.count, self.newest_received_at])

    @classmethod
    def from_bytes(cls, data: bytes) -> TopicCount:
        topic, minute, count, received = orjson.loads(data)
        if not isinstance(topic, str) or not topic:
            raise ValueError("topic must be a non-empty string")
        return cls(topic, int(minute), int(count), float(received))


class VolumeCounter:
    """Aggregates scored posts into per (topic, minute) counts until drained."""

    def __init__(self) -> None:
        self._counts: dict[tuple[str, int], list[float]] = {}

    def add(self, post: ScoredPost) -> None:
        minute = math.floor(post.created_at / MINUTE)
        for topic in topics_of(post):
            slot = self._counts.setdefault((topic, minute), [0, 0.0])
            slot[0] += 1
            slot[1] = max(slot[1], post.received_at)

    def drain(self) -> list[TopicCount]:
        out = [TopicCount(t, m, int(c), r) for (t, m), (c, r) in sorted(self._counts.items())]
        self._counts.clear()
        return out

    def __len__(self) -> int:
        return len(self._counts)


@dataclass
class TopicVolume:
    """One topic's counts (event time) and when it last spiked."""

    minutes: dict[int, int] = field(default_factory=dict)  # minute index -> count, last hour only
    hours: dict[int, int] = field(default_factory=dict)  # hour index -> count, baseline + window
    first_hour: int | None = None
    newest: float = 0.0  # newest event time seen (clamped to the wall clock)
    newest_received_at: float = 0.0
    last_spike_hour: int | None = None

    def to_bytes(self) -> bytes:
        return orjson.dumps(
            {
                "v": 1,
                "m": {str(k): v for k, v in self.minutes.items()},
                "h": {str(k): v for k, v in self.hours.items()},
                "f": self.first_hour,
                "n": self.newest,
                "r": self.newest_received_at,
                "s": self.last_spike_hour,
            }
        )

    @classmethod
    def from_bytes(cls, data: bytes | None) -> TopicVolume:
        if not data:
            return cls()
        d = orjson.loads(data)
        return cls(
            minutes={int(k): int(v) for k, v in d["m"].items()},
            hours={int(k): int(v) for k, v in d["h"].items()},
            first_hour=d["f"],
            newest=float(d["n"]),
            newest_received_at=float(d["r"]),
            last_spike_hour=d["s"],
        )


@dataclass(frozen=True, slots=True)
class Baseline:
    mean: float
    std: float
    hours: int


class SpikeDetector:
    def __init__(
        self,
        k: float = 3.0,
        min_baseline_hours: int = 24,
        min_count: int = 10,
        baseline_hours: int = BASELINE_HOURS,
    ) -> None:
        self.k = k
        self.min_baseline_hours = min_baseline_hours
        self.min_count = min_count
        self.baseline_hours = baseline_hours

    def observe(self, state: TopicVolume, count: TopicCount, now: float) -> Alert | None:
        """Add one minute's count to ``state`` (in place); a spike alert if the topic now spikes."""
        at = min(count.minute * MINUTE, now)
        minute, hour = math.floor(at / MINUTE), math.floor(at / HOUR)
        if state.first_hour is None or hour < state.first_hour:
            state.first_hour = hour
        state.hours[hour] = state.hours.get(hour, 0) + count.count
        state.newest = max(state.newest, at)
        state.newest_received_at = max(state.newest_received_at, count.newest_received_at)
        t = state.newest
        if minute > math.floor(t / MINUTE) - 60:
            state.minutes[minute] = state.minutes.get(minute, 0) + count.count
        self._prune(state, t)
        return self.check(state, count.topic, now)

    def window_count(self, state: TopicVolume) -> int:
        newest_minute = math.floor(state.newest / MINUTE)
        return sum(c for m, c in state.minutes.items() if newest_minute - 60 < m <= newest_minute)

    def baseline(self, state: TopicVolume) -> Baseline:
        h_now = math.floor(state.newest / HOUR)
        last = h_now - 2  # the window covers hours h_now - 1 and h_now
        first = last - self.baseline_hours + 1
        if state.first_hour is not None:
            first = max(first, state.first_hour)
        n = last - first + 1
        if n <= 0:
            return Baseline(0.0, 0.0, 0)
        values = [state.hours.get(h, 0) for h in range(first, last + 1)]
        mean = sum(values) / n
        std = math.sqrt(sum((v - mean) ** 2 for v in values) / n)
        return Baseline(mean, std, n)

    def check(self, state: TopicVolume, topic: str, now: float) -> Alert | None:
        hour = math.floor(state.newest / HOUR)
        if state.last_spike_hour == hour:
            return None
        count = self.window_count(state)
        if count < self.min_count:
            return None
        base = self.baseline(state)
        if base.hours < self.min_baseline_hours:
            return None
        threshold = base.mean + self.k * max(base.std, 1.0)
        if count <= threshold:
            return None
        state.last_spike_hour = hour
        window_end = (math.floor(state.newest / MINUTE) + 1) * MINUTE
        spike = Spike(
            topic=topic,
            window_start=float(window_end - HOUR),
            window_end=float(window_end),
            count=count,
            baseline_mean=round(base.mean, 4),
            baseline_std=round(base.std, 4),
            baseline_hours=base.hours,
            threshold=round(threshold, 4),
            k=self.k,
        )
        return Alert(
            alert_id=stable_id(SPIKE_RULE, topic, str(hour)),
            kind=AlertKind.VOLUME_SPIKE,
            rule=SPIKE_RULE,
            severity=Severity.HIGH,
            emitted_at=now,
            received_at=state.newest_received_at or now,
            subject_id=None,
            topics=(topic,),
            matched_rules=(SPIKE_RULE,),
            spike=spike,
            reasons=(
                f"{count} mentions of {topic!r} in the last hour",
                f"baseline {base.mean:.1f} ± {base.std:.1f} per hour over {base.hours} h",
                f"threshold mean + {self.k:g} std = {threshold:.1f}",
            ),
        )

    def _prune(self, state: TopicVolume, t: float) -> None:
        newest_minute, h_now = math.floor(t / MINUTE), math.floor(t / HOUR)
        oldest_hour = h_now - 2 - self.baseline_hours
        state.minutes = {m: c for m, c in state.minutes.items() if m > newest_minute - 60}
        state.hours = {h: c for h, c in state.hours.items() if h >= oldest_hour}


def observe_all(
    detector: SpikeDetector, states: dict[str, TopicVolume], counts: Iterable[TopicCount], now: float
) -> list[Alert]:
    """In-memory convenience (benchmarks, tests, one-process use): states keyed by topic."""
    alerts = []
    for c in counts:
        alert = detector.observe(states.setdefault(c.topic, TopicVolume()), c, now)
        if alert is not None:
            alerts.append(alert)
    return alerts

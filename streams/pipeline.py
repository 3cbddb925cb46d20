"""The stream stages as plain classes: each turns consumed records into records to send.

Faust agents (streams/app.py) are thin loops around these, so the same code runs in unit tests,
benchmarks and the stream. Output records are ``Out(topic, key, value, headers)``. This module has
the normalize stage and the shared plumbing; the signal stage is ``streams.signals``, the ranker
``streams.ranking``, identity ``streams.identity_agent`` and alerting ``alerts.stage``.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import orjson

from activity.deadletter import DeadLetter, DeadLetterReason
from activity.normalize import normalize
from activity.raw import RawEvent
from groundswell.metrics import Metrics
from groundswell.settings import (
    TOPIC_ACTIVITY,
    TOPIC_DEADLETTER,
    Settings,
)

Clock = Callable[[], float]


@dataclass(frozen=True, slots=True)
class Out:
    topic: str
    key: bytes | None
    value: bytes
    headers: dict[str, bytes] | None = None


def dead_letter_out(dl: DeadLetter, metrics: Metrics) -> Out:
    metrics.dead_letters.labels(dl.stage, dl.reason.value).inc()
    return Out(TOPIC_DEADLETTER, dl.source.encode(), dl.to_bytes())


class NormalizeStage:
    """social.raw -> social.activity (keyed by actor account) + social.deadletter."""

    def __init__(self, settings: Settings, metrics: Metrics, clock: Clock = time.time) -> None:
        self._max = settings.max_payload_bytes
        self._m = metrics
        self._clock = clock

    def process(self, raw: RawEvent) -> list[Out]:
        self._m.events_in.labels("normalize", raw.format or "unknown").inc()
        result = normalize(raw, max_bytes=self._max)
        outs = [dead_letter_out(dl, self._m) for dl in result.dead_letters]
        for a in result.activities:
            outs.append(Out(TOPIC_ACTIVITY, a.actor.id.encode(), orjson.dumps(a.to_dict())))
        if result.activities:
            self._m.events_out.labels("normalize", raw.format).inc(len(result.activities))
            self._m.stage_latency.labels("normalize").observe(max(0.0, self._clock() - raw.received_at))
        return outs


def bad_record(stage: str, topic: str, value: bytes | None, error: Exception, metrics: Metrics) -> Out:
    """A record an internal stage could not decode: dead-lettered with the exception as reason."""
    raw = RawEvent(format=topic, source=f"internal:{topic}", received_at=time.time(), payload=value or b"")
    return dead_letter_out(
        DeadLetter.of(raw, DeadLetterReason.INVALID_VALUE, repr(error), stage=stage), metrics
    )

"""The stream stages as plain classes: each turns consumed records into records to send.

Faust agents (streams/app.py) are thin loops around these, so the same code runs in unit tests,
benchmarks and the stream. Output records are ``Out(topic, key, value, headers)``. This module has
the normalize stage and the shared plumbing; the signal stage is ``streams.signals``, the ranker
``streams.ranking``, identity ``streams.identity_agent`` and alerting ``alerts.stage``. Internal
topics carry batch records (``streams.records``).
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from typing import Any, TypeVar

import orjson

from activity.deadletter import DeadLetter, DeadLetterReason
from activity.normalize import normalize
from activity.raw import RawEvent
from activity.schema import Activity
from groundswell.metrics import Metrics
from groundswell.settings import (
    TOPIC_ACTIVITY,
    TOPIC_DEADLETTER,
    Settings,
)
from streams.records import Out, batch_records, unpack

T = TypeVar("T")

Clock = Callable[[], float]


def dead_letter_out(dl: DeadLetter, metrics: Metrics) -> Out:
    metrics.dead_letters.labels(dl.stage, dl.reason.value).inc()
    return Out(TOPIC_DEADLETTER, dl.source.encode(), dl.to_bytes())


class NormalizeStage:
    """social.raw -> social.activity (batch records, keyed by actor account) + social.deadletter."""

    def __init__(self, settings: Settings, metrics: Metrics, clock: Clock = time.time) -> None:
        self._max = settings.max_payload_bytes
        self._partitions = settings.partitions
        self._m = metrics
        self._clock = clock

    def normalize(self, raws: Iterable[RawEvent]) -> tuple[list[Activity], list[Out]]:
        """-> (the activities, in input order; dead letters)."""
        activities: list[Activity] = []
        dead: list[Out] = []
        now = self._clock()
        for raw in raws:
            self._m.events_in.labels("normalize", raw.format or "unknown").inc()
            result = normalize(raw, max_bytes=self._max)
            dead.extend(dead_letter_out(dl, self._m) for dl in result.dead_letters)
            if result.activities:
                activities.extend(result.activities)
                self._m.events_out.labels("normalize", raw.format).inc(len(result.activities))
                self._m.stage_latency.labels("normalize").observe(max(0.0, now - raw.received_at))
        return activities, dead


def activity_records(activities: Iterable[Activity], partitions: int) -> list[Out]:
    """Batch records of ``social.activity``: each activity under its actor's key."""
    return batch_records(
        TOPIC_ACTIVITY,
        ((a.actor.id.encode(), orjson.dumps(a.to_dict())) for a in activities),
        partitions,
    )


def bad_record(stage: str, topic: str, value: bytes | None, error: Exception, metrics: Metrics) -> Out:
    """A record an internal stage could not decode: dead-lettered with the exception as reason."""
    raw = RawEvent(format=topic, source=f"internal:{topic}", received_at=time.time(), payload=value or b"")
    return dead_letter_out(
        DeadLetter.of(raw, DeadLetterReason.INVALID_VALUE, repr(error), stage=stage), metrics
    )


def unpack_all(
    values: Iterable[bytes | None],
    parse: Callable[[dict[str, Any]], T],
    stage: str,
    topic: str,
    metrics: Metrics,
) -> tuple[list[T], list[Out]]:
    """Batch records -> their items through ``parse``; a record or an item that fails is a dead
    letter (the rest go on)."""
    parsed: list[T] = []
    bad: list[Out] = []
    for value in values:
        try:
            items = unpack(value or b"")
        except Exception as e:
            bad.append(bad_record(stage, topic, value, e, metrics))
            continue
        for item in items:
            try:
                parsed.append(parse(item))
            except Exception as e:
                bad.append(bad_record(stage, topic, orjson.dumps(item), e, metrics))
    return parsed, bad

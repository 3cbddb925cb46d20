"""Producing raw events to social.raw, with backpressure on the pipeline's consumer lag.

The embedded broker keeps about 5 MB per partition (streams/broker.py), so a producer that runs
far ahead of the workers would push unread records out. ``RawProducer`` therefore pauses while
any partition the worker group consumes lags by more than ``max_lag`` records.
"""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable, Sequence

import confluent_kafka

from activity.deadletter import DeadLetter, DeadLetterReason
from activity.raw import RawEvent
from groundswell.metrics import Metrics
from groundswell.settings import (
    CONSUMED_TOPICS,
    TOPIC_ACTIVITY,
    TOPIC_DEADLETTER,
    TOPIC_IDENTITY_COMMANDS,
    TOPIC_MENTIONS,
    TOPIC_RAW,
)

#: the pipeline's consumer-group topics whose lag throttles producers
WATCHED_TOPICS = CONSUMED_TOPICS
#: what throttles a producer: every consumed topic except the identity resolver's. Identity runs in
#: one owner at the model's pace (tens of new profiles/s on this CPU) and catches up on its own;
#: throttling the firehose to it would cap the whole pipeline at the rate of NEW accounts. Its lag
#: is on the consumer-lag metric for ops (with the embedded broker's ~5 MB per partition, a very
#: long backlog can drop commands: those accounts resolve at their next profile change).
BACKPRESSURE_TOPICS = tuple(t for t in CONSUMED_TOPICS if t != TOPIC_IDENTITY_COMMANDS)
#: topics whose records are batches (streams.records: up to a few hundred items, ~100-200 KB):
#: their lag is bounded in records too, at this fraction of the one-item limit
BATCH_TOPICS = (TOPIC_ACTIVITY, TOPIC_MENTIONS)
BATCH_LAG_DIVISOR = 200


def lag_limits(max_lag: int) -> dict[str, int]:
    """The lag (records per partition) each watched topic may reach before producers pause: both
    far below the embedded broker's ~5 MB a partition (3,000 raw events of ~1 KB; 15 batch records
    of ~150 KB)."""
    return {
        t: max(4, max_lag // BATCH_LAG_DIVISOR) if t in BATCH_TOPICS else max_lag for t in BACKPRESSURE_TOPICS
    }


class RawProducer:
    def __init__(
        self,
        bootstrap: str,
        group_id: str | Sequence[str],
        metrics: Metrics,
        max_lag: int = 3000,
        check_every: int = 500,
        partitions: int = 4,
        max_payload_bytes: int = 1_000_000,
        topic: str = TOPIC_RAW,
    ) -> None:
        self._max_payload = max_payload_bytes
        self._topic = topic  # social.raw; tests give their own
        self._producer = confluent_kafka.Producer(
            {
                "bootstrap.servers": bootstrap,
                "linger.ms": 5,
                "batch.num.messages": 1000,
                "partitioner": "murmur2_random",  # same partition per key as aiokafka/Java clients
                "message.max.bytes": 1_000_000,
                "log_level": 3,
            }
        )
        self._lag = LagProbe(bootstrap, group_id, partitions, BACKPRESSURE_TOPICS) if max_lag > 0 else None
        self._max_lag = max_lag
        self._limits = lag_limits(max_lag)
        self._check_every = check_every
        self._m = metrics
        self.sent = 0
        self.failed = 0  # records the broker refused (counted, reported by the CLI)
        self.throttled_s = 0.0
        self.throttled_by: dict[str, int] = {}  # lag checks that paused, per lagging topic

    def send(self, raw: RawEvent, key: bytes | None = None) -> None:
        if len(raw.payload) > self._max_payload:
            # no broker takes it as it is: the source dead-letters it (size, hash, head of the payload)
            dead = DeadLetter.of(
                raw,
                DeadLetterReason.TOO_LARGE,
                f"{len(raw.payload)} bytes > {self._max_payload}",
                stage="source",
            )
            self._m.dead_letters.labels("source", dead.reason.value).inc()
            self._produce(TOPIC_DEADLETTER, dead.to_bytes(), raw.source.encode(), None)
        else:
            self._produce(self._topic, raw.payload, key, dict(raw.headers()))
        self._m.source_events.labels(raw.source).inc()
        self.sent += 1
        if self.sent % self._check_every == 0:
            self._producer.poll(0)
            self._wait_for_consumers()

    def _produce(
        self, topic: str, value: bytes, key: bytes | None, headers: dict[str, str | bytes | None] | None
    ) -> None:
        while True:
            try:
                self._producer.produce(
                    topic, value=value, key=key, headers=headers, on_delivery=self._delivered
                )
                return
            except BufferError:
                self._producer.poll(0.05)

    def _delivered(self, err: confluent_kafka.KafkaError | None, msg: confluent_kafka.Message) -> None:
        if err is not None:
            self.failed += 1
            self._m.dead_letters.labels("source", "delivery_failed").inc()

    def send_all(self, events: Iterable[RawEvent], progress: Callable[[int], None] | None = None) -> int:
        for raw in events:
            self.send(raw)
            if progress is not None:
                progress(self.sent)
        self.flush()
        return self.sent

    def flush(self, timeout: float = 30.0) -> None:
        self._producer.flush(timeout)

    def _wait_for_consumers(self) -> None:
        if self._lag is None:
            return
        started = time.monotonic()
        while over := self._lag.over(self._limits):
            for topic in over:
                self.throttled_by[topic] = self.throttled_by.get(topic, 0) + 1
            self._producer.poll(0.1)
            if time.monotonic() - started > 120:
                break  # nobody consuming: stop waiting, the broker bound applies
        self.throttled_s += time.monotonic() - started

    def close(self) -> None:
        self.flush()
        if self._lag is not None:
            self._lag.close()


class LagProbe:
    """Per-partition lag (end offset - committed offset) of a consumer group over the watched topics."""

    def __init__(
        self,
        bootstrap: str,
        group_id: str | Sequence[str],
        partitions: int,
        topics: tuple[str, ...] = WATCHED_TOPICS,
    ) -> None:
        """``group_id``: one consumer group, or several (the ingest and scoring workers' groups,
        ``Settings.consumer_groups``): each partition's progress is that of the group that has
        committed on it (in a deployment each topic is consumed by one of them)."""
        groups = [group_id] if isinstance(group_id, str) else list(group_id)
        self._consumers = [
            confluent_kafka.Consumer(
                {"bootstrap.servers": bootstrap, "group.id": g, "enable.auto.commit": False, "log_level": 3}
            )
            for g in groups
        ]
        self._tps = [confluent_kafka.TopicPartition(t, p) for t in topics for p in range(partitions)]

    def lags(self) -> dict[tuple[str, int], int]:
        out: dict[tuple[str, int], int] = {}
        done: dict[tuple[str, int], int] = {}
        for consumer in self._consumers:
            try:
                committed = consumer.committed(self._tps, timeout=5)
            except confluent_kafka.KafkaException:
                return out
            for tp in committed:
                key = (tp.topic, tp.partition)
                done[key] = max(done.get(key, 0), tp.offset if tp.offset >= 0 else 0)
        probe = self._consumers[0]
        for tp in self._tps:
            try:
                _, high = probe.get_watermark_offsets(tp, timeout=5, cached=False)
            except confluent_kafka.KafkaException:
                continue
            key = (tp.topic, tp.partition)
            out[key] = max(0, high - done.get(key, 0))
        return out

    def max_lag(self) -> int:
        return max(self.lags().values(), default=0)

    def over(self, limits: dict[str, int]) -> set[str]:
        """The topics in ``limits`` with a partition lagging by more than the topic's limit."""
        return {topic for (topic, _), lag in self.lags().items() if lag > limits.get(topic, lag)}

    def close(self) -> None:
        for consumer in self._consumers:
            consumer.close()

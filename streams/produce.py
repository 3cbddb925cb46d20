"""Producing raw events to social.raw, with backpressure on the pipeline's consumer lag.

The embedded broker keeps about 5 MB per partition (streams/broker.py), so a producer that runs
far ahead of the workers would push unread records out. ``RawProducer`` therefore pauses while
any partition the worker groups consume lags by more than its limit: ``max_lag`` records, and for
the batch topics a two-hundredth of that (``lag_limits``).

``LagWatch`` probes the lag on a thread of its own, every ``LAG_PROBE_S``; the producer reads its
latest verdict without waiting. Probed on the send path, each check held the source for ~150 ms of
broker round trips (16 partitions, two consumer groups: 3.5 s of a 40 s window at 150 events/s).

The batch topics' limit in records also bounds how far the graph stage falls behind, not only the
broker's memory. Limits that followed the size of the batch records (tried, 2026-12-07: a few KB
at 150 events/s, so hundreds of records) removed the source's pauses at 150 events/s without
moving the latency tails, and at 300 events/s let the graph stage fall 30 s behind (p50), against
2.5 s with this limit (benchmarks/RESULTS.md).
"""

from __future__ import annotations

import logging
import threading
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
#: how often ``LagWatch`` probes the lag
LAG_PROBE_S = 0.25

log = logging.getLogger(__name__)


def lag_limits(
    max_lag: int, topics: Sequence[str] = BACKPRESSURE_TOPICS, batch_topics: Sequence[str] = BATCH_TOPICS
) -> dict[str, int]:
    """The lag (records per partition) each watched topic may reach before producers pause: both
    far below the embedded broker's ~5 MB a partition (3,000 raw events of ~1 KB; 15 batch records
    of ~150 KB)."""
    return {t: max(4, max_lag // BATCH_LAG_DIVISOR) if t in batch_topics else max_lag for t in topics}


class RawProducer:
    def __init__(
        self,
        bootstrap: str,
        group_id: str | Sequence[str],
        metrics: Metrics,
        max_lag: int = 3000,
        check_every: int = 50,
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
        self._watch = (
            LagWatch(LagProbe(bootstrap, group_id, partitions, BACKPRESSURE_TOPICS), max_lag).start()
            if max_lag > 0
            else None
        )
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
        """Pause while the watch's latest probe found a topic over its limit (no broker call here)."""
        if self._watch is None:
            return
        started = time.monotonic()
        while over := self._watch.over:
            for topic in over:
                self.throttled_by[topic] = self.throttled_by.get(topic, 0) + 1
            self._producer.poll(0.1)
            if time.monotonic() - started > 120:
                break  # nobody consuming: stop waiting, the broker bound applies
        self.throttled_s += time.monotonic() - started

    def close(self) -> None:
        self.flush()
        if self._watch is not None:
            self._watch.close()


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
        self.topics = tuple(topics)
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


class LagWatch:
    """``probe``'s verdict, kept fresh on a thread of its own: ``over`` is the set of topics with a
    partition over its limit at the latest probe (every ``every_s``)."""

    def __init__(
        self,
        probe: LagProbe,
        max_lag: int,
        every_s: float = LAG_PROBE_S,
        batch_topics: Sequence[str] = BATCH_TOPICS,
    ) -> None:
        self._probe = probe
        self._every_s = every_s
        self.limits = lag_limits(max_lag, probe.topics, batch_topics)
        self.over: frozenset[str] = frozenset()
        self.probes = 0  # probes done (tests, diagnostics)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="lag-watch", daemon=True)

    def start(self) -> LagWatch:
        self._thread.start()
        return self

    def probe_once(self) -> None:
        self.over = frozenset(self._probe.over(self.limits))
        self.probes += 1

    def _run(self) -> None:
        while not self._stop.is_set():
            try:
                self.probe_once()
            except Exception as e:  # the broker away: the last verdict stands until it answers
                log.warning("consumer lag not probed (%r)", e)
            self._stop.wait(self._every_s)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=30)
        self._probe.close()

"""The source's backpressure on the real embedded broker: limits that follow the batch records' size,
and a verdict kept fresh off the send path (streams.produce)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import confluent_kafka
import pytest

from streams.produce import (
    ASSUMED_BATCH_RECORD_BYTES,
    BACKPRESSURE_TOPICS,
    BATCH_TOPICS,
    MIN_LAG_LIMIT,
    LagProbe,
    LagWatch,
    lag_limits,
)
from tests.fixtures.broker import BrokerUnderTest

pytestmark = pytest.mark.integration


def test_limits_without_sizes_are_the_full_batch_ones() -> None:
    limits = lag_limits(3000)
    assert set(limits) == set(BACKPRESSURE_TOPICS)
    for topic, limit in limits.items():
        assert limit == (3000 * 1000 // ASSUMED_BATCH_RECORD_BYTES if topic in BATCH_TOPICS else 3000)


def test_limits_follow_the_record_size_within_max_lag_and_the_floor() -> None:
    batch = BATCH_TOPICS[0]
    assert lag_limits(3000, {batch: 4_000})[batch] == 750  # a paced rate's small batches
    assert lag_limits(3000, {batch: 300_000})[batch] == 10  # larger than a full batch: fewer
    assert lag_limits(3000, {batch: 10})[batch] == 3000  # never more records than max_lag
    assert lag_limits(3000, {batch: 10_000_000})[batch] == MIN_LAG_LIMIT


def wait_for(check: Callable[[], bool], timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while not check():
        assert time.monotonic() < deadline, "timed out"
        time.sleep(0.05)


def test_the_watch_sizes_batch_records_and_clears_once_the_group_commits(
    embedded_broker: BrokerUnderTest,
) -> None:
    u = uuid.uuid4().hex[:8]
    raw, batch, group = f"raw-{u}", f"batch-{u}", f"g-{u}"
    producer = confluent_kafka.Producer({"bootstrap.servers": embedded_broker.bootstrap, "log_level": 3})

    def produce(topic: str, n: int, size: int) -> None:
        for _ in range(n):
            producer.produce(topic, b"x" * size, partition=0)
        assert producer.flush(30) == 0

    produce(raw, 10, 500)
    produce(batch, 40, 50_000)  # 40 records: over a full-batch limit (15), within a 50 KB one (60)
    probe = LagProbe(embedded_broker.bootstrap, group, partitions=4, topics=(raw, batch))
    watch = LagWatch(probe, 3000, every_s=0.05, batch_topics=(batch,))
    assert watch.limits[batch] == 15 and watch.limits[raw] == 3000  # before any size is known
    watch.start()
    try:
        wait_for(lambda: watch.probes >= 2)
        assert watch.limits[batch] == 60 and watch.over == frozenset()
        produce(batch, 30, 50_000)  # 70 unread records
        wait_for(lambda: watch.over == frozenset({batch}))
        committer = confluent_kafka.Consumer(
            {"bootstrap.servers": embedded_broker.bootstrap, "group.id": group, "log_level": 3}
        )
        committer.commit(offsets=[confluent_kafka.TopicPartition(batch, 0, 70)], asynchronous=False)
        committer.close()
        wait_for(lambda: watch.over == frozenset())
    finally:
        watch.close()

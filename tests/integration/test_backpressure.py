"""The source's backpressure on the real embedded broker: a verdict kept fresh off the send path
(streams.produce.LagWatch), and the producer pausing on it."""

from __future__ import annotations

import uuid

import confluent_kafka
import pytest

from streams.produce import BACKPRESSURE_TOPICS, BATCH_TOPICS, LagProbe, LagWatch, lag_limits
from tests.fixtures.broker import BrokerUnderTest
from tests.fixtures.waiting import eventually

pytestmark = pytest.mark.integration


def test_limits_bound_batch_topics_in_fewer_records() -> None:
    limits = lag_limits(3000)
    assert set(limits) == set(BACKPRESSURE_TOPICS)
    assert {t: limits[t] for t in BATCH_TOPICS} == dict.fromkeys(BATCH_TOPICS, 15)
    assert all(limits[t] == 3000 for t in BACKPRESSURE_TOPICS if t not in BATCH_TOPICS)
    assert lag_limits(100)[BATCH_TOPICS[0]] == 4  # never below a few records


def test_the_watch_finds_a_lagging_topic_and_clears_once_the_group_commits(
    embedded_broker: BrokerUnderTest,
) -> None:
    u = uuid.uuid4().hex[:8]
    raw, batch, group = f"raw-{u}", f"batch-{u}", f"g-{u}"
    producer = confluent_kafka.Producer({"bootstrap.servers": embedded_broker.bootstrap, "log_level": 3})

    def produce(topic: str, n: int) -> None:
        for _ in range(n):
            producer.produce(topic, b"x" * 1000, partition=0)
        assert producer.flush(30) == 0

    produce(raw, 100)
    produce(batch, 15)  # at its limit (3000 // 200), not over
    probe = LagProbe(embedded_broker.bootstrap, group, partitions=4, topics=(raw, batch))
    watch = LagWatch(probe, 3000, every_s=0.05, batch_topics=(batch,)).start()
    try:
        assert watch.limits == {raw: 3000, batch: 15}
        eventually("two probes", lambda: watch.probes >= 2, 20.0, every=0.05)
        assert watch.over == frozenset()
        produce(batch, 1)  # 16 unread
        eventually("the batch topic over", lambda: watch.over == frozenset({batch}), 20.0, every=0.05)
        committer = confluent_kafka.Consumer(
            {"bootstrap.servers": embedded_broker.bootstrap, "group.id": group, "log_level": 3}
        )
        committer.commit(offsets=[confluent_kafka.TopicPartition(batch, 0, 16)], asynchronous=False)
        committer.close()
        eventually("no topic over", lambda: watch.over == frozenset(), 20.0, every=0.05)
    finally:
        watch.close()

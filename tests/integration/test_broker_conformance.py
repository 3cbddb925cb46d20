"""The embedded broker's conformance, as ../shared/DESIGN.md ("Embedded broker") asks: the checks
that rejected Tansu must pass here, and on external Kafka when KAFKA_BOOTSTRAP_SERVERS is set."""

from __future__ import annotations

import time
import uuid
from collections import Counter
from pathlib import Path

import confluent_kafka
import pytest

from tests.fixtures.broker import BrokerUnderTest, CountingWorker, start_counting_worker

pytestmark = pytest.mark.integration

READY_BOUND_S = 30.0
TAKEOVER_BOUND_S = 30.0


def produce_keyed(broker: BrokerUnderTest, topic: str, n: int, keys: int, linger_ms: int = 5) -> Counter[str]:
    producer = confluent_kafka.Producer(
        {
            "bootstrap.servers": broker.bootstrap,
            "linger.ms": linger_ms,
            "batch.num.messages": 10000,
            "partitioner": "murmur2_random",
            "log_level": 3,
        }
    )
    expected: Counter[str] = Counter()
    for i in range(n):
        key = f"k{(i * 7919) % keys}"
        producer.produce(topic, key=key.encode(), value=b"%d" % i)
        expected[key] += 1
    assert producer.flush(30) == 0
    return expected


def wait_counts(workers: list[CountingWorker], expected: Counter[str], timeout: float = 60) -> dict[str, int]:
    deadline = time.monotonic() + timeout
    merged: dict[str, int] = {}
    while time.monotonic() < deadline:
        merged = {}
        for w in workers:
            merged.update(w.snapshot()["counts"])  # type: ignore[arg-type]
        if merged == dict(expected):
            return merged
        time.sleep(0.2)
    raise AssertionError(
        f"counts never matched: {len(merged)} keys, sum {sum(merged.values())} of {expected.total()}"
    )


def topic_name() -> str:
    return f"conf-{uuid.uuid4().hex[:8]}"


def test_end_offset_is_last_offset_plus_one_after_batched_produce(broker: BrokerUnderTest) -> None:
    topic = topic_name()
    producer = confluent_kafka.Producer(
        {"bootstrap.servers": broker.bootstrap, "linger.ms": 500, "log_level": 3}
    )
    offsets: list[int] = []

    def delivered(err: object, msg: confluent_kafka.Message) -> None:
        assert err is None
        offsets.append(msg.offset())

    for i in range(1000):
        producer.produce(topic, value=b"%d" % i, partition=0, on_delivery=delivered)
    assert producer.flush(30) == 0
    consumer = confluent_kafka.Consumer(
        {"bootstrap.servers": broker.bootstrap, "group.id": topic, "log_level": 3}
    )
    low, high = consumer.get_watermark_offsets(
        confluent_kafka.TopicPartition(topic, 0), timeout=10, cached=False
    )
    consumer.close()
    assert high == max(offsets) + 1
    assert high - low == 1000


def test_exact_counts_and_restart_restores_table_key_by_key(broker: BrokerUnderTest, tmp_path: Path) -> None:
    topic = topic_name()
    worker = start_counting_worker(broker, topic, tmp_path, "a")
    try:
        assert worker.wait_ready(READY_BOUND_S * 2) < READY_BOUND_S * 2
        expected = produce_keyed(broker, topic, 2000, keys=97)
        before = wait_counts([worker], expected)
    finally:
        worker.stop()
    restarted = start_counting_worker(broker, topic, tmp_path, "a")
    try:
        restarted.wait_ready(READY_BOUND_S * 2)
        assert wait_counts([restarted], expected) == before
        more = produce_keyed(broker, topic, 500, keys=97)
        wait_counts([restarted], expected + more)
    finally:
        restarted.stop()
    for w in (worker, restarted):
        assert "Error in recovery" not in w.logs()


def test_restore_is_exact_when_the_changelog_last_batch_is_large(
    broker: BrokerUnderTest, tmp_path: Path
) -> None:
    topic = topic_name()
    worker = start_counting_worker(broker, topic, tmp_path, "b")
    try:
        worker.wait_ready(READY_BOUND_S * 2)
        # one long-lingering producer: each partition's records arrive as one large batch
        expected = produce_keyed(broker, topic, 4000, keys=1000, linger_ms=2000)
        wait_counts([worker], expected)
    finally:
        worker.stop()
    restarted = start_counting_worker(broker, topic, tmp_path, "b")
    try:
        restarted.wait_ready(READY_BOUND_S * 2)
        assert sum(wait_counts([restarted], expected).values()) == 4000
    finally:
        restarted.stop()
    assert "Error in recovery" not in restarted.logs()


def test_worker_is_ready_within_bound(broker: BrokerUnderTest, tmp_path: Path) -> None:
    worker = start_counting_worker(broker, topic_name(), tmp_path, "c")
    try:
        assert worker.wait_ready(READY_BOUND_S * 2) < READY_BOUND_S
    finally:
        worker.stop()


def test_two_workers_share_partitions_and_one_takes_over(broker: BrokerUnderTest, tmp_path: Path) -> None:
    topic = topic_name()
    # scale-out: the second worker joins a running one (two members joining the mock cluster's
    # group in the same instant can meet an InvalidRequest from its SyncGroup, see README)
    a = start_counting_worker(broker, topic, tmp_path, "a2")
    b: CountingWorker | None = None
    try:
        a.wait_ready(READY_BOUND_S * 2)
        b = start_counting_worker(broker, topic, tmp_path, "b2")
        b.wait_ready(READY_BOUND_S * 2)
        deadline = time.monotonic() + TAKEOVER_BOUND_S
        while time.monotonic() < deadline:
            sa, sb = a.snapshot()["assigned"], b.snapshot()["assigned"]
            if sa and sb and sorted(sa + sb) == [0, 1, 2, 3]:  # type: ignore[operator]
                break
            time.sleep(0.2)
        else:
            raise AssertionError(
                f"partitions never split: {a.snapshot()['assigned']} / {b.snapshot()['assigned']}"
            )
        expected = produce_keyed(broker, topic, 3000, keys=200)
        wait_counts([a, b], expected)
        b.stop()
        stopped = time.monotonic()
        while a.snapshot()["assigned"] != [0, 1, 2, 3]:
            assert time.monotonic() - stopped < TAKEOVER_BOUND_S, "survivor did not take over every partition"
            time.sleep(0.2)
        more = produce_keyed(broker, topic, 1000, keys=200)
        wait_counts([a], expected + more)
    finally:
        a.stop()
        if b is not None:
            b.stop()

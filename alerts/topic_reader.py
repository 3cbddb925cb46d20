"""Consumers that assign their partitions themselves (no group joined, nothing committed): the API's
SSE feed and its erasure feed, which every API process reads whole, and each worker process's
erasure follower (``streams.erasure_follower``)."""

from __future__ import annotations

import time
import uuid
from collections.abc import Callable

import confluent_kafka
from confluent_kafka import TopicPartition

#: the broker answers a fetch after at most this long (librdkafka's 500 ms default would be most of
#: the 1 s source-to-alert budget)
FETCH_WAIT_MS = 20


def own_reader(
    bootstrap: str, group_id: str, *, eof: bool = False, fetch_wait_ms: int = FETCH_WAIT_MS
) -> confluent_kafka.Consumer:
    """A consumer for partitions its process assigns itself; ``group_id`` is never joined (a random
    suffix is added); ``eof``: it reports each partition's end as an event; ``fetch_wait_ms``: how
    long the broker may hold a fetch that has nothing new (longer: fewer idle fetches)."""
    return confluent_kafka.Consumer(
        {
            "bootstrap.servers": bootstrap,
            "group.id": f"{group_id}-{uuid.uuid4().hex[:8]}",
            "enable.auto.commit": False,
            "fetch.wait.max.ms": fetch_wait_ms,
            "enable.partition.eof": eof,
            "log_level": 3,
        }
    )


def assign_when_present(
    consumer: confluent_kafka.Consumer,
    name: str,
    stopped: Callable[[], bool],
    *,
    back: int = 0,
    if_absent: Callable[[], object] = lambda: None,
) -> dict[int, int]:
    """Assign every partition of topic ``name`` once it exists, ``back`` records before its end
    (0: at its end); blocking, until then or ``stopped()``. A topic that is not there at the first
    look (``if_absent`` is called then) is read from its start: all of it was written after this
    call. -> the end of each partition that has records to read up to it (what was written before
    this call)."""
    first = True
    while not stopped():
        topic = consumer.list_topics(name, timeout=10).topics.get(name)
        if topic is not None and topic.error is None and topic.partitions:
            parts, ends = [], {}
            for p in sorted(topic.partitions):
                offset = confluent_kafka.OFFSET_BEGINNING
                if first:
                    low, high = consumer.get_watermark_offsets(TopicPartition(name, p), timeout=10)
                    offset = max(low, high - back)
                    if offset < high:
                        ends[p] = high
                parts.append(TopicPartition(name, p, offset))
            consumer.assign(parts)
            return ends
        if first:
            if_absent()
        first = False
        time.sleep(0.5)  # the topic appears with its first record (or a producer's first metadata)
    return {}

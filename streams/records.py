"""What stages send (``Out``), and micro-batched records on the stream's internal topics.

Why. Faust's consumer spends about 70 us of CPU on every record it hands to an agent, and its
``topic.send`` about 70 us more, whatever the record holds (measured on the embedded broker: 68-72
us per consumed record with ``events()`` or ``take_events()``, 140-150 us with a send each; a bare
aiokafka consumer reads the same records at ~4 us). With one record per activity, per mention and
per identity change, that machinery alone capped a worker at a few hundred raw events per second.
So the internal topics with one record per item (``social.activity``, ``scores.mentions``) carry
batches: one record holds every item of a stage batch that belongs to one partition.

The contract of a batch record:
- the value is ``{"batch": 1, "items": [...]}`` (``items``: the JSON objects a one-item record
  would carry, e.g. ``Activity.to_dict()``), its header ``gs-batch: 1``;
- every item's key hashes (Kafka's murmur2 default partitioner, the one aiokafka and the Java
  client use) to the partition the record is sent to, so per-key order and partition affinity
  (tables keyed by account, one graph writer per key) are exactly those of one-item records;
- the record's key is the first item's key (so a tool that re-partitions by key keeps the batch
  together);
- a record is split before it passes ``MAX_RECORD_BYTES``.

Readers accept both a batch record and a one-item record (``unpack``): tools and older producers
may still write single items.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import faust
import orjson

from streams.partitioner import partition_for


@dataclass(frozen=True, slots=True)
class Out:
    """One record a stage sends; ``partition`` None: the producer's partitioner picks by key."""

    topic: str
    key: bytes | None
    value: bytes
    headers: dict[str, bytes] | None = None
    partition: int | None = None


BATCH_HEADER = "gs-batch"
#: a batch record stays well under the brokers' default 1 MB message limit
MAX_RECORD_BYTES = 512 * 1024
_PREFIX = b'{"batch":1,"items":['
_SUFFIX = b"]}"


def batch_records(
    topic: str, items: Iterable[tuple[bytes, bytes]], partitions: int, max_bytes: int = MAX_RECORD_BYTES
) -> list[Out]:
    """``(key, encoded item)`` pairs -> batch records for ``topic``, one (or more, past ``max_bytes``)
    per partition, items in their given order within each partition."""
    per_partition: dict[int, list[tuple[bytes, bytes]]] = {}
    for key, value in items:
        per_partition.setdefault(partition_for(key, partitions), []).append((key, value))
    outs: list[Out] = []
    for partition in sorted(per_partition):
        chunk: list[bytes] = []
        first_key = b""
        size = 0
        for key, value in per_partition[partition]:
            if chunk and size + len(value) + 1 > max_bytes:
                outs.append(_record(topic, first_key, chunk, partition))
                chunk, size = [], 0
            if not chunk:
                first_key = key
            chunk.append(value)
            size += len(value) + 1
        if chunk:
            outs.append(_record(topic, first_key, chunk, partition))
    return outs


def _record(topic: str, key: bytes, values: Sequence[bytes], partition: int) -> Out:
    return Out(topic, key, _PREFIX + b",".join(values) + _SUFFIX, {BATCH_HEADER: b"1"}, partition)


def unpack(value: bytes) -> list[Any]:
    """The items of a record: a batch record's ``items``, or the record's one JSON value."""
    decoded = orjson.loads(value)
    if isinstance(decoded, dict) and decoded.get("batch") == 1 and isinstance(decoded.get("items"), list):
        return list(decoded["items"])
    return [decoded]


class KeyPartitionedTable(faust.Table):  # type: ignore[type-arg]  # faust is untyped
    """A Faust table whose changelog partition comes from the key (Kafka's default partitioner)
    instead of from the record being processed. A batch agent writes keys of several partitions
    while processing one record; this keeps each key where a one-item record for it would have put
    it, so that a take-over restores it to the worker that receives that key's records."""

    def partition_for_key(self, key: Any) -> int | None:
        raw = key if isinstance(key, bytes) else str(key).encode()
        return partition_for(raw, int(self.partitions or 1))


def key_partitioned_table(app: faust.App, name: str, partitions: int) -> Any:
    """``app.Table(name, ...)`` (str keys, bytes values, no default) as a ``KeyPartitionedTable``."""
    return app.tables.add(
        KeyPartitionedTable(
            app,
            name=name,
            default=None,
            beacon=app.tables.beacon,
            partitions=partitions,
            key_type=str,  # Faust derives the changelog serializers from these types (bytes -> raw)
            value_type=bytes,
        )
    )

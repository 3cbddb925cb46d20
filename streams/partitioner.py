"""Kafka's default partition for a key, computed faster than aiokafka computes it.

Kafka's default partitioner (the Java client's, aiokafka's ``DefaultPartitioner``, librdkafka's
``murmur2_random``) puts a key on partition ``(murmur2(key) & 0x7fffffff) % partitions``. Per-key
order and the tables keyed by account rely on every producer agreeing on it
(``streams.records``).

aiokafka computes murmur2 in Python a byte at a time: ~7 us a key here, about 4 % of each worker's
Python time flat out (py-spy, benchmarks/RESULTS.md). This module gives the same numbers with
the key's 4-byte words unpacked at once (about half the time), and remembers the hashes of the last
``KEYS`` keys: most records are keyed by an account id, and active accounts recur. The workers use it
for their batch records (``partition_for``) and as their producer's partitioner
(``KeyPartitioner``, Faust's ``producer_partitioner``).
"""

from __future__ import annotations

import functools
import random
import struct
from collections.abc import Sequence

#: key hashes remembered (an entry with its key of ~40 bytes: ~250 bytes, so ~16 MB a process when full)
KEYS = 65_536

_SEED = 0x9747B28C
_M = 0x5BD1E995
_MASK = 0xFFFFFFFF


def murmur2(data: bytes) -> int:
    """MurmurHash2 (32 bits) of ``data`` as Kafka's clients compute it (seed ``0x9747b28c``)."""
    length = len(data)
    h = _SEED ^ length
    words = length >> 2
    if words:
        for k in struct.unpack_from(f"<{words}I", data):
            k = (k * _M) & _MASK
            k ^= k >> 24
            h = ((h * _M) & _MASK) ^ ((k * _M) & _MASK)
    rest = length & 3
    if rest:
        tail = length - rest
        if rest == 3:
            h ^= data[tail + 2] << 16
        if rest >= 2:
            h ^= data[tail + 1] << 8
        h = ((h ^ data[tail]) * _M) & _MASK
    h ^= h >> 13
    h = (h * _M) & _MASK
    return h ^ (h >> 15)


@functools.lru_cache(maxsize=KEYS)
def _positive_hash(key: bytes) -> int:
    return murmur2(key) & 0x7FFFFFFF


def partition_for(key: bytes, partitions: int) -> int:
    """The partition Kafka's default partitioner gives ``key`` among ``partitions``."""
    return _positive_hash(bytes(key)) % partitions


class KeyPartitioner:
    """A producer's partitioner (aiokafka's ``partitioner``, Faust's ``producer_partitioner``) that
    agrees with the default one: a key's partition by ``partition_for``; no key, one at random among
    the available partitions (all of them when none is)."""

    def __call__(self, key: bytes | None, all_partitions: Sequence[int], available: Sequence[int]) -> int:
        if key is None:
            return random.choice(available or all_partitions)
        return all_partitions[partition_for(key, len(all_partitions))]

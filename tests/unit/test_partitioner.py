"""Kafka's default partition for a key (streams.partitioner): the same numbers as the Java client and
aiokafka, whatever the key, the partition count or the cache's state."""

from __future__ import annotations

from collections import Counter

import pytest
from aiokafka.partitioner import DefaultPartitioner
from aiokafka.partitioner import murmur2 as aiokafka_murmur2
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.partitioner import KEYS, KeyPartitioner, murmur2, partition_for

#: the Java client's own test vectors (org.apache.kafka.common.utils.UtilsTest#testMurmur2), as
#: signed 32-bit ints
JAVA = {
    b"21": -973932308,
    b"foobar": -790332482,
    b"a-little-bit-long-string": -985981536,
    b"a-little-bit-longer-string": -1486304829,
    b"lkjh234lh9fiuh90y23oiuhsafujhadof229phr9h19h89h8": -58897971,
    b"abc": 479470107,
}


@pytest.mark.parametrize(("key", "expected"), JAVA.items())
def test_the_java_clients_vectors(key: bytes, expected: int) -> None:
    assert murmur2(key) == expected & 0xFFFFFFFF


@settings(max_examples=2_000, deadline=None)
@given(st.binary(max_size=200))
def test_murmur2_is_aiokafkas(key: bytes) -> None:
    assert murmur2(key) == aiokafka_murmur2(key)


@settings(max_examples=500, deadline=None)
@given(st.lists(st.binary(min_size=0, max_size=60), min_size=1, max_size=40), st.integers(1, 64))
def test_the_partitioner_agrees_with_the_default_one(keys: list[bytes], partitions: int) -> None:
    ours, default = KeyPartitioner(), DefaultPartitioner()
    all_partitions = list(range(partitions))
    for key in keys + keys:  # the second time from the cache
        assert ours(key, all_partitions, all_partitions) == default(key, all_partitions, all_partitions)
        assert partition_for(key, partitions) == all_partitions.index(ours(key, all_partitions, []))
        assert partition_for(bytearray(key), partitions) == partition_for(key, partitions)


def test_more_keys_than_the_cache_holds_keep_their_partitions() -> None:
    keys = [f"bluesky:did:plc:{i:024d}".encode() for i in range(KEYS + 1_000)]
    first = [partition_for(k, 16) for k in keys]
    assert [partition_for(k, 16) for k in keys] == first
    assert first == [(aiokafka_murmur2(k) & 0x7FFFFFFF) % 16 for k in keys]
    assert set(first) == set(range(16))


def test_no_key_goes_to_an_available_partition_else_to_any() -> None:
    partitioner = KeyPartitioner()
    picked = Counter(partitioner(None, [0, 1, 2, 3], [1, 3]) for _ in range(400))
    assert set(picked) == {1, 3}
    assert {partitioner(None, [0, 1, 2, 3], []) for _ in range(400)} == {0, 1, 2, 3}

"""Batch records (streams.records): what a one-item record would carry, grouped by partition."""

from __future__ import annotations

import orjson
from hypothesis import given, settings
from hypothesis import strategies as st

from streams.partitioner import partition_for
from streams.records import BATCH_HEADER, batch_records, unpack

keys = st.text(min_size=1, max_size=30).map(str.encode)
items = st.lists(st.tuples(keys, st.integers(0, 10**6)), max_size=120)


@settings(max_examples=200, deadline=None)
@given(items, st.integers(1, 6), st.sampled_from([64, 200, 512 * 1024]))
def test_every_item_once_in_its_keys_partition_in_order(
    pairs: list[tuple[bytes, int]], partitions: int, max_bytes: int
) -> None:
    encoded = [(k, orjson.dumps({"k": k.decode(), "n": i, "seq": j})) for j, (k, i) in enumerate(pairs)]
    outs = batch_records("t", encoded, partitions, max_bytes=max_bytes)
    got: list[dict[str, object]] = []
    for out in outs:
        assert out.topic == "t" and out.headers == {BATCH_HEADER: b"1"}
        records = unpack(out.value)
        assert records and out.key == str(records[0]["k"]).encode()
        assert {partition_for(str(r["k"]).encode(), partitions) for r in records} == {out.partition}
        assert len(out.value) <= max_bytes + 64 or len(records) == 1  # split unless one item is bigger
        got.extend(records)
    assert sorted(int(str(r["seq"])) for r in got) == list(range(len(pairs)))
    for p in range(partitions):  # per-partition (so per-key) order is the input's
        seqs = [int(str(r["seq"])) for r in got if partition_for(str(r["k"]).encode(), partitions) == p]
        assert seqs == sorted(seqs)


def test_readers_take_one_item_records_too() -> None:
    assert unpack(b'{"event_id": "e1"}') == [{"event_id": "e1"}]
    assert unpack(b'{"batch": 1, "items": [{"a": 1}, {"a": 2}]}') == [{"a": 1}, {"a": 2}]
    assert unpack(b'{"batch": 2, "items": []}') == [{"batch": 2, "items": []}]  # not ours: one item

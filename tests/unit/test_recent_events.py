"""The bounded memory of recent event ids (activity.recent)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from activity.recent import RecentEvents
from activity.schema import event_hash

ids = st.lists(st.text(min_size=1, max_size=12), max_size=60)


@given(ids, st.integers(min_value=1, max_value=20))
def test_memory_keeps_the_latest_distinct_ids_up_to_its_capacity(events: list[str], capacity: int) -> None:
    memory = RecentEvents(capacity=capacity)
    added = [e for e in events if memory.add(e)]
    assert len(memory.hashes) == min(capacity, len(added))
    for e in added[-capacity:]:
        assert event_hash(e) in memory.hashes
        assert not memory.add(e)  # the latest are still known: nothing changes
    restored = RecentEvents.from_bytes(memory.to_bytes(), capacity)
    assert restored == memory


def test_an_id_beyond_the_capacity_is_forgotten_and_a_smaller_capacity_keeps_the_newest() -> None:
    memory = RecentEvents(capacity=2)
    assert memory.add("a") and memory.add("b") and memory.add("c")
    assert memory.hashes == [event_hash("b"), event_hash("c")]
    assert RecentEvents.from_bytes(memory.to_bytes(), 1).hashes == memory.hashes[-1:]
    assert RecentEvents.from_bytes(None) == RecentEvents()

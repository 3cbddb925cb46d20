"""The bounded memory of recent event ids (activity.recent)."""

from __future__ import annotations

from hypothesis import given
from hypothesis import strategies as st

from activity.recent import RecentEvents

ids = st.lists(st.text(min_size=1, max_size=12), max_size=60)


@given(ids, st.integers(min_value=1, max_value=20))
def test_memory_keeps_the_latest_distinct_ids_up_to_its_capacity(events: list[str], capacity: int) -> None:
    memory = RecentEvents(capacity=capacity)
    added = [e for e in events if memory.add(e)]
    assert len(memory.hashes) == min(capacity, len(added))
    for e in added[-capacity:]:
        assert e in memory
        assert not memory.add(e)  # the latest are still known: nothing changes
    restored = RecentEvents.from_bytes(memory.to_bytes(), capacity)
    assert restored == memory


def test_an_id_beyond_the_capacity_is_forgotten_and_a_smaller_capacity_keeps_the_newest() -> None:
    memory = RecentEvents(capacity=2)
    assert memory.add("a") and memory.add("b") and memory.add("c")
    assert "a" not in memory and "b" in memory and "c" in memory
    assert RecentEvents.from_bytes(memory.to_bytes(), 1).hashes == memory.hashes[-1:]
    assert RecentEvents.from_bytes(None) == RecentEvents()
    assert 3 not in memory  # not an event id

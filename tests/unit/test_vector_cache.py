"""The encoder's cache (``embedding.vector_cache``): an LRU of vectors that knows, exactly, whose
texts each vector was used for, so an erasure drops them all."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, invariant, rule

from embedding.vector_cache import Vector, VectorCache


def vec(i: int) -> Vector:
    return np.full(4, i, dtype=np.float32)


def test_forgetting_an_owner_drops_every_vector_used_for_it_and_only_those() -> None:
    cache = VectorCache(10)
    for key in ("a", "b", "c"):
        cache.put(key, vec(ord(key)))
    cache.note("a", "anna")
    cache.note("b", "anna")
    cache.note("b", "bob")  # the same text, posted by both
    cache.note("c", "bob")
    assert cache.owners_of("b") == {"anna", "bob"}
    assert cache.forget_owners(["anna"]) == 2
    assert "a" not in cache and "b" not in cache and "c" in cache
    assert cache.owners_of("c") == {"bob"}
    assert cache.forget_owners(["anna"]) == 0  # nothing left of hers


def test_a_forgotten_owner_is_not_noted_again_the_vector_is_dropped_instead() -> None:
    """A model call that began before the erasure returns afterwards: its vector must not stay."""
    cache = VectorCache(10)
    cache.forget_owners(["gone"])
    cache.put("late", vec(1))
    cache.note("late", "gone")
    assert "late" not in cache and len(cache) == 0


def test_a_vector_used_by_more_owners_than_it_may_note_is_dropped() -> None:
    cache = VectorCache(10, owners_per_vector=2)
    cache.put("copied", vec(1))
    cache.note("copied", "a")
    cache.note("copied", "b")
    cache.note("copied", "a")  # already noted: nothing changes
    assert "copied" in cache
    cache.note("copied", "c")
    assert "copied" not in cache and cache.forget_owners(["a", "b", "c"]) == 0


def test_eviction_takes_the_least_recently_used_and_their_notes() -> None:
    cache = VectorCache(2)
    cache.put("old", vec(1))
    cache.note("old", "anna")
    cache.put("mid", vec(2))
    assert cache.get("old") is not None  # used: "mid" is now the oldest
    cache.put("new", vec(3))
    assert "mid" not in cache and "old" in cache and "new" in cache
    cache.put("newer", vec(4))
    assert "old" not in cache and cache.owners_of("old") == frozenset()
    assert cache.forget_owners(["anna"]) == 0


def test_a_vector_put_again_keeps_its_notes_and_size_zero_keeps_nothing() -> None:
    """Two model calls that computed the same text at once: the second put loses no owner."""
    cache = VectorCache(3)
    cache.put("k", vec(1))
    cache.note("k", "anna")
    cache.put("k", vec(1))
    assert cache.owners_of("k") == {"anna"}
    assert cache.forget_owners(["anna"]) == 1
    empty = VectorCache(0)
    empty.put("k", vec(1))
    assert len(empty) == 0 and empty.get("k") is None
    with pytest.raises(ValueError, match="owners_per_vector"):
        VectorCache(1, owners_per_vector=0)


KEYS = st.sampled_from([f"k{i}" for i in range(8)])
OWNERS = st.sampled_from([f"o{i}" for i in range(6)])


class CacheMachine(RuleBasedStateMachine):
    """Against a plain model of what each cached vector was used for since it was cached: no cached
    vector was ever used for a forgotten owner, and its noted owners are exactly those uses."""

    def __init__(self) -> None:
        super().__init__()
        self.cache = VectorCache(5, owners_per_vector=3)
        self.used: dict[str, set[str]] = {}  # cached key -> owners it was used for since cached
        self.forgotten: set[str] = set()

    @rule(key=KEYS, value=st.integers(0, 100))
    def put(self, key: str, value: int) -> None:
        self.cache.put(key, vec(value))
        self.used.setdefault(key, set())  # already cached: its notes stay

    @rule(key=KEYS, owner=OWNERS)
    def note(self, key: str, owner: str) -> None:
        self.cache.note(key, owner)
        if key in self.used:
            self.used[key].add(owner)

    @rule(key=KEYS)
    def get(self, key: str) -> None:
        self.cache.get(key)

    @rule(owners=st.lists(OWNERS, max_size=3))
    def forget(self, owners: list[str]) -> None:
        self.cache.forget_owners(owners)
        self.forgotten.update(owners)

    @rule(key=KEYS)
    def drop(self, key: str) -> None:
        self.cache.drop(key)

    @invariant()
    def cached_vectors_know_all_their_owners_and_none_is_forgotten(self) -> None:
        for key in list(self.used):
            if key not in self.cache:
                del self.used[key]  # evicted or dropped: its notes went with it
        assert len(self.cache) <= 5
        for key, owners in self.used.items():
            assert self.cache.owners_of(key) == owners
            assert not owners & self.forgotten
            assert len(owners) <= 3


TestCacheMachine = CacheMachine.TestCase
TestCacheMachine.settings = settings(max_examples=200, stateful_step_count=40, deadline=None)

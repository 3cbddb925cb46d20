"""Exact incremental core numbers against networkx.core_number after every insert."""

from __future__ import annotations

import gzip
from pathlib import Path

import networkx as nx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring.kcore import IncrementalCoreNumbers

SAMPLE = Path(__file__).parent.parent / "data" / "higgs_reply_sample.edgelist.gz"


def reference(edges: list[tuple[str, str]]) -> dict[str, int]:
    g = nx.Graph()
    for u, v in edges:
        g.add_node(u)
        g.add_node(v)
        if u != v:
            g.add_edge(u, v)
    result: dict[str, int] = nx.core_number(g)
    return result


@settings(max_examples=100, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 12), st.integers(0, 12)), min_size=1, max_size=60))
def test_core_numbers_stay_exact_and_changes_are_reported(pairs: list[tuple[int, int]]) -> None:
    kc = IncrementalCoreNumbers()
    edges: list[tuple[str, str]] = []
    for a, b in pairs:
        before = kc.cores()
        changed = kc.add_edge(f"n{a}", f"n{b}")
        edges.append((f"n{a}", f"n{b}"))
        ref = reference(edges)
        assert kc.cores() == ref
        assert changed == {n for n, c in ref.items() if before.get(n, 0) != c}


def test_higgs_reply_sample_and_state_round_trip() -> None:
    with gzip.open(SAMPLE, "rt") as f:
        edges = [(a, b) for a, b, _ in (line.split() for line in f if line.strip())]
    kc = IncrementalCoreNumbers()
    for u, v in edges[:900]:
        kc.add_edge(u, v)
    resumed = IncrementalCoreNumbers.from_state(kc.to_state())
    for u, v in edges[900:]:
        kc.add_edge(u, v)
        resumed.add_edge(u, v)
    ref = reference(edges)
    assert kc.cores() == ref == resumed.cores()
    assert max(ref.values()) == 3
    assert kc.core("unknown") == 0 and kc.add_edge("x", "x") == set() and kc.core("x") == 0


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 14), st.integers(0, 14)), min_size=1, max_size=80),
    st.integers(0, 80),
    st.integers(0, 80),
)
def test_a_recount_in_slices_between_inserts_keeps_core_numbers_exact(
    pairs: list[tuple[int, int]], cut1: int, cut2: int
) -> None:
    """Insert some ties one by one, recount with the next ones (one slice per step), insert the rest
    one by one: after each phase every core number, and every max-core degree the inserts rely on,
    is exact."""
    ties = [(f"n{a}", f"n{b}") for a, b in pairs]
    first, second = sorted((min(cut1, len(ties)), min(cut2, len(ties))))
    kc = IncrementalCoreNumbers()
    for u, v in ties[:first]:
        kc.add_edge(u, v)
    before = kc.cores()
    kc.start_recount(ties[first:second])
    assert all(c == before.get(n, 0) for n, c in kc.cores().items())  # unchanged until it is done
    changed = None
    while changed is None:
        changed = kc.recount_step(deadline=0.0)  # a deadline already past: one slice a step
    ref = reference(ties[:second])
    assert kc.cores() == ref
    assert changed == {n for n, c in ref.items() if before.get(n, 0) != c}
    assert kc._mcd == {n: sum(1 for x in kc._adj[n] if ref[x] >= ref[n]) for n in kc._adj}
    assert kc.ties == sum(len(ns) for ns in kc._adj.values()) // 2
    for u, v in ties[second:]:
        kc.add_edge(u, v)
    assert kc.cores() == reference(ties)


def test_no_tie_is_inserted_while_a_recount_runs() -> None:
    kc = IncrementalCoreNumbers()
    kc.start_recount([("a", "b")])
    with pytest.raises(RuntimeError, match="recount is running"):
        kc.add_edge("b", "c")
    assert kc.recount_step() == {"a", "b"} and kc.core("a") == 1


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.tuples(st.integers(0, 14), st.integers(0, 14)), min_size=1, max_size=80),
    st.integers(0, 12),
)
def test_an_insert_given_up_changes_nothing_and_a_recount_takes_its_tie(
    pairs: list[tuple[int, int]], max_work: int
) -> None:
    kc = IncrementalCoreNumbers()
    given_up: list[tuple[str, str]] = []
    for a, b in pairs:
        u, v = f"n{a}", f"n{b}"
        kc.add_node(u)
        kc.add_node(v)
        before = (kc.cores(), dict(kc._mcd), {n: set(ns) for n, ns in kc._adj.items()}, kc.ties)
        if kc.try_add_edge(u, v, max_work) is None:
            given_up.append((u, v))
            assert (kc.cores(), kc._mcd, {n: set(ns) for n, ns in kc._adj.items()}, kc.ties) == before
    kc.start_recount(given_up)
    kc.recount_step()
    assert kc.cores() == reference([(f"n{a}", f"n{b}") for a, b in pairs])


def test_the_adjacency_is_out_of_the_garbage_collectors_way() -> None:
    """A full collection walks every tracked object; the neighbour containers must not be among them
    (sets always are; dicts of strings are not)."""
    import gc

    kc = IncrementalCoreNumbers()
    for i in range(50):
        kc.add_edge(f"a{i}", f"a{(i * 7 + 1) % 50}")
    restored = IncrementalCoreNumbers.from_state(kc.to_state())
    for engine in (kc, restored, kc.copy()):
        assert not any(gc.is_tracked(ns) for ns in engine._adj.values())

"""Exact incremental core numbers against networkx.core_number after every insert."""

from __future__ import annotations

import gzip
from pathlib import Path

import networkx as nx
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

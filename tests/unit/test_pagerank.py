"""Incremental weighted PageRank against networkx's, on a real Higgs reply sample and on small
generated graphs (order independence, batching, decay, dangling nodes, persistence)."""

from __future__ import annotations

import gzip
import math
import random
from pathlib import Path

import networkx as nx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from scipy.stats import spearmanr  # type: ignore[import-untyped]

from scoring.pagerank import IncrementalPageRank, WeightedEdge

SAMPLE = Path(__file__).parent.parent / "data" / "higgs_reply_sample.edgelist.gz"
TOL = 1e-4


def load_sample() -> list[WeightedEdge]:
    with gzip.open(SAMPLE, "rt") as f:
        rows = [line.split() for line in f if line.strip()]
    return [WeightedEdge(a, b, float(w)) for a, b, w in rows]


def exact(edges: list[WeightedEdge], half_life_s: float | None = None, now: float = 0.0) -> dict[str, float]:
    """networkx PageRank, tight tolerance, over the summed (decayed) weights of ``edges``."""
    g = nx.DiGraph()
    for e in edges:
        w = e.weight * (2.0 ** ((e.at - now) / half_life_s) if half_life_s else 1.0)
        if g.has_edge(e.src, e.dst):
            g[e.src][e.dst]["weight"] += w
        else:
            g.add_edge(e.src, e.dst, weight=w)
    result: dict[str, float] = nx.pagerank(g, alpha=0.85, weight="weight", tol=1e-13, max_iter=10_000)
    return result


def top(scores: dict[str, float], k: int) -> set[str]:
    return set(sorted(scores, key=lambda n: (-scores[n], n))[:k])


def max_rel_error(est: dict[str, float], ref: dict[str, float]) -> float:
    assert est.keys() == ref.keys()
    return max(abs(est[n] - ref[n]) / ref[n] for n in ref)


def test_higgs_reply_sample_as_a_stream_matches_networkx_at_every_checkpoint() -> None:
    edges = load_sample()
    assert len(edges) == 1420
    pr = IncrementalPageRank(tol=TOL)
    n = len(edges)
    done = 0
    for fraction in (0.25, 0.5, 0.75, 1.0):
        upto = int(n * fraction)
        for i in range(done, upto, 7):  # batches of 7 edges, as a stream would deliver them
            pr.add_edges(edges[i : min(i + 7, upto)])
        done = upto
        ref = exact(edges[:upto])
        est = pr.pageranks()
        nodes = sorted(ref)
        rho = spearmanr([est[x] for x in nodes], [ref[x] for x in nodes]).statistic
        assert rho >= 0.99, (fraction, rho)
        assert len(top(est, 100) & top(ref, 100)) >= 95, fraction
        # the relative error bound of the residual invariant (normalization adds at most as much again)
        assert max_rel_error(est, ref) <= 2.5 * TOL, fraction
    assert math.isclose(sum(pr.pageranks().values()), 1.0, rel_tol=1e-12)


def test_dangling_nodes_and_self_loops_follow_networkx() -> None:
    edges = [
        WeightedEdge("a", "b", 1.0),
        WeightedEdge("b", "c", 2.0),
        WeightedEdge("c", "c", 1.0),  # self-loop, kept as networkx keeps it
        WeightedEdge("c", "d", 1.0),  # d dangles
        WeightedEdge("e", "d", 3.0),  # e has no in-edges
        WeightedEdge("d", "a", 0.5),  # d stops dangling: its rank now flows only to a
    ]
    pr = IncrementalPageRank(tol=1e-8)
    for k in range(1, len(edges) + 1):
        pr.add_edges(edges[k - 1 : k])
        assert max_rel_error(pr.pageranks(), exact(edges[:k])) < 1e-6, k
    assert pr.ratio("e") == pytest.approx(1.0, rel=1e-12)  # nobody points to e: the baseline
    assert pr.ratio("nobody") == 0.0 and pr.pagerank("nobody") == 0.0


def test_age_decay_equals_networkx_on_decayed_weights_across_rescales() -> None:
    half_life = 10.0
    rnd = random.Random(7)
    nodes = [f"n{i}" for i in range(25)]
    # 6,000 s of events = 600 half-lives: the stored weights must be rescaled on the way
    edges = [
        WeightedEdge(rnd.choice(nodes), rnd.choice(nodes), rnd.choice([1.0, 2.0, 3.0]), at=float(t * 20))
        for t in range(300)
    ]
    pr = IncrementalPageRank(tol=1e-8, half_life_s=half_life)
    for i in range(0, len(edges), 10):
        pr.add_edges(edges[i : i + 10])
    now = edges[-1].at
    # only the last ~40 half-lives matter numerically; older edges still shape their rows
    assert max_rel_error(pr.pageranks(), exact(edges, half_life, now)) < 1e-6


def test_recent_interactions_outweigh_old_ones() -> None:
    pr = IncrementalPageRank(tol=1e-8, half_life_s=3600.0)
    pr.add_edges([WeightedEdge("fan", "old_star", 1.0, at=0.0), WeightedEdge("x", "fan", 1.0, at=0.0)])
    pr.add_edges([WeightedEdge("fan", "new_star", 1.0, at=10 * 3600.0)])
    assert pr.out_weights("fan")["new_star"] == pytest.approx(1024 / 1025)
    assert pr.pagerank("new_star") > 10 * (pr.pagerank("old_star") - pr.pagerank("x"))


def test_bad_weights_are_rejected_before_anything_is_applied() -> None:
    pr = IncrementalPageRank()
    pr.add_edge("a", "b", 1.0)
    before = pr.to_state()
    for bad in (0.0, -1.0, math.inf, math.nan):
        with pytest.raises(ValueError, match="weight must be"):
            pr.add_edges([WeightedEdge("a", "c", 1.0), WeightedEdge("a", "b", bad)])
    assert pr.to_state() == before
    with pytest.raises(ValueError, match="alpha"):
        IncrementalPageRank(alpha=1.0)


def test_state_round_trip_resumes_exactly() -> None:
    edges = load_sample()
    a = IncrementalPageRank()
    a.add_edges(edges[:700])
    b = IncrementalPageRank.from_state(a.to_state())
    a.add_edges(edges[700:])
    b.add_edges(edges[700:])
    assert a.pageranks() == pytest.approx(b.pageranks(), rel=1e-9)


def test_settle_tightens_the_estimate() -> None:
    edges = load_sample()
    pr = IncrementalPageRank(tol=1e-2)
    pr.add_edges(edges)
    ref = exact(edges)
    loose = max_rel_error(pr.pageranks(), ref)
    assert pr.settle(tol=1e-8) > 0
    assert max_rel_error(pr.pageranks(), ref) < min(loose, 1e-6)


small_graphs = st.lists(
    st.tuples(st.integers(0, 7), st.integers(0, 7), st.sampled_from([0.5, 1.0, 2.0, 3.0])),
    min_size=1,
    max_size=40,
)


@settings(max_examples=40, deadline=None)
@given(small_graphs, st.randoms(use_true_random=False), st.integers(1, 6))
def test_order_and_batching_do_not_change_the_result(
    triples: list[tuple[int, int, float]], rnd: random.Random, batch: int
) -> None:
    edges = [WeightedEdge(f"n{a}", f"n{b}", w) for a, b, w in triples]
    shuffled = edges[:]
    rnd.shuffle(shuffled)
    one = IncrementalPageRank(tol=1e-9)
    one.add_edges(edges)
    other = IncrementalPageRank(tol=1e-9)
    for i in range(0, len(shuffled), batch):
        other.add_edges(shuffled[i : i + batch])
    ref = exact(edges)
    for pr in (one, other):
        scores = pr.pageranks()
        assert math.isclose(sum(scores.values()), 1.0, rel_tol=1e-9)
        assert max_rel_error(scores, ref) < 1e-6

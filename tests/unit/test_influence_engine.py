"""The influence engine: scores follow the edges, duplicates change nothing, restarts resume."""

from __future__ import annotations

import gzip
import random
from pathlib import Path

import networkx as nx
import orjson
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from scoring.composite import CompositeScore
from scoring.influence_engine import (
    InfluenceEdge,
    InfluenceEngine,
    RecentKeys,
    edges_from_activity,
    encode_snapshot,
    followers_from_activity,
)

SAMPLE = Path(__file__).parent.parent / "data" / "higgs_reply_sample.edgelist.gz"
T0 = 1_750_000_000.0
DAY = 86_400.0


def sample_edges() -> list[InfluenceEdge]:
    with gzip.open(SAMPLE, "rt") as f:
        rows = [line.split() for line in f if line.strip()]
    return [
        InfluenceEdge(f"higgs-{i}", f"x:{a}", f"x:{b}", "reply", T0 + i * 60.0, weight=2.0 * float(w))
        for i, (a, b, w) in enumerate(rows)
    ]


def test_scores_follow_the_stream_and_agree_with_networkx() -> None:
    edges = sample_edges()
    engine = InfluenceEngine(half_life_s=1e6 * DAY)  # no ageing here: decay has its own tests
    reported: dict[str, CompositeScore] = {}
    for i in range(0, len(edges), 20):
        reported.update(engine.apply(edges[i : i + 20]))
    assert len(engine) == 800
    # without ageing, what apply last reported is still every account's score, up to 1.5 tolerances
    for account, last in reported.items():
        assert engine.score(account).value == pytest.approx(last.value, abs=1.5 * engine.change_tolerance)
    g = nx.DiGraph()
    for e in edges:
        w = (e.weight or 0.0) * 2.0 ** ((e.at - engine.clock) / engine.half_life_s)
        g.add_edge(e.src, e.dst, weight=g.get_edge_data(e.src, e.dst, {"weight": 0.0})["weight"] + w)
    ref = nx.pagerank(g, weight="weight", tol=1e-12, max_iter=1000)
    est = engine.pageranks()
    assert max(abs(est[n] - ref[n]) / ref[n] for n in ref) < 2.5e-3  # the engine's tol is 1e-3
    best = engine.top(5)
    assert best[0].value >= best[-1].value > 0.0
    cores = nx.core_number(nx.Graph([(e.src, e.dst) for e in edges if e.src != e.dst]))
    assert all(engine.score(a).signals.kcore == c for a, c in cores.items())


def test_an_edge_from_an_event_already_applied_changes_nothing() -> None:
    engine = InfluenceEngine()
    e1 = InfluenceEdge("ev1", "x:a", "x:b", "mention", T0)
    e2 = InfluenceEdge("ev1", "x:a", "x:c", "mention", T0)  # same event, another account: applied
    first = engine.apply_detailed([e1, e2, e1])
    assert first.applied == 2 and first.duplicates == 1 and set(first.changed) >= {"x:b", "x:c"}
    before = engine.snapshot()
    again = engine.apply_detailed([e1, e2])
    assert again.applied == 0 and again.duplicates == 2 and again.changed == {}
    assert engine.snapshot() == before


def test_a_captured_state_stays_as_it_was_while_the_engine_goes_on() -> None:
    """The ranker copies the state on its event loop and encodes it on a thread while the loop
    applies more edges: the copy must share nothing mutable with the engine."""
    edges = sample_edges()
    engine = InfluenceEngine(half_life_s=7 * DAY)
    engine.apply(edges[:300])
    engine.set_followers("x:1", 10, T0)
    state = engine.snapshot_state()
    before = encode_snapshot(state)
    engine.apply(edges[300:])  # new accounts, new neighbours, moved ranks and core numbers
    engine.set_followers("x:1", 99, T0 + 1)
    engine.set_followers("x:new", 5, T0 + 1)
    assert encode_snapshot(state) == before
    resumed = InfluenceEngine(half_life_s=7 * DAY)
    resumed.restore(before)
    assert len(resumed) < len(engine)


def test_bad_edges_are_reported_with_a_reason_and_the_rest_applied() -> None:
    engine = InfluenceEngine()
    result = engine.apply_detailed(
        [
            InfluenceEdge("e1", "x:a", "x:b", "shrug", T0),
            InfluenceEdge("e2", "x:a", "x:b", "post", T0),
            InfluenceEdge("e3", "x:a", "x:b", "reply", T0, weight=-1.0),
            InfluenceEdge("e4", "x:a", "x:b", "reply", float("nan")),
            InfluenceEdge("e5", "", "x:b", "reply", T0),
            InfluenceEdge("e6", "x:a", "x:b", "quote", T0),
        ]
    )
    reasons = [r.reason for r in result.rejected]
    assert len(reasons) == 5
    assert "unknown interaction kind 'shrug'" in reasons[0]
    assert "confers no influence" in reasons[1]
    assert result.applied == 1
    assert engine.score("x:b").signals.engagement == pytest.approx(3.0)  # KIND_WEIGHTS[quote]


def test_engagement_decays_and_followers_count_as_reach() -> None:
    engine = InfluenceEngine(half_life_s=DAY)
    engine.apply([InfluenceEdge("e1", "x:a", "x:b", "repost", T0)])
    assert engine.score("x:b").signals.engagement == pytest.approx(2.0)
    assert engine.score("x:b", at=T0 + DAY).signals.engagement == pytest.approx(1.0)
    assert engine.score("x:b").signals.followers is None
    updated = engine.set_followers("x:b", 50_000)
    assert updated is not None and updated.signals.followers == 50_000
    assert engine.set_followers("x:b", 50_001) is None  # below the change tolerance
    with pytest.raises(ValueError, match="followers"):
        engine.set_followers("x:b", -1)


def test_a_restart_from_a_snapshot_resumes_where_it_stopped() -> None:
    edges = sample_edges()
    whole = InfluenceEngine()
    for i in range(0, len(edges), 50):
        whole.apply(edges[i : i + 50])
    first = InfluenceEngine()
    for i in range(0, 700, 50):
        first.apply(edges[i : i + 50])
    first.set_followers("x:16460", 1234)
    whole.set_followers("x:16460", 1234)
    resumed = InfluenceEngine.from_snapshot(first.snapshot())
    resumed.apply(edges[600:])  # redelivered overlap 600..700 changes nothing
    for i in range(700, len(edges), 50):
        first.apply(edges[i : i + 50])
    for account in ("x:16460", edges[5].dst, edges[-1].dst):
        # equal up to PageRank's tolerance (the two apply the tail in different batches)
        assert resumed.score(account).value == pytest.approx(first.score(account).value, abs=1e-4)
        assert resumed.score(account).value == pytest.approx(whole.score(account).value, abs=1e-3)
    with pytest.raises(ValueError, match="snapshot"):
        resumed.restore(b"not a snapshot")


@settings(max_examples=40, deadline=None)
@given(
    st.lists(
        st.tuples(st.integers(0, 6), st.integers(0, 6), st.sampled_from(["mention", "reply", "follow"])),
        min_size=1,
        max_size=30,
    ),
    st.randoms(use_true_random=False),
)
def test_order_and_redelivery_do_not_change_the_scores(
    triples: list[tuple[int, int, str]], rnd: random.Random
) -> None:
    edges = [
        InfluenceEdge(f"e{i}", f"x:{a}", f"x:{b}", kind, T0 + i) for i, (a, b, kind) in enumerate(triples)
    ]
    replayed = edges + rnd.sample(edges, k=len(edges) // 2)
    rnd.shuffle(replayed)
    one, other = InfluenceEngine(tol=1e-9), InfluenceEngine(tol=1e-9)
    one.apply(edges)
    for i in range(0, len(replayed), 3):
        other.apply(replayed[i : i + 3])
    for account in {e.dst for e in edges} | {e.src for e in edges}:
        assert other.score(account).value == pytest.approx(one.score(account).value, abs=1e-6)


def test_deferred_core_numbers_catch_up_when_idle_and_survive_a_restart() -> None:
    edges = sample_edges()
    deferred = InfluenceEngine(kcore_budget_s=0.0)
    for i in range(0, len(edges), 100):
        deferred.apply(edges[i : i + 100])
    assert deferred.kcore_backlog > 0  # a zero budget still does no core work inside apply
    resumed = InfluenceEngine.from_snapshot(deferred.snapshot(), kcore_budget_s=0.0)
    assert resumed.kcore_backlog == deferred.kcore_backlog
    resumed.maintain(0.0)
    # a backlog this long costs less counted afresh than inserted one by one: a recount, in slices
    assert resumed._kc.recounting and resumed.kcore_backlog == deferred.kcore_backlog
    # restored in the middle of the recount: the restored engine counts again
    again = InfluenceEngine.from_snapshot(resumed.snapshot(), kcore_budget_s=0.0)
    cores = nx.core_number(nx.Graph([(e.src, e.dst) for e in edges if e.src != e.dst]))
    for engine in (resumed, again):
        calls = 0
        while engine.kcore_work_waiting:
            engine.maintain(0.0)  # at least a slice of work per call
            calls += 1
        assert calls > 1
        assert all(engine.score(a).signals.kcore == c for a, c in cores.items())


def test_accounts_a_recount_moved_are_still_reported_after_a_restart() -> None:
    edges = sample_edges()
    engine = InfluenceEngine(kcore_budget_s=0.0)
    for i in range(0, len(edges), 100):
        engine.apply(edges[i : i + 100])
    engine.maintain(0.0)
    assert engine._kc.recounting
    for _ in range(10_000):  # until the recount is done: its moved accounts go out 200 a call
        engine.maintain(0.0)
        if not engine._kc.recounting:
            break
    owed = set(engine._kc_unreported)
    assert owed, "the recount should move more accounts than one call reports"
    resumed = InfluenceEngine.from_snapshot(engine.snapshot(), kcore_budget_s=0.0)
    assert resumed._kc_unreported == owed and resumed.kcore_work_waiting
    reported: set[str] = set()
    while resumed.kcore_work_waiting:
        reported |= set(resumed.maintain(0.0))
    assert reported and reported <= owed


def test_a_short_backlog_is_inserted_one_by_one() -> None:
    edges = sample_edges()
    engine = InfluenceEngine(kcore_budget_s=0.0)
    engine.apply(edges[:50])
    backlog = engine.kcore_backlog
    assert 0 < backlog < 256
    engine.maintain(0.0)
    assert not engine._kc.recounting and engine.kcore_backlog == backlog - 1


def test_the_fast_value_path_equals_the_explained_score() -> None:
    engine = InfluenceEngine()
    engine.apply(sample_edges()[:300])
    engine.set_followers("x:16460", 777)
    for account in [*list(engine.pageranks())[:100], "x:16460"]:
        explained = engine.score(account)
        assert engine._value(account, engine.clock) == pytest.approx(explained.value, abs=1e-12)


def test_edges_from_an_activity_carry_actor_kind_and_event() -> None:
    from activity.schema import AccountRef, Activity, ActivityKind, Network, Profile

    def acct(name: str) -> AccountRef:
        return AccountRef(id=f"x:{name}", network=Network.X, handle=name)

    reply = Activity(
        event_id="ev9",
        kind=ActivityKind.REPLY,
        network=Network.X,
        actor=acct("a"),
        created_at=T0,
        received_at=T0 + 1,
        source="test",
        target_account=acct("b"),
        mentions=(acct("c"), acct("a")),
    )
    edges = edges_from_activity(reply)
    assert [(e.src, e.dst, e.kind, e.weight, e.event_id) for e in edges] == [
        ("x:a", "x:b", "reply", 2.0, "ev9"),
        ("x:a", "x:c", "mention", 1.0, "ev9"),
    ]
    engine = InfluenceEngine()
    changed = engine.apply(edges)
    props = changed["x:b"].graph_properties()
    assert props["influence_composite"] == changed["x:b"].value and props["influence_kcore"] == 1
    assert set(orjson.loads(props["influence_breakdown"])) == {"pagerank", "reach", "engagement", "kcore"}
    profile = Activity(
        event_id="ev10",
        kind=ActivityKind.PROFILE,
        network=Network.X,
        actor=acct("b"),
        created_at=T0,
        received_at=T0,
        source="test",
        profile=Profile(followers=4200),
    )
    assert followers_from_activity(profile) == 4200 and followers_from_activity(reply) is None


def test_the_engine_is_configured_by_settings() -> None:
    from groundswell.settings import Settings

    engine = InfluenceEngine.from_settings(
        Settings(influence_kcore_budget_ms=-1.0, influence_pagerank_tol=1e-5)
    )
    assert engine.kcore_budget_s is None and engine.half_life_s == 7 * DAY
    assert InfluenceEngine.from_settings(Settings(influence_kcore_budget_ms=2.0)).kcore_budget_s == 0.002
    with pytest.raises(ValueError, match="sum to 1"):
        InfluenceEngine.from_settings(Settings(influence_weight_kcore=0.5))


@given(st.lists(st.integers(0, 30).map(str), max_size=80), st.integers(1, 10))
def test_recent_keys_hold_exactly_the_latest_distinct_keys(keys: list[str], capacity: int) -> None:
    recent = RecentKeys(capacity)
    for k in keys:
        recent.add(k)
    expected: list[str] = []
    for k in keys:  # model: a FIFO of the distinct keys held (re-adding a held key changes nothing)
        if k not in expected:
            expected.append(k)
            if len(expected) > capacity:
                expected.pop(0)
    assert recent.ordered() == expected and len(recent) == len(expected) <= capacity
    assert all((k in recent) == (k in expected) for k in set(keys))


def test_the_engine_forgets_the_oldest_edge_keys_beyond_its_window() -> None:
    engine = InfluenceEngine(applied_window=3)
    edges = [InfluenceEdge(f"ev{i}", "x:a", "x:b", "mention", T0 + i) for i in range(5)]
    assert engine.apply_detailed(edges).applied == 5
    assert engine.apply_detailed(edges[2:]).duplicates == 3  # the latest three are remembered
    restored = InfluenceEngine(applied_window=3)
    restored.restore(engine.snapshot())
    assert restored.apply_detailed(edges[2:]).duplicates == 3
    assert restored.apply_detailed(edges[:1]).applied == 1  # forgotten: applied again

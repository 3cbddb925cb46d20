"""graph.plan: pure batch -> WritePlan."""

from __future__ import annotations

import copy
import random
from collections import Counter
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from activity.schema import AccountRef, Activity, ActivityKind, Network, Profile
from graph.plan import (
    EDGE_KINDS,
    MAX_TEXT_CHARS,
    Company,
    EdgeKey,
    IdentityLink,
    WritePlan,
    build_plan,
    company_matcher,
    link_marker_id,
)
from graph.write_path import without_erased_texts

K = ActivityKind
ACME = Company("acme", "Acme")
MATCH_ACME = company_matcher(["acme"], ["x:acme-official"])


def acc(i: int | str, handle: str | None = None) -> AccountRef:
    return AccountRef(f"x:{i}", Network.X, handle=handle)


def act(eid: str, kind: ActivityKind, actor: AccountRef, t: float = 100.0, **kw: Any) -> Activity:
    return Activity(eid, kind, Network.X, actor, t, t + 1, "test", **kw)


def counts(plan: WritePlan) -> dict[EdgeKey, int]:
    return {k: d.count for k, d in plan.edges.items()}


def test_post_reply_like_follow_edges() -> None:
    plan = build_plan(
        [
            act("e1", K.POST, acc(1, "one"), post_id="p1", text="hi @two", mentions=(acc(2),)),
            act(
                "e2",
                K.REPLY,
                acc(2),
                200.0,
                post_id="p2",
                text="yo",
                target_post_id="p1",
                target_account=acc(1),
            ),
            act("e3", K.LIKE, acc(3), 150.0, target_post_id="p1", target_account=acc(1)),
            act("e4", K.FOLLOW, acc(3), 160.0, target_account=acc(2)),
            act("e5", K.REPOST, acc(4), 170.0, target_post_id="p1", target_account=acc(1)),
            act(
                "e6",
                K.QUOTE,
                acc(4),
                180.0,
                post_id="p3",
                text="q",
                target_post_id="p2",
                target_account=acc(2),
            ),
        ]
    )
    assert counts(plan) == {
        ("AUTHORED", "x:1", "p1"): 1,
        ("MENTIONED", "x:1", "x:2"): 1,
        ("AUTHORED", "x:2", "p2"): 1,
        ("REPLIED_TO", "x:2", "x:1"): 1,
        ("REPLY_TO", "p2", "p1"): 1,
        ("LIKED", "x:3", "x:1"): 1,
        ("FOLLOWS", "x:3", "x:2"): 1,
        ("REPOSTED", "x:4", "x:1"): 1,
        ("AUTHORED", "x:4", "p3"): 1,
        ("QUOTED", "x:4", "x:2"): 1,
        ("QUOTES", "p3", "p2"): 1,
    }
    assert set(plan.accounts) == {"x:1", "x:2", "x:3", "x:4"}
    assert plan.accounts["x:1"] == {"network": "x", "handle": "one"}
    assert set(plan.posts) == {"p1", "p2", "p3"}
    assert plan.posts["p1"] == {"network": "x", "text": "hi @two", "created_at": 100.0, "event_id": "e1"}
    assert [e.id for e in plan.events] == ["e1", "e3", "e4", "e5", "e6", "e2"]  # event-time order
    assert next(e for e in plan.events if e.id == "e2").edges == (
        ("AUTHORED", "x:2", "p2"),
        ("REPLIED_TO", "x:2", "x:1"),
        ("REPLY_TO", "p2", "p1"),
    )
    assert all(k in EDGE_KINDS for k, _, _ in plan.edges)


def test_dedup_within_batch_and_count_per_distinct_event() -> None:
    like1 = act("e1", K.LIKE, acc(1), 300.0, target_account=acc(2))
    like2 = act("e2", K.LIKE, acc(1), 100.0, target_account=acc(2))
    like3 = act("e3", K.LIKE, acc(1), 200.0, target_account=acc(2))
    plan = build_plan([like1, like2, like1, like3, like2])
    delta = plan.edges[("LIKED", "x:1", "x:2")]
    assert (delta.count, delta.first_seen, delta.last_seen) == (3, 100.0, 300.0)
    assert plan.activity_events == 3
    assert len(plan.events) == 3


def test_one_event_contributes_once_to_an_edge_and_no_self_edges() -> None:
    plan = build_plan(
        [
            act("e1", K.POST, acc(1), post_id="p1", text="@a @a", mentions=(acc(2), acc(2), acc(1))),
            act("e2", K.REPLY, acc(1), post_id="p2", target_post_id="p1", target_account=acc(1)),
        ]
    )
    assert plan.edges[("MENTIONED", "x:1", "x:2")].count == 1
    assert ("MENTIONED", "x:1", "x:1") not in plan.edges
    assert ("REPLIED_TO", "x:1", "x:1") not in plan.edges
    assert plan.edges[("REPLY_TO", "p2", "p1")].count == 1  # post-level thread edge is kept


def test_target_accounts_and_posts_referenced_by_id_get_bare_nodes() -> None:
    plan = build_plan([act("e1", K.REPLY, acc(1), post_id="p2", target_post_id="p1", target_account=acc(9))])
    assert plan.accounts["x:9"] == {"network": "x"}
    assert plan.posts["p1"] == {}


def test_text_is_truncated() -> None:
    plan = build_plan([act("e1", K.POST, acc(1), post_id="p1", text="x" * 5000, lang="en")])
    assert len(plan.posts["p1"]["text"]) == MAX_TEXT_CHARS
    assert plan.posts["p1"]["lang"] == "en"


def test_profile_sets_props_and_inactive() -> None:
    prof = Profile(display_name="One", bio="b", followers=10, following=3, active=False)
    plan = build_plan(
        [
            act("e1", K.PROFILE, acc(1, "old"), 100.0, profile=Profile(bio="older", followers=1)),
            act("e2", K.PROFILE, acc(1, "new"), 200.0, profile=prof),
        ]
    )
    assert plan.accounts["x:1"] == {
        "network": "x",
        "handle": "new",
        "display_name": "One",
        "bio": "b",
        "followers": 10,
        "following": 3,
        "active": False,
    }
    assert plan.edges == {}
    assert [e.kind for e in plan.events] == ["profile", "profile"]


def test_delete_records_target_and_contributes_nothing() -> None:
    plan = build_plan([act("d1", K.DELETE, acc(1), post_id="e-like-1")])
    assert plan.delete_targets == ["e-like-1"]
    assert plan.edges == {}
    assert plan.events[0].deletes == "e-like-1"


def test_company_mention_by_keyword_or_own_account() -> None:
    plan = build_plan(
        [
            act("e1", K.POST, acc(1), post_id="p1", text="I love ACME!"),
            act("e2", K.POST, acc(2), post_id="p2", text="acmeville is nice"),  # not a whole word
            act(
                "e3",
                K.REPLY,
                acc(3),
                post_id="p3",
                text="hi",
                target_account=AccountRef("x:acme-official", Network.X),
            ),
            act("e4", K.LIKE, acc(4), text=None, target_account=AccountRef("x:acme-official", Network.X)),
        ],
        company=ACME,
        mentions_company=MATCH_ACME,
    )
    assert {k for k in plan.edges if k[0] == "MENTIONED_COMPANY"} == {
        ("MENTIONED_COMPANY", "x:1", "acme"),
        ("MENTIONED_COMPANY", "x:3", "acme"),
    }
    assert plan.companies == {"acme": {"name": "Acme"}}
    assert EDGE_KINDS["MENTIONED_COMPANY"].rel_type == "MENTIONED"


def test_identity_links() -> None:
    links = [
        IdentityLink("x:1", "person:a", 0.7, "e1"),
        IdentityLink("x:1", "person:a", 0.7, "e1"),  # duplicate
        IdentityLink("x:1", "person:a", 0.9, "e2", at=500.0),
    ]
    plan = build_plan([act("e1", K.POST, acc(1), 100.0, post_id="p1")], links, now=999.0)
    delta = plan.edges[("ACCOUNT_OF", "x:1", "person:a")]
    assert (delta.count, delta.first_seen, delta.last_seen, delta.confidence) == (2, 100.0, 500.0, 0.9)
    assert plan.persons == {"person:a": {}}
    assert plan.link_events == 2
    assert link_marker_id(links[0]) in {e.id for e in plan.events}
    # a link whose event is not in the batch and has no time of its own is dated ``now``
    late = build_plan([], [IdentityLink("x:2", "person:b", 1.0, "old-event")], now=999.0)
    assert late.edges[("ACCOUNT_OF", "x:2", "person:b")].first_seen == 999.0


# -- property: shuffling and duplicating a batch changes nothing ------------------------------
KINDS = [K.POST, K.REPLY, K.QUOTE, K.LIKE, K.REPOST, K.FOLLOW, K.MENTION, K.PROFILE]


@st.composite
def batches(draw: st.DrawFn) -> list[Activity]:
    n = draw(st.integers(0, 30))
    out = []
    for i in range(n):
        kind = draw(st.sampled_from(KINDS))
        actor = acc(draw(st.integers(0, 5)))
        target = acc(draw(st.integers(0, 5)))
        mentions = tuple(acc(m) for m in draw(st.lists(st.integers(0, 5), max_size=3)))
        out.append(
            act(
                f"e{i}",
                kind,
                actor,
                float(draw(st.integers(0, 1000))),
                post_id=f"p{i}",
                text=draw(st.sampled_from(["", "acme rocks", "hello"])),
                target_post_id=f"p{draw(st.integers(0, 40))}",
                target_account=target,
                mentions=mentions,
            )
        )
    return out


def apply_in_memory(graph: dict[EdgeKey, list[float]], plan: WritePlan) -> None:
    """What the store does with edges: count += delta, min first_seen, max last_seen."""
    for key, d in plan.edges.items():
        cur = graph.get(key)
        if cur is None:
            graph[key] = [d.count, d.first_seen, d.last_seen]
        else:
            graph[key] = [cur[0] + d.count, min(cur[1], d.first_seen), max(cur[2], d.last_seen)]


@settings(max_examples=150, deadline=None)
@given(batch=batches(), seed=st.integers(0, 2**16), dup=st.floats(0, 1))
def test_shuffled_duplicated_batch_plans_same_edges(batch: list[Activity], seed: int, dup: float) -> None:
    rng = random.Random(seed)
    noisy = batch + [a for a in batch if rng.random() < dup]
    rng.shuffle(noisy)
    kw: dict[str, Any] = {"company": ACME, "mentions_company": MATCH_ACME}
    clean_graph: dict[EdgeKey, list[float]] = {}
    apply_in_memory(clean_graph, build_plan(batch, **kw))
    noisy_graph: dict[EdgeKey, list[float]] = {}
    apply_in_memory(noisy_graph, build_plan(noisy, **kw))
    assert noisy_graph == clean_graph
    # ... and splitting the noisy batch in two, each event once (the store skips applied events),
    # gives the same graph too
    half = len(noisy) // 2
    first = noisy[:half]
    seen = {a.event_id for a in first}
    second = [a for a in noisy[half:] if a.event_id not in seen]
    split_graph: dict[EdgeKey, list[float]] = {}
    apply_in_memory(split_graph, build_plan(first, **kw))
    apply_in_memory(split_graph, build_plan(second, **kw))
    assert split_graph == clean_graph
    # every planned edge count equals the number of event markers that list it
    plan = build_plan(noisy, **kw)
    listed = Counter(e for ev in plan.events for e in ev.edges)
    assert {k: d.count for k, d in plan.edges.items()} == dict(listed)


def test_endpoint_frequency_routes_each_row_from_its_sparser_end_and_stays_bounded() -> None:
    from graph.plan import EndpointFrequency

    freq = EndpointFrequency(max_ids=50)
    freq.observe(["hub"] * 30 + ["a", "b"])
    assert freq.from_source("a", "hub") and not freq.from_source("hub", "a")
    assert freq.from_source("a", "b") and freq.from_source("new", "a")  # ties and unknowns: source
    freq.observe(f"n{i}" for i in range(100))  # past the bound: halved, ones dropped
    assert len(freq) <= 50 and freq.count("hub") == 15 and freq.count("a") == 0
    assert not freq.from_source("hub", "never-seen")


@settings(max_examples=150, deadline=None)
@given(batch=batches(), erased=st.sets(st.integers(0, 5)))
def test_posts_of_erased_accounts_lose_their_text_and_nothing_else_changes(
    batch: list[Activity], erased: set[int]
) -> None:
    """``graph.write_path.without_erased_texts``: exactly the posts an erased account authored are
    written without text (and marked erased); every other post as planned; the plan untouched."""
    plan = build_plan(batch, [], company=ACME, mentions_company=MATCH_ACME)
    before = copy.deepcopy(plan.nodes("Post"))
    gone = {f"x:{i}" for i in erased}
    posts, stripped = without_erased_texts(plan, gone)
    authored = {dst for (kind, src, dst) in plan.edges if kind == "AUTHORED" and src in gone}
    assert plan.nodes("Post") == before and set(posts) == set(before)
    assert stripped == len(authored & set(before))
    for post_id, props in posts.items():
        if post_id in authored:
            assert "text" not in props and props["erased"] is True
            assert {k: v for k, v in props.items() if k != "erased"} == {
                k: v for k, v in before[post_id].items() if k != "text"
            }
        else:
            assert props == before[post_id]

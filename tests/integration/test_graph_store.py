"""GraphStore against a real graph: embedded ArcadeDB always, Neo4j when NEO4J_URI is set."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from activity.schema import AccountRef, Activity, ActivityKind, Network, Profile
from graph import migrations
from graph.plan import IdentityLink
from graph.store import SCHEMA_VERSION, GraphStore
from groundswell.metrics import Metrics
from tests.fixtures.graph import GraphUnderTest

pytestmark = pytest.mark.integration

K = ActivityKind
HOSTILE = "'}) DETACH DELETE n //"


def acc(i: int | str, handle: str | None = None) -> AccountRef:
    return AccountRef(f"x:{i}", Network.X, handle=handle)


def act(eid: str, kind: ActivityKind, actor: AccountRef, t: float = 100.0, **kw: Any) -> Activity:
    return Activity(eid, kind, Network.X, actor, t, t + 1, "test", **kw)


BATCH = [
    act("e1", K.POST, acc(1, "one"), 100.0, post_id="p1", text="hello acme @two", mentions=(acc(2, "two"),)),
    act(
        "e2",
        K.REPLY,
        acc(2, "two"),
        200.0,
        post_id="p2",
        text="hi",
        target_post_id="p1",
        target_account=acc(1),
    ),
    act("e3", K.LIKE, acc(3), 150.0, target_post_id="p1", target_account=acc(1)),
    act("e4", K.LIKE, acc(3), 250.0, target_post_id="p2", target_account=acc(1)),
    act("e5", K.FOLLOW, acc(3), 160.0, target_account=acc(2)),
    act("e6", K.PROFILE, acc(4, "four"), 170.0, profile=Profile(bio="bio", followers=7, active=False)),
]
LINKS = [IdentityLink("x:1", "person:1", 0.9, "e1")]
EXPECTED = {
    "Person": 1,
    "Company": 1,
    "Account": 4,
    "Post": 2,
    "Event": 7,  # 6 activities + 1 link
    "AUTHORED": 2,
    "MENTIONED": 2,  # x:1 -> x:2 and x:1 -> Company acme
    "REPLIED_TO": 1,
    "REPOSTED": 0,
    "QUOTED": 0,
    "LIKED": 1,
    "FOLLOWS": 1,
    "ACCOUNT_OF": 1,
    "REPLY_TO": 1,
    "QUOTES": 0,
}


async def edges(store: GraphStore) -> dict[tuple[str, str, str], tuple[int, float, float]]:
    rows = await store._read(
        "MATCH (s)-[r]->(t) RETURN type(r) AS type, s.id AS src, t.id AS dst, "
        "r.count AS count, r.first_seen AS fs, r.last_seen AS ls"
    )
    return {(r["type"], r["src"], r["dst"]): (r["count"], r["fs"], r["ls"]) for r in rows}


async def test_setup_records_schema_version(graph_store: GraphStore) -> None:
    newest = max(m.version for m in migrations.registered())  # other packages' included
    assert newest >= SCHEMA_VERSION
    assert await graph_store.schema_version() == newest
    assert await graph_store.setup() == newest  # idempotent
    assert await graph_store.ping()


async def test_batch_exact_counts_and_replay_changes_nothing(graph_store: GraphStore) -> None:
    result = await graph_store.apply(BATCH, LINKS)
    assert (result.applied_events, result.skipped_duplicates, result.applied_links) == (6, 0, 1)
    assert await graph_store.counts() == EXPECTED
    before = await edges(graph_store)
    assert before[("LIKED", "x:3", "x:1")] == (2, 150.0, 250.0)
    assert before[("ACCOUNT_OF", "x:1", "person:1")][0] == 1

    again = await graph_store.apply(BATCH, LINKS)
    assert (again.applied_events, again.skipped_duplicates, again.applied_links) == (0, 6, 0)
    assert await graph_store.counts() == EXPECTED
    assert await edges(graph_store) == before


async def test_same_event_twice_in_one_batch_counts_once(graph_store: GraphStore) -> None:
    like = act("l1", K.LIKE, acc(1), target_account=acc(2))
    result = await graph_store.apply([like, like, like])
    assert (result.applied_events, result.skipped_duplicates) == (1, 2)
    assert (await edges(graph_store))[("LIKED", "x:1", "x:2")][0] == 1
    assert (await graph_store.counts())["Event"] == 1


async def test_delete_undoes_like_and_post(graph_store: GraphStore) -> None:
    await graph_store.apply(BATCH)
    await graph_store.apply([act("d1", K.DELETE, acc(3), 300.0, post_id="e3")])
    assert (await edges(graph_store))[("LIKED", "x:3", "x:1")] == (1, 150.0, 250.0)
    await graph_store.apply([act("d2", K.DELETE, acc(3), 310.0, post_id="e4")])
    counts = await graph_store.counts()
    assert counts["LIKED"] == 0
    # replaying the deleted like does not bring it back; replaying the delete changes nothing
    await graph_store.apply([BATCH[2], act("d1", K.DELETE, acc(3), 300.0, post_id="e3")])
    assert (await graph_store.counts())["LIKED"] == 0
    # deleting a reply removes the post and what the reply contributed
    await graph_store.apply([act("d3", K.DELETE, acc(2), 320.0, post_id="p2")])
    counts = await graph_store.counts()
    assert (counts["Post"], counts["REPLIED_TO"], counts["REPLY_TO"], counts["AUTHORED"]) == (1, 0, 0, 1)


async def test_delete_in_same_batch(graph_store: GraphStore) -> None:
    like = act("l1", K.LIKE, acc(1), 100.0, target_account=acc(2))
    await graph_store.apply([act("d1", K.DELETE, acc(1), 50.0, post_id="l1"), like])
    assert (await graph_store.counts())["LIKED"] == 0


async def test_influence_ranking_and_account_view(graph_store: GraphStore) -> None:
    await graph_store.apply(BATCH, LINKS)
    await graph_store.set_influence([("x:1", 3.5, 1000.0), ("x:2", 5.0, 1000.0), ("x:9", 1.0, 1000.0)])
    top = await graph_store.top_influencers(10)
    assert [r["id"] for r in top] == ["x:2", "x:1", "x:9"]
    assert top[0]["influence_log"] == 5.0
    assert [r["id"] for r in await graph_store.top_influencers(1)] == ["x:2"]
    assert [r["id"] for r in await graph_store.top_influencers(10, network="x")] == ["x:2", "x:1"]
    await graph_store.set_influence([("x:1", 9.0, 2000.0)])
    await graph_store.set_influence([("x:1", 0.5, 1500.0)])  # stale: ignored
    assert [r["id"] for r in await graph_store.top_influencers(2)] == ["x:1", "x:2"]

    view = await graph_store.account_view("x:1")
    assert view is not None
    assert view["person_id"] == "person:1"
    assert view["influence_log"] == 9.0
    assert view["props"]["handle"] == "one"
    got = [
        (i["direction"], i["type"], i["other_id"], i["count"], i["last_seen"]) for i in view["interactions"]
    ]
    assert got == [
        ("in", "LIKED", "x:3", 2, 250.0),
        ("in", "REPLIED_TO", "x:2", 1, 200.0),
        ("out", "MENTIONED", "x:2", 1, 100.0),
    ]
    assert view["interactions"][1]["other_handle"] == "two"
    four = await graph_store.account_view("x:4")
    assert four is not None
    assert four["props"]["active"] is False
    assert four["props"]["followers"] == 7
    assert await graph_store.account_view("x:nobody") is None


async def test_hostile_strings_are_data(graph_store: GraphStore) -> None:
    evil_actor = AccountRef(f"x:{HOSTILE}", Network.X, handle='h"}{$x`', display_name="{{n}}")
    text = f"{HOSTILE} \" ' }} {{ ` \\ $rows acme"
    batch = [
        act(f"ev{HOSTILE}", K.POST, evil_actor, post_id=f"p{HOSTILE}", text=text, mentions=(acc(1),)),
        act("ev2", K.LIKE, acc(1), target_account=evil_actor),
    ]
    await graph_store.apply(batch, [IdentityLink(evil_actor.id, f"person:{HOSTILE}", 1.0, f"ev{HOSTILE}")])
    counts = await graph_store.counts()
    assert (counts["Account"], counts["Post"], counts["AUTHORED"], counts["LIKED"]) == (2, 1, 1, 1)
    rows = await graph_store._read("MATCH (p:Post) RETURN p.id AS id, p.text AS text")
    assert rows == [{"id": f"p{HOSTILE}", "text": text}]
    view = await graph_store.account_view(evil_actor.id)
    assert view is not None
    assert view["props"]["handle"] == 'h"}{$x`'
    assert view["person_id"] == f"person:{HOSTILE}"
    await graph_store.apply([act("d1", K.DELETE, evil_actor, post_id=f"p{HOSTILE}")])
    assert (await graph_store.counts())["Post"] == 0


async def test_concurrent_writers_on_overlapping_accounts(
    graph_store: GraphStore, graph_backend: GraphUnderTest, graph_metrics: Metrics
) -> None:
    def batch(tag: str) -> list[Activity]:
        out = []
        for i in range(60):
            out.append(
                act(f"{tag}-like-{i}", K.LIKE, acc(i % 20), float(i), target_account=acc((i * 7 + 1) % 20))
            )
            out.append(
                act(f"{tag}-follow-{i}", K.FOLLOW, acc(100 + i % 10), float(i), target_account=acc(i % 20))
            )
        return out

    a, b = batch("a"), batch("b")
    other = await GraphStore.connect(graph_backend.settings, graph_metrics)
    try:
        results = await asyncio.gather(graph_store.apply(a), other.apply(b), graph_store.apply(a[:40]))
    finally:
        await other.close()
    assert graph_metrics.graph_write_retries._value.get() == sum(r.attempts - 1 for r in results)
    assert sum(r.applied_events for r in results) == 240
    counts = await graph_store.counts()
    assert counts["Account"] == len(
        {x.actor.id for x in a + b} | {x.target_account.id for x in a + b if x.target_account}
    )
    assert counts["Event"] == 240
    dupes = await graph_store._read("MATCH (n:Account) WITH n.id AS id, count(*) AS c WHERE c > 1 RETURN id")
    assert dupes == []
    expected: dict[tuple[str, str, str], int] = {}
    for x in a + b:
        assert x.target_account is not None
        if x.actor.id != x.target_account.id:
            key = (
                x.kind.name.replace("LIKE", "LIKED").replace("FOLLOW", "FOLLOWS"),
                x.actor.id,
                x.target_account.id,
            )
            expected[key] = expected.get(key, 0) + 1
    assert {k: v[0] for k, v in (await edges(graph_store)).items()} == expected

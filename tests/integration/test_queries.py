"""graph.queries over the real embedded ArcadeDB, on the small graph of tests/fixtures/social_graph."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any

import pytest

from graph import queries, readonly
from graph.query_guard import ReadOnlyViolation
from graph.readonly import QueryFailed, QueryTimeout
from graph.store import GraphStore
from tests.fixtures.graph import GraphUnderTest, wipe
from tests.fixtures.social_graph import (
    CRM_ID,
    CUST,
    CUST_MASTO,
    CUST_PERSON,
    FANS,
    FAR,
    LONER,
    MID,
    STAR,
    STAR_PERSON,
    T,
    seed_social_graph,
)

pytestmark = pytest.mark.integration

HOSTILE = [
    "x'}) DETACH DELETE n //",
    "`}) MATCH (n) DETACH DELETE n //",
    '" OR 1=1 --',
    "bluesky:did:plc:star\u0000",
    "🙂" * 50,
    "a" * 5000,
    "$id",
    "{id: 1}) MATCH (n) DETACH DELETE n",
]


@pytest.fixture(scope="module")
def seeded(embedded_graph: GraphUnderTest) -> None:
    async def run() -> None:
        async with await GraphStore.connect(embedded_graph.settings) as store:
            await store.setup()
            await wipe(store)
            await seed_social_graph(store)

    asyncio.run(run())


@pytest.fixture
async def store(embedded_graph: GraphUnderTest, seeded: None) -> AsyncIterator[GraphStore]:
    async with await GraphStore.connect(embedded_graph.settings) as s:
        yield s


def ids(rows: list[dict[str, object]]) -> list[object]:
    return [r["id"] for r in rows]


async def test_top_influencers_overall_and_filtered(store: GraphStore) -> None:
    top = await queries.top_influencers(store, limit=3, now=T)
    assert ids(top["influencers"]) == [STAR.id, CUST.id, MID.id]
    assert top["influencers"][0]["influence"] == pytest.approx(40.0)
    coffee = await queries.top_influencers(store, hashtag="#Coffee", now=T)
    assert ids(coffee["influencers"]) == [
        STAR.id,
        CUST.id,
    ]  # "#coffee," counts; "#coffeetime" alone would not
    assert ids((await queries.top_influencers(store, hashtag="coffeetime"))["influencers"]) == [CUST.id]
    assert ids((await queries.top_influencers(store, hashtag="acmephone"))["influencers"]) == [STAR.id]
    assert ids((await queries.top_influencers(store, topic="Refund"))["influencers"]) == [CUST.id]
    customers = await queries.top_influencers(store, customers_only=True)
    assert ids(customers["influencers"]) == [CUST.id, CUST_MASTO.id]  # the CRM record itself is not ranked
    near = await queries.top_influencers(store, within_hops_of_company=1, limit=50)
    assert set(ids(near["influencers"])) == {STAR.id, CUST.id}
    two = set(ids((await queries.top_influencers(store, within_hops_of_company=2, limit=50))["influencers"]))
    assert {FANS[0].id, MID.id, STAR.id} <= two and FAR.id not in two
    both = await queries.top_influencers(store, customers_only=True, within_hops_of_company=1)
    assert ids(both["influencers"]) == [CUST.id]
    for bad in ({"hashtag": "#"}, {"hashtag": "#12"}, {"limit": 0}, {"within_hops_of_company": 4}):
        with pytest.raises(queries.QueryError):
            await queries.top_influencers(store, **bad)  # type: ignore[arg-type]


async def test_person_360_from_an_account_or_the_person(store: GraphStore) -> None:
    view = await queries.person_360(store, CUST.id, now=T)
    assert view is not None
    assert view["person_id"] == CUST_PERSON
    assert {a["id"] for a in view["accounts"]} == {CUST.id, CUST_MASTO.id}
    assert view["networks"] == ["bluesky", "mastodon"]
    assert view["is_customer"] and view["customer"]["id"] == CRM_ID and view["customer"]["tier"] == "gold"
    [mention] = view["interactions_with_company"]
    assert (mention["account"], mention["type"], mention["other"], mention["count"]) == (
        CUST.id,
        "MENTIONED",
        "acme",
        2,
    )
    days = view["sentiment_over_time"]
    assert len(days) == 2 and days[0]["mean_sentiment"] < 0 < days[-1]["mean_sentiment"]
    assert len(view["recent_posts"]) == 3
    assert view["scores"]["influence"] == pytest.approx(6.0)
    assert await queries.person_360(store, CUST_PERSON, now=T) == view | {"query_id": CUST_PERSON}

    star = await queries.person_360(store, STAR.id, now=T)
    assert star is not None and star["person_id"] == STAR_PERSON and not star["is_customer"]
    breakdown = {b["type"]: b for b in star["scores"]["breakdown"]}
    assert breakdown["LIKED"]["events"] == 6 and breakdown["MENTIONED"]["events"] == 1
    assert sum(b["share"] for b in breakdown.values()) == pytest.approx(1.0, abs=1e-3)

    alone = await queries.person_360(store, LONER.id)
    assert (
        alone is not None
        and alone["person_id"] is None
        and [a["id"] for a in alone["accounts"]] == [LONER.id]
    )
    assert await queries.person_360(store, "bluesky:did:plc:nobody") is None


async def test_ego_network_kinds_caps_and_depth(store: GraphStore) -> None:
    ego = await queries.ego_network(store, STAR.id, depth=1, cap=50, now=T)
    nodes = {n["id"]: n for n in ego["nodes"]}
    assert set(nodes) == {STAR.id, STAR_PERSON, "acme", MID.id, *(f.id for f in FANS)}
    assert nodes["acme"]["kind"] == "company" and nodes[STAR.id]["kind"] == "influencer"
    assert nodes[FANS[0].id]["kind"] == "account" and nodes[STAR.id]["depth"] == 0
    assert not ego["truncated"]
    assert {(e["type"], e["source"], e["target"]) for e in ego["edges"]} >= {
        ("LIKED", FANS[0].id, STAR.id),
        ("MENTIONED", STAR.id, "acme"),
    }
    small = await queries.ego_network(store, STAR.id, depth=2, cap=3)
    assert len(small["nodes"]) == 3 and small["truncated"]
    cust = await queries.ego_network(store, CUST_MASTO.id, depth=2)
    kinds = {n["id"]: n["kind"] for n in cust["nodes"]}
    assert kinds[CUST_MASTO.id] == kinds[CUST_PERSON] == kinds[CUST.id] == "customer"
    assert CRM_ID in kinds
    assert (await queries.ego_network(store, "nobody"))["center"] is None
    with pytest.raises(queries.QueryError):
        await queries.ego_network(store, STAR.id, depth=4)
    with pytest.raises(queries.QueryError):
        await queries.ego_network(store, STAR.id, cap=queries.MAX_CAP + 1)


async def test_shortest_paths_to_the_company(store: GraphStore) -> None:
    found = await queries.shortest_path(store, FAR.id, "acme")
    assert found["hops"] == 3
    [path] = found["paths"]
    assert [n["id"] for n in path["nodes"]] == [FAR.id, MID.id, STAR.id, "acme"]
    assert [e["type"] for e in path["edges"]] == ["REPLIED_TO", "MENTIONED", "MENTIONED"]
    assert (await queries.shortest_path(store, FAR.id, "acme", max_hops=2))["paths"] == []
    person = await queries.shortest_path(store, CUST_PERSON, "acme")
    assert person["hops"] == 2
    assert (await queries.shortest_path(store, LONER.id, "acme"))["paths"] == []
    assert (await queries.shortest_path(store, "nobody", "acme"))["missing"] == ["nobody"]


async def test_communities_are_a_seeded_partition(store: GraphStore) -> None:
    first = await queries.communities(store, depth=3, cap=100, now=T)
    members = [m for c in first["communities"] for m in c["members"]]
    assert len(members) == len(set(members)) == first["nodes"]
    assert {STAR.id, FAR.id, "acme"} <= set(members)
    assert first == await queries.communities(store, depth=3, cap=100, now=T)
    fans = next(c for c in first["communities"] if FANS[0].id in c["members"])
    assert fans["leader"]["id"] == STAR.id  # the most influential member of the fans' community


async def test_search(store: GraphStore) -> None:
    assert ids(await queries.search_nodes(store, "sta")) == [STAR.id]
    # the CRM record ("Casey Customer") holds it too, inside its name
    assert ids(await queries.search_nodes(store, "@Cust")) == [CUST.id, CUST_MASTO.id, CRM_ID]
    assert ids(await queries.search_nodes(store, CUST_PERSON)) == [CUST_PERSON]
    assert await queries.search_nodes(store, "zzz") == []
    # anywhere in the name: a last name finds the CRM record
    assert ids(await queries.search_nodes(store, "customer")) == [CRM_ID]
    # the names that start with it first ("cust", "Casey Customer"; the two without influence by
    # id), then the others by influence (the star is the most influential; ".social" holds a "c")
    found = ids(await queries.search_nodes(store, "c"))
    assert found[:4] == [CUST.id, CRM_ID, CUST_MASTO.id, STAR.id], found
    assert "later" not in (await queries.search_nodes(store, "c"))[0]


async def test_search_lower_cases_as_the_store_does(store: GraphStore) -> None:
    """The text is lower-cased as Cypher's toLower lower-cases the names: "ß" stays "ß" (Python's
    casefold made it "ss", and "Straße" found nothing)."""
    account = "mastodon:https://example.social/users/strasse"

    async def put(tx: Any) -> None:
        await tx.run(
            "CREATE (:Account {id: $id, network: 'mastodon', display_name: 'Jürgen Straße'})", id=account
        )

    async def drop(tx: Any) -> None:
        await tx.run("MATCH (a:Account {id: $id}) DETACH DELETE a", id=account)

    await store.write(put)
    try:
        assert ids(await queries.search_nodes(store, "STRAßE")) == [account]
        assert ids(await queries.search_nodes(store, "jürgen")) == [account]
    finally:
        await store.write(drop)


async def test_readonly_cypher(store: GraphStore) -> None:
    res = await queries.readonly_cypher(
        store, "MATCH (a:Account) WHERE a.network = $n RETURN a.id AS id ORDER BY id", {"n": "mastodon"}
    )
    assert res["columns"] == ["id"] and res["rows"] == [{"id": CUST_MASTO.id}] and not res["truncated"]
    capped = await queries.readonly_cypher(store, "MATCH (a:Account) RETURN a LIMIT 100", row_limit=2)
    assert len(capped["rows"]) == 2 and capped["truncated"]
    assert capped["rows"][0]["a"]["labels"] == ["Account"]
    for text in ("MATCH (n) DETACH DELETE n", "CALL db.labels()", "MATCH (n) SET n.x = 1 RETURN n"):
        with pytest.raises(ReadOnlyViolation):
            await queries.readonly_cypher(store, text)
    with pytest.raises(QueryFailed):
        await queries.readonly_cypher(store, "MATCH (n RETURN n")
    with pytest.raises(QueryTimeout):
        await queries.readonly_cypher(
            store, "UNWIND range(1, 1500) AS i UNWIND range(1, 1500) AS j RETURN count(*) AS c", timeout_s=0.2
        )


async def test_a_write_past_the_guard_is_rolled_back(
    store: GraphStore, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Defence in depth: with the keyword check switched off, the transaction is still never
    committed (ArcadeDB ignores READ access mode, so the rollback is what stops the write)."""
    monkeypatch.setattr(readonly, "check_read_only", lambda text: text)
    res = await queries.readonly_cypher(store, "CREATE (x:Account {id: 'smuggled'}) RETURN x.id AS id")
    assert res["rows"] == [{"id": "smuggled"}]
    assert await store.read("MATCH (a:Account {id: 'smuggled'}) RETURN a.id AS id") == []


@pytest.mark.parametrize("hostile", HOSTILE)
async def test_hostile_ids_change_nothing(store: GraphStore, hostile: str) -> None:
    before = await store.counts()
    assert await queries.person_360(store, hostile) is None
    assert (await queries.ego_network(store, hostile))["center"] is None
    assert (await queries.shortest_path(store, hostile, "acme"))["paths"] == []
    assert (await queries.top_influencers(store, topic=hostile[:100]))["influencers"] == []
    if len(hostile) <= 300:
        assert await queries.search_nodes(store, hostile) == []
    assert await store.counts() == before

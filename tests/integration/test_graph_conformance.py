"""One Cypher layer, two stores: the statements and store behaviours Groundswell relies on, run
against embedded ArcadeDB always and against Neo4j 5 when NEO4J_URI is set (``graph_backend``;
the Neo4j half skips cleanly otherwise). Only final stored state is compared: per-row RETURN
values inside one UNWIND differ (ArcadeDB returns the batch's final value on every row, Neo4j the
value after that row), so nothing in the code reads them.

Covered: duplicate keys in one batch, repeated upserts, variable-length paths, top-N, deletes,
constraint violations (and that they roll the whole transaction back and are retried), and the
versioned migrations under concurrent starts.
"""

from __future__ import annotations

import asyncio
import uuid
from typing import Any

import neo4j
import pytest
from neo4j.exceptions import ConstraintError, Neo4jError

from activity.schema import AccountRef, Activity, ActivityKind, Network
from graph import cypher, migrations, write_path
from graph.migrations import Migration, MigrationState
from graph.store import GraphStore, _retryable
from groundswell.metrics import Metrics
from tests.fixtures.graph import GraphUnderTest

pytestmark = pytest.mark.integration

K = ActivityKind


def acc(i: int | str) -> AccountRef:
    return AccountRef(f"c:{i}", Network.X, handle=f"h{i}")


def act(eid: str, kind: ActivityKind, actor: AccountRef, t: float, **kw: Any) -> Activity:
    return Activity(eid, kind, Network.X, actor, t, t, "conformance", **kw)


async def run(store: GraphStore, query: str, **params: Any) -> None:
    async def work(tx: neo4j.AsyncTransaction) -> None:
        await tx.run(query, params)

    await store.write(work)


async def accounts(store: GraphStore, *ids: str) -> None:
    await run(store, cypher.NODE_CREATE["Account"], rows=[{"id": i, "props": {"handle": i}} for i in ids])


async def edge_rows(store: GraphStore, rel: str = "LIKED") -> dict[tuple[str, str], tuple[int, float, float]]:
    rows = await store.read(
        f"MATCH (s)-[r:{rel}]->(t) "
        "RETURN s.id AS s, t.id AS t, r.count AS n, r.first_seen AS fs, r.last_seen AS ls"
    )
    return {(r["s"], r["t"]): (r["n"], r["fs"], r["ls"]) for r in rows}


# -- duplicate keys in one batch -------------------------------------------------------------------
async def test_merge_with_duplicate_keys_in_one_unwind_makes_one_node(graph_store: GraphStore) -> None:
    await run(graph_store, "UNWIND $ids AS id MERGE (n:Account {id: id})", ids=["a", "a", "b", "a"])
    rows = await graph_store.read("MATCH (n:Account) RETURN n.id AS id ORDER BY id")
    assert [r["id"] for r in rows] == ["a", "b"]


async def test_create_with_duplicate_keys_in_one_unwind_fails_and_writes_nothing(
    graph_store: GraphStore,
) -> None:
    """Why the planner de-duplicates in Python: a CREATE of a repeated key violates the
    constraint on both stores, and nothing of the statement's transaction stays."""
    with pytest.raises(ConstraintError) as raised:
        await run(graph_store, cypher.NODE_CREATE["Account"], rows=[{"id": "d", "props": {}}] * 2)
    assert raised.value.code == "Neo.ClientError.Schema.ConstraintValidationFailed"
    assert await graph_store.read("MATCH (n:Account) RETURN n.id AS id") == []


async def test_duplicate_edge_keys_in_one_batch_count_each_event(graph_store: GraphStore) -> None:
    batch = [act(f"e{i}", K.LIKE, acc(1), 100.0 + i, target_account=acc(2)) for i in range(5)]
    result = await graph_store.apply([*batch, batch[0], batch[3]])
    assert (result.applied_events, result.skipped_duplicates) == (5, 2)
    assert await edge_rows(graph_store) == {("c:1", "c:2"): (5, 100.0, 104.0)}


# -- repeated upserts ------------------------------------------------------------------------------
async def test_repeated_edge_upserts_accumulate_and_keep_first_and_last_seen(graph_store: GraphStore) -> None:
    await accounts(graph_store, "a", "b", "c")
    merge = cypher.EDGE_MERGE["LIKED"]  # (expanding from the source, from the target): the same edge
    for way, (n, fs, ls) in enumerate(((1, 50.0, 60.0), (2, 10.0, 20.0), (3, 70.0, 90.0))):
        row = {"src": "a", "dst": "b", "n": n, "fs": fs, "ls": ls, "conf": None}
        await run(graph_store, merge[way % 2], rows=[row])
    dup = {"src": "b", "dst": "c", "n": 1, "fs": 5.0, "ls": 5.0, "conf": None}
    await run(graph_store, merge[0], rows=[dup] * 3)
    assert await edge_rows(graph_store) == {("a", "b"): (6, 10.0, 90.0), ("b", "c"): (3, 5.0, 5.0)}
    rels = await graph_store.read("MATCH ()-[r:LIKED]->() RETURN count(r) AS c")
    assert rels == [{"c": 2}]  # upserts, never a second relationship


async def test_create_absent_then_update_equals_merge(graph_store: GraphStore) -> None:
    """The embedded store's upsert (``EDGE_CREATE_ABSENT``, then ``EDGE_UPDATE`` for the rows it
    did not create) leaves exactly what MERGE leaves, around a hub and for rows that all exist."""
    await accounts(graph_store, "hub", *(f"x{i}" for i in range(30)))
    seed = [
        {"src": f"x{i}", "dst": "hub", "n": 1, "fs": 50.0, "ls": 60.0, "conf": None} for i in range(0, 30, 2)
    ]
    await run(graph_store, cypher.EDGE_CREATE["LIKED"], rows=seed)
    batch = [  # every x once: the even ones exist, the odd ones are new; one row the other way
        {"src": f"x{i}", "dst": "hub", "n": 2, "fs": 40.0 + i, "ls": 70.0, "conf": None} for i in range(30)
    ] + [{"src": "hub", "dst": "x3", "n": 1, "fs": 1.0, "ls": 1.0, "conf": None}]

    async def upsert(tx: neo4j.AsyncTransaction) -> list[int]:
        present = await write_path.create_absent_edges(tx, "LIKED", batch)
        await tx.run(cypher.EDGE_UPDATE["LIKED"][0], rows=present[::2])
        await tx.run(cypher.EDGE_UPDATE["LIKED"][1], rows=present[1::2])
        return [i for i, r in enumerate(batch) if r not in present]  # the rows it created

    created = await graph_store.write(upsert)
    assert created == [*range(1, 30, 2), 30]
    split = await edge_rows(graph_store)
    assert len(split) == 31  # never a second relationship for an existing pair
    # the same again: nothing is created, every row updates
    assert await graph_store.write(upsert) == []
    twice = await edge_rows(graph_store)

    await wipe_edges(graph_store)
    await run(graph_store, cypher.EDGE_CREATE["LIKED"], rows=seed)
    for _ in range(2):
        await run(graph_store, cypher.EDGE_MERGE["LIKED"][0], rows=batch)
    assert await edge_rows(graph_store) == twice
    assert twice[("x0", "hub")] == (5, 40.0, 70.0) and twice[("x1", "hub")] == (4, 41.0, 70.0)


async def wipe_edges(store: GraphStore) -> None:
    await run(store, "MATCH ()-[r:LIKED]->() DELETE r")


@pytest.mark.parametrize("dense", [False, True])
async def test_the_store_upserts_the_same_whichever_way_it_writes(
    graph_store: GraphStore, dense: bool
) -> None:
    """``merge_edges`` through the store: MERGE, or (embedded store, both ends busy in the write
    stream) CREATE-if-absent + update. Repeated batches accumulate on one relationship per pair."""
    await accounts(graph_store, "a", "b", "c")
    if dense:  # as if a, b and c had been in many recent rows
        graph_store._endpoints.observe(["a", "b", "c"] * write_path.DENSE_ENDS)
    rows = [
        {"src": "a", "dst": "b", "n": 1, "fs": 5.0, "ls": 5.0, "conf": None},
        {"src": "b", "dst": "c", "n": 2, "fs": 6.0, "ls": 7.0, "conf": None},
    ]
    for k in range(3):

        async def work(tx: neo4j.AsyncTransaction, k: int = k) -> None:
            await graph_store.merge_edges(tx, "LIKED", rows[: k + 1] if k < 2 else rows)

        await graph_store.write(work)
    assert await edge_rows(graph_store) == {("a", "b"): (3, 5.0, 5.0), ("b", "c"): (4, 6.0, 7.0)}


async def test_repeated_node_upserts_change_only_what_they_name(graph_store: GraphStore) -> None:
    await accounts(graph_store, "a")
    update = cypher.NODE_UPDATE["Account"]
    await run(graph_store, update, rows=[{"id": "a", "props": {"bio": "one", "followers": 3}}])
    await run(
        graph_store, update, rows=[{"id": "a", "props": {"bio": "two"}}, {"id": "a", "props": {"bio": "two"}}]
    )
    rows = await graph_store.read("MATCH (n:Account {id: 'a'}) RETURN properties(n) AS p")
    assert rows[0]["p"] == {"id": "a", "handle": "a", "bio": "two", "followers": 3}


async def test_replaying_a_batch_changes_nothing(graph_store: GraphStore) -> None:
    batch = [
        act("p1", K.POST, acc(1), 10.0, post_id="post1", text="hi", mentions=(acc(2), acc(3))),
        act("r1", K.REPLY, acc(2), 20.0, post_id="post2", target_post_id="post1", target_account=acc(1)),
        act("f1", K.FOLLOW, acc(3), 30.0, target_account=acc(1)),
    ]
    await graph_store.apply(batch)
    before = (await graph_store.counts(), await edge_rows(graph_store, "MENTIONED"))
    again = await graph_store.apply(list(reversed(batch)))
    assert again.applied_events == 0
    assert (await graph_store.counts(), await edge_rows(graph_store, "MENTIONED")) == before


# -- variable-length paths -------------------------------------------------------------------------
async def chain(store: GraphStore) -> None:
    """a -> b -> c -> d (FOLLOWS), e -> a (LIKED)."""
    await accounts(store, "a", "b", "c", "d", "e")
    rows = [{"src": s, "dst": t, "n": 1, "fs": 1.0, "ls": 1.0, "conf": None} for s, t in ("ab", "bc", "cd")]
    await run(store, cypher.EDGE_MERGE["FOLLOWS"][0], rows=rows)
    await run(store, cypher.EDGE_MERGE["LIKED"][1], rows=[{**rows[0], "src": "e", "dst": "a"}])


async def test_variable_length_paths(graph_store: GraphStore) -> None:
    await chain(graph_store)
    out = await graph_store.read(
        "MATCH (:Account {id: 'a'})-[:FOLLOWS*1..2]->(x) RETURN DISTINCT x.id AS id ORDER BY id"
    )
    assert [r["id"] for r in out] == ["b", "c"]
    both = await graph_store.read(
        "MATCH (:Account {id: 'b'})-[*1..2]-(x:Account) WHERE x.id <> 'b' "
        "RETURN DISTINCT x.id AS id ORDER BY id"
    )
    assert [r["id"] for r in both] == ["a", "c", "d", "e"]
    paths = await graph_store.read(
        "MATCH p = (:Account {id: 'a'})-[:FOLLOWS*1..5]->(:Account {id: 'd'}) "
        "RETURN length(p) AS hops, [n IN nodes(p) | n.id] AS ids"
    )
    assert paths == [{"hops": 3, "ids": ["a", "b", "c", "d"]}]
    short = await graph_store.read(
        "MATCH p = shortestPath((:Account {id: 'e'})-[*..6]-(:Account {id: 'd'})) RETURN length(p) AS hops"
    )
    assert short == [{"hops": 4}]
    none = await graph_store.read("MATCH (:Account {id: 'd'})-[:FOLLOWS*1..3]->(x) RETURN x.id AS id")
    assert none == []


# -- top-N -------------------------------------------------------------------------------------
async def test_top_n_by_property_and_by_weighted_in_degree(graph_store: GraphStore) -> None:
    await graph_store.set_influence(
        [("c:1", 2.0, 1.0), ("c:2", 5.0, 1.0), ("c:3", 2.0, 1.0), ("c:4", 1.0, 1.0)]
    )
    top = await graph_store.top_influencers(3)
    assert [r["id"] for r in top] == ["c:2", "c:1", "c:3"]  # ties broken by id
    likes = [
        act(f"l{i}-{s}", K.LIKE, acc(s), float(i), target_account=acc(t))
        for i, (s, t) in enumerate([(1, 2), (3, 2), (4, 2), (1, 3), (4, 3), (2, 4)])
    ]
    likes.append(act("l-again", K.LIKE, acc(1), 99.0, target_account=acc(2)))
    await graph_store.apply(likes)
    rows = await graph_store.read(
        "MATCH (a:Account)<-[r:LIKED]-() RETURN a.id AS id, sum(r.count) AS w, count(r) AS n "
        "ORDER BY w DESC, id ASC LIMIT $n",
        n=2,
    )
    assert rows == [{"id": "c:2", "w": 4, "n": 3}, {"id": "c:3", "w": 2, "n": 2}]


# -- deletes -----------------------------------------------------------------------------------
async def test_deletes(graph_store: GraphStore) -> None:
    await chain(graph_store)
    with pytest.raises(Neo4jError):  # a node with relationships needs DETACH DELETE, on both
        await run(graph_store, "MATCH (n:Account {id: 'b'}) DELETE n")
    assert (await graph_store.counts())["Account"] == 5
    await run(graph_store, "MATCH (n:Account {id: 'b'}) DETACH DELETE n")
    counts = await graph_store.counts()
    assert (counts["Account"], counts["FOLLOWS"], counts["LIKED"]) == (4, 1, 1)

    # decrement to zero deletes the relationship; above zero keeps it; expanded from either end
    async def decrement(from_end: int) -> None:
        await run(
            graph_store, cypher.EDGE_DECREMENT["FOLLOWS"][from_end], rows=[{"src": "c", "dst": "d", "n": 1}]
        )

    again = {"src": "c", "dst": "d", "n": 2, "fs": 2.0, "ls": 2.0, "conf": None}
    await run(graph_store, cypher.EDGE_MERGE["FOLLOWS"][1], rows=[again])
    await decrement(0)
    assert await edge_rows(graph_store, "FOLLOWS") == {("c", "d"): (2, 1.0, 2.0)}
    await decrement(1)
    assert await edge_rows(graph_store, "FOLLOWS") == {("c", "d"): (1, 1.0, 2.0)}
    await decrement(1)
    assert await edge_rows(graph_store, "FOLLOWS") == {}
    await decrement(0)  # nothing left: no error
    await run(graph_store, "MATCH (n:Account) WHERE n.id IN $ids DETACH DELETE n", ids=["nobody"])


async def test_delete_activity_undoes_a_post_and_its_edges(graph_store: GraphStore) -> None:
    post = act("p1", K.POST, acc(1), 10.0, post_id="post1", text="hi", mentions=(acc(2),))
    await graph_store.apply([post])
    await graph_store.apply([act("d1", K.DELETE, acc(1), 20.0, post_id="post1")])
    counts = await graph_store.counts()
    assert (counts["Post"], counts["AUTHORED"], counts["MENTIONED"]) == (0, 0, 0)
    await graph_store.apply([post])  # the replayed post stays deleted
    assert (await graph_store.counts())["Post"] == 0


# -- constraint violations -------------------------------------------------------------------------
async def test_constraint_violation_rolls_the_transaction_back(graph_store: GraphStore) -> None:
    await accounts(graph_store, "taken")

    async def work(tx: neo4j.AsyncTransaction) -> None:
        await tx.run(cypher.NODE_CREATE["Account"], rows=[{"id": "fresh", "props": {}}])
        await (await tx.run(cypher.NODE_CREATE["Account"], rows=[{"id": "taken", "props": {}}])).consume()

    with pytest.raises(ConstraintError) as raised:
        await graph_store.write(work)
    assert raised.value.code == "Neo.ClientError.Schema.ConstraintValidationFailed"
    assert _retryable(raised.value)  # a concurrent writer's race, retried by the store
    rows = await graph_store.read("MATCH (n:Account) RETURN n.id AS id")
    assert rows == [{"id": "taken"}]


async def test_two_writers_racing_on_new_keys_both_land_once(
    graph_store: GraphStore, graph_backend: GraphUnderTest, graph_metrics: Metrics
) -> None:
    """Two processes creating the same new accounts at once: the loser's constraint failure is
    retried with backoff and finds them; exact counts, no duplicates."""
    other = await GraphStore.connect(graph_backend.settings, graph_metrics)
    try:
        batches = [
            [act(f"{tag}{i}", K.FOLLOW, acc(i), float(i), target_account=acc(i + 1)) for i in range(50)]
            for tag in ("x", "y", "z")
        ]
        results = await asyncio.gather(
            graph_store.apply(batches[0]), other.apply(batches[1]), graph_store.apply(batches[2])
        )
    finally:
        await other.close()
    assert sum(r.applied_events for r in results) == 150
    counts = await graph_store.counts()
    assert (counts["Account"], counts["Event"], counts["FOLLOWS"]) == (51, 150, 50)
    assert {v[0] for v in (await edge_rows(graph_store, "FOLLOWS")).values()} == {3}


# -- migrations ----------------------------------------------------------------------------------
async def test_registered_migrations_apply_once_and_report_applied(graph_store: GraphStore) -> None:
    states = await migrations.status(graph_store)
    assert states and {s.state for s in states} == {MigrationState.APPLIED}
    assert await migrations.apply(graph_store) == []  # nothing left to run
    shown = await graph_store.read("SHOW CONSTRAINTS")
    assert {"account_id", "event_id", "schemaversion_id"} <= {r["name"] for r in shown}


async def test_concurrent_starts_apply_a_new_migration_once(
    graph_store: GraphStore, graph_backend: GraphUnderTest, graph_metrics: Metrics
) -> None:
    tag = uuid.uuid4().hex[:8]
    label = f"ConfMig{tag}"
    version = 900_000 + int(tag, 16) % 90_000
    new = Migration(
        version,
        f"conformance {tag}",
        (
            f"CREATE CONSTRAINT confmig_{tag}_id IF NOT EXISTS FOR (n:{label}) REQUIRE n.id IS UNIQUE",
            f"CREATE INDEX confmig_{tag}_at IF NOT EXISTS FOR (n:{label}) ON (n.at)",
        ),
        owner="test",
    )

    async def state(migration: Migration) -> MigrationState:
        return next(
            s.state for s in await migrations.status(graph_store, [migration]) if s.version == version
        )

    kept = await graph_store.schema_version()
    stores = [await GraphStore.connect(graph_backend.settings, graph_metrics) for _ in range(4)]
    try:
        assert await state(new) is MigrationState.PENDING
        await asyncio.gather(*(s.setup([new]) for s in stores))
        ledger = await graph_store.read(
            "MATCH (m:SchemaVersion {id: $id}) RETURN m.checksum AS c, m.name AS n", id=new.ledger_id
        )
        assert ledger == [{"c": new.checksum, "n": new.name}]
        assert await state(new) is MigrationState.APPLIED
        with pytest.raises(ConstraintError):  # the migration's constraint is live
            await run(graph_store, f"UNWIND [1, 2] AS i CREATE (:{label} {{id: 'same'}})")
        edited = Migration(version, new.name, (*new.statements, "MATCH (n:Nothing) SET n.x = 1"), "test")
        assert await state(edited) is MigrationState.CHANGED
        unknown = [s for s in await migrations.status(graph_store, []) if s.version == version]
        assert [s.state for s in unknown] == [MigrationState.UNKNOWN]
    finally:
        for s in stores:
            await s.close()
        for statement in (
            f"DROP CONSTRAINT confmig_{tag}_id IF EXISTS",
            f"DROP INDEX confmig_{tag}_at IF EXISTS",
        ):
            await graph_store.execute(statement)
        await run(graph_store, "MATCH (s:SchemaVersion {id: 'graph'}) SET s.version = $v", v=kept)

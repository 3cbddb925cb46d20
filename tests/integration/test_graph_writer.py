"""The graph stage's adapter: a store outage holds the batch (it is not the data's fault), records
the store refuses become dead letters, and the rest of the batch is written; a bounded queue
pushes back on the caller and keeps the submission order; a real write conflict is retried."""

from __future__ import annotations

import asyncio

import neo4j
import pytest
from prometheus_client import CollectorRegistry

from activity.schema import AccountRef, Activity, ActivityKind, Network, Profile
from graph.arcadedb_server import free_port
from graph.store import GraphStore
from groundswell.metrics import Metrics
from groundswell.settings import Settings
from streams.graph_writer import GraphWriter
from tests.fixtures.graph import GraphUnderTest, tombstone_account

pytestmark = pytest.mark.integration


def like(i: int) -> Activity:
    return Activity(
        event_id=f"writer-test-{i}",
        kind=ActivityKind.LIKE,
        network=Network.BLUESKY,
        actor=AccountRef(id=f"bluesky:did:plc:writer{i}", network=Network.BLUESKY),
        created_at=1_783_000_000.0 + i,
        received_at=1_783_000_000.0 + i,
        source="test",
        target_account=AccountRef(id="bluesky:did:plc:writerstar", network=Network.BLUESKY),
    )


async def test_an_unreachable_store_holds_the_batch_instead_of_dead_lettering_it() -> None:
    metrics = Metrics.create()
    settings = Settings(graph_uri=f"bolt://127.0.0.1:{free_port()}")  # nothing listens there
    writer = GraphWriter(settings, metrics)
    try:
        with pytest.raises(TimeoutError):
            await asyncio.wait_for(writer.write([like(1)], [], []), timeout=3.0)
    finally:
        await writer.close(drain_s=0.1)
    assert (
        metrics.registry.get_sample_value(
            "groundswell_dead_letters_total", {"stage": "graph", "reason": "invalid_value"}
        )
        is None
    )


async def test_a_reachable_store_applies_the_batch_once(embedded_graph: GraphUnderTest) -> None:
    writer = GraphWriter(embedded_graph.settings, Metrics.create())
    try:
        result = await writer.write([like(i) for i in range(3)] + [like(0)], [], [])
        assert not result.dead and not result.erased
        assert sorted(a.event_id for a in result.applied) == [f"writer-test-{i}" for i in range(3)]
        again = await writer.write([like(1)], [], [])
        assert again.applied == []  # already applied: nothing to score twice
    finally:
        await writer.close()


async def test_a_write_names_the_erased_accounts_its_activities_met(embedded_graph: GraphUnderTest) -> None:
    """The graph stage withholds an erased account's profile from the resolver by what the write
    finds in the graph (streams.identity_commands), not only by the erase events its worker read."""
    writer = GraphWriter(embedded_graph.settings, Metrics.create())
    gone = "bluesky:did:plc:writergone"
    try:
        first = await writer.write([profile(20, "Gone Soon", gone), like(20)], [], [])
        assert first.erased == frozenset()
        store = await writer.open()
        assert gone not in await store.erased_accounts()
        await tombstone_account(store, gone)
        assert gone in await store.erased_accounts()  # what the intake's look after a sweep reads
        later = await writer.write([profile(21, "Back Again", gone), like(21)], [], [])
        assert [a.event_id for a in later.applied] == ["writer-profile-21", "writer-test-21"]
        assert later.erased == frozenset({gone})
        view = await store.account_view(gone)
        assert view is not None and "display_name" not in view["props"]  # nothing written on it
        replayed = await writer.write([profile(21, "Back Again", gone)], [], [])
        assert replayed.applied == [] and replayed.erased == frozenset()  # nothing applied, nothing met
    finally:
        await writer.close()


def profile(i: int, name: str, account: str = "bluesky:did:plc:ordered") -> Activity:
    return Activity(
        event_id=f"writer-profile-{i}",
        kind=ActivityKind.PROFILE,
        network=Network.BLUESKY,
        actor=AccountRef(id=account, network=Network.BLUESKY),
        created_at=1_783_000_000.0 + i,
        received_at=1_783_000_000.0 + i,
        source="test",
        profile=Profile(display_name=name),
    )


async def test_a_full_queue_makes_the_caller_wait_and_order_is_kept(embedded_graph: GraphUnderTest) -> None:
    """max_pending=1: while batch 0 is written and batch 1 waits in the queue, submitting batch 2
    returns only once batch 0 is done (backpressure). Each batch renames the same account: the
    last submitted name wins (one writer, submission order)."""
    writer = GraphWriter(embedded_graph.settings, Metrics.create(), max_pending=1)
    try:
        await writer.open()
        first = await writer.submit([like(100 + i) for i in range(200)] + [profile(0, "name-0")], [], [])
        second = await writer.submit([profile(1, "name-1")], [], [])
        assert writer.pending == 1 and not first.done()
        third = await writer.submit([profile(2, "name-2")], [], [])
        assert first.done()  # the third submit waited for the queue to move
        rest = [await writer.submit([profile(i, f"name-{i}")], [], []) for i in range(3, 8)]
        results = [await f for f in (first, second, third, *rest)]
        assert [len(r.applied) for r in results] == [201, 1, 1, 1, 1, 1, 1, 1]
        assert all(not r.dead for r in results)
        store = await writer.open()
        view = await store.account_view("bluesky:did:plc:ordered")
        assert view is not None and view["props"]["display_name"] == "name-7"
    finally:
        await writer.close()


async def test_a_real_write_conflict_is_retried_with_backoff(embedded_graph: GraphUnderTest) -> None:
    """ArcadeDB's optimistic MVCC: another client commits a change to a node this transaction
    changed; this commit then fails (ConcurrentModification) and the store runs the work again.
    (Neo4j would make the other client wait on a lock instead: embedded only.)"""
    metrics = Metrics.create(CollectorRegistry())
    store = await GraphStore.connect(embedded_graph.settings, metrics)
    settings = embedded_graph.settings
    intruder = neo4j.AsyncGraphDatabase.driver(
        settings.effective_graph_uri, auth=(settings.graph_user, settings.graph_password.get_secret_value())
    )
    try:
        await store.execute("MERGE (a:Account {id: 'writer-conflict'}) SET a.v = 0")
        changed, opened = asyncio.Event(), asyncio.Event()
        attempts: list[int] = []

        async def work(tx: neo4j.AsyncTransaction) -> int:
            attempts.append(len(attempts) + 1)
            await (await tx.run("MATCH (a:Account {id: 'writer-conflict'}) SET a.v = a.v + 1")).consume()
            opened.set()
            await changed.wait()  # the other client commits its change while this one is open
            return len(attempts)

        async def other_client() -> None:
            await opened.wait()
            await intruder.execute_query(
                "MATCH (a:Account {id: 'writer-conflict'}) SET a.v = a.v + 100",
                database_=settings.graph_database,
            )
            changed.set()

        ran, _ = await asyncio.gather(store.write(work), other_client())
        assert ran == 2
        assert metrics.graph_write_retries._value.get() == 1
        rows = await store.read("MATCH (a:Account {id: 'writer-conflict'}) RETURN a.v AS v")
        assert rows == [{"v": 101}]  # both changes, the retried one once
    finally:
        await intruder.close()
        await store.close()

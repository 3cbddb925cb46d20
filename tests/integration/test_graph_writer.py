"""The graph stage's adapter: a store outage holds the batch (it is not the data's fault), records
the store refuses become dead letters, and the rest of the batch is written."""

from __future__ import annotations

import asyncio

import pytest

from activity.schema import AccountRef, Activity, ActivityKind, Network
from graph.arcadedb_server import free_port
from groundswell.metrics import Metrics
from groundswell.settings import Settings
from streams.graph_writer import GraphWriter
from tests.fixtures.graph import GraphUnderTest

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
    with pytest.raises(TimeoutError):
        await asyncio.wait_for(writer.write([like(1)], [], []), timeout=3.0)
    assert (
        metrics.registry.get_sample_value(
            "groundswell_dead_letters_total", {"stage": "graph", "reason": "invalid_value"}
        )
        is None
    )


async def test_a_reachable_store_applies_the_batch_once(embedded_graph: GraphUnderTest) -> None:
    writer = GraphWriter(embedded_graph.settings, Metrics.create())
    try:
        applied, dead = await writer.write([like(i) for i in range(3)] + [like(0)], [], [])
        assert not dead
        assert sorted(a.event_id for a in applied) == [f"writer-test-{i}" for i in range(3)]
        again, _ = await writer.write([like(1)], [], [])
        assert again == []  # already applied: nothing to score twice
    finally:
        await writer.close()

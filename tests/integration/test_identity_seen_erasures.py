"""A worker that never read an account's erase event still drops the field hashes it keeps of the
account: after each sweep of ``identity-seen`` it reads the graph's erased accounts
(streams.identity_agent.install_identity_intake). On a real worker process with the embedded broker
and graph store, an account is tombstoned in the graph with no erase event and no later activity."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Iterator

import pytest

from graph.store import GraphStore
from sources.replay import iter_files
from sources.samples import demo_files
from tests.fixtures.graph import GraphUnderTest, tombstone_account
from tests.fixtures.pipeline import Pipeline, metric, worker_of_its_own
from tests.fixtures.waiting import eventually

pytestmark = pytest.mark.integration

FORGOTTEN = 'groundswell_erased_forgotten_total{what="identity_seen"}'


@pytest.fixture(scope="module")
def sweeping_often(
    embedded_graph: GraphUnderTest, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Pipeline]:
    data_dir = tmp_path_factory.mktemp("seen-erasures")
    # the graph emptied first: an author the worker never saw (another module's) has no entry to mark
    with worker_of_its_own(embedded_graph.settings, data_dir, wipe=True, state_sweep_seconds=2.0) as worker:
        yield worker


def test_the_hashes_of_an_account_erased_elsewhere_go_at_the_next_sweep(sweeping_often: Pipeline) -> None:
    worker = sweeping_often
    worker.replay(iter_files([p for p in demo_files() if p.name.startswith("bluesky_jetstream")]))
    worker.wait_idle()
    assert metric(worker.metrics_text(), FORGOTTEN) == 0.0

    async def tombstone_an_author() -> str:
        async with await GraphStore.connect(worker.settings) as store:
            rows = await store.read(
                "MATCH (a:Account)-[:AUTHORED]->(:Post) WHERE a.erased IS NULL "
                "RETURN a.id AS id ORDER BY a.id LIMIT 1"
            )
            await tombstone_account(store, rows[0]["id"])  # no erase event: another worker's API call
            return str(rows[0]["id"])

    author = asyncio.run(tombstone_an_author())
    eventually(
        f"the entry of {author} to lose its hashes",
        lambda: metric(worker.metrics_text(), FORGOTTEN) >= 1.0,
        30,
        alive=worker.assert_alive,
        every=0.5,
        detail=lambda: "\n" + worker.logs()[-3000:],
    )
    time.sleep(4.0)  # two more sweeps: the marked entry is not counted again
    assert metric(worker.metrics_text(), FORGOTTEN) == 1.0
    assert "identity-seen: the field hashes of 1 erased accounts dropped" in worker.logs()

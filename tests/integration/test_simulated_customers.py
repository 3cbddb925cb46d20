"""`up --simulate` imports the simulated company's CRM (made-up customers, sources/_crm.py): on the
real embedded graph and broker, every row written and queued for the resolver, and a second `up`
changes nothing."""

from __future__ import annotations

import asyncio
import uuid
from pathlib import Path

import pytest

from graph.store import GraphStore
from groundswell.cli import import_simulated_customers
from groundswell.settings import Settings
from sources.simulate import Simulator
from streams.broker import write_address
from streams.identity_commands import TOPIC_IDENTITY_COMMANDS
from tests.fixtures.broker import BrokerUnderTest, read_messages
from tests.fixtures.graph import GraphUnderTest, wipe

pytestmark = pytest.mark.integration


def crm_accounts(settings: Settings) -> dict[str, float]:
    async def read() -> dict[str, float]:
        async with await GraphStore.connect(settings) as store:
            rows = await store.read(
                "MATCH (a:Account) WHERE a.network = 'crm' RETURN a.id AS id, a.customer_value AS v"
            )
            return {r["id"]: r["v"] for r in rows}

    return asyncio.run(read())


def emptied(settings: Settings) -> None:
    async def run() -> None:
        async with await GraphStore.connect(settings) as store:
            await store.setup()
            await wipe(store)

    asyncio.run(run())


def test_up_simulate_imports_the_simulated_customers_once(
    embedded_graph: GraphUnderTest, embedded_broker: BrokerUnderTest, tmp_path: Path
) -> None:
    settings = embedded_graph.settings.model_copy(update={"data_dir": tmp_path})
    write_address(settings.broker_address_file, embedded_broker.bootstrap)
    prefix = f"sim{uuid.uuid4().hex[:8]}."
    contacts = Simulator(seed=7).crm_contacts()
    emptied(settings)
    try:
        line = import_simulated_customers(settings, topic_prefix=prefix)
        n = len(contacts)
        export = tmp_path / "simulated-crm-customers.csv"
        assert line.startswith(f"{n} customers from {export} ({n} new"), line
        assert line.endswith("0 rows failed)"), line
        stored = crm_accounts(settings)
        want = {f"crm:{c.row['Record ID']}": float(c.row["Total Revenue"]) for c in contacts}
        assert stored == pytest.approx(want)
        # every customer queued for the one resolver, which links them as their accounts show up
        queued = read_messages(embedded_broker.bootstrap, prefix + TOPIC_IDENTITY_COMMANDS, expected=n)
        assert len(queued) == n
        # a second `up --simulate` on the same data folder: the same customers, nothing changed
        again = import_simulated_customers(settings, topic_prefix=prefix)
        assert f"(0 new, 0 changed, {n} unchanged; 0 rows failed)" in again, again
        assert crm_accounts(settings) == stored
    finally:
        emptied(settings)

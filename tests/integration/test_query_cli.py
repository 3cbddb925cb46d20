"""`groundswell query ...` against the real embedded graph: JSON out, clean refusals."""

from __future__ import annotations

import asyncio
import json

import pytest

from graph.store import GraphStore
from groundswell.cli import main
from tests.fixtures.graph import GraphUnderTest, wipe
from tests.fixtures.social_graph import CUST_PERSON, STAR, seed_social_graph

pytestmark = pytest.mark.integration


@pytest.fixture
def seeded(graph_backend: GraphUnderTest, monkeypatch: pytest.MonkeyPatch) -> GraphUnderTest:
    async def seed() -> None:
        async with await GraphStore.connect(graph_backend.settings) as store:
            await store.setup()
            await wipe(store)
            await seed_social_graph(store)

    asyncio.run(seed())
    for name, value in graph_backend.settings.to_env().items():
        monkeypatch.setenv(name, value)  # the CLI builds its settings from the environment
    return graph_backend


def run(capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str, str]:
    code = main(["query", *argv])
    out = capsys.readouterr()
    return code, out.out, out.err


def test_queries_print_json(seeded: GraphUnderTest, capsys: pytest.CaptureFixture[str]) -> None:
    code, out, _ = run(capsys, "top", "--limit", "3")
    assert code == 0
    top = json.loads(out)["influencers"]
    assert top[0]["id"] == STAR.id
    code, out, _ = run(capsys, "person", CUST_PERSON)
    assert code == 0 and json.loads(out)["person_id"] == CUST_PERSON
    code, out, _ = run(capsys, "ego", STAR.id, "--depth", "1", "--cap", "5")
    ego = json.loads(out)
    assert code == 0 and len(ego["nodes"]) <= 5 and ego["center"]
    query = "MATCH (a:Account {id: $id}) RETURN a.id AS id"
    code, out, _ = run(capsys, "cypher", query, "--params", json.dumps({"id": STAR.id}))
    assert code == 0 and json.loads(out)["rows"] == [{"id": STAR.id}]


def test_writes_and_unknown_ids_are_refused_cleanly(
    seeded: GraphUnderTest, capsys: pytest.CaptureFixture[str]
) -> None:
    code, _, err = run(capsys, "cypher", "MATCH (a:Account) DETACH DELETE a")
    assert code == 2 and "groundswell query:" in err
    code, out, _ = run(capsys, "person", "person:nobody")
    assert code == 1 and json.loads(out) is None

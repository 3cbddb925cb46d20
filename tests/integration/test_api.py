"""The HTTP API over the real embedded graph store (with the API keys a caller needs)."""

from __future__ import annotations

import asyncio
import urllib.parse
from collections.abc import Iterator

import pytest
from fastapi.testclient import TestClient
from pydantic import SecretStr

from activity.schema import AccountRef, Activity, ActivityKind, Network
from api.app import create_api
from api.auth import KeyStore
from graph.store import GraphStore
from scoring import influence
from tests.fixtures.graph import GraphUnderTest, wipe

pytestmark = pytest.mark.integration


def acct(n: str) -> AccountRef:
    return AccountRef(id=f"bluesky:did:plc:{n}", network=Network.BLUESKY, handle=f"{n}.bsky.social")


def seed(graph: GraphUnderTest) -> None:
    t = 1_783_000_000.0
    acts = [
        Activity(
            event_id=f"e{i}",
            kind=ActivityKind.LIKE,
            network=Network.BLUESKY,
            actor=acct(f"fan{i}"),
            created_at=t + i,
            received_at=t + i,
            source="test",
            target_account=acct("star"),
        )
        for i in range(5)
    ] + [
        Activity(
            event_id="p1",
            kind=ActivityKind.REPLY,
            network=Network.BLUESKY,
            actor=acct("star"),
            created_at=t + 9,
            received_at=t + 9,
            source="test",
            post_id="bluesky:at://star/p/1",
            text="thanks all",
            target_account=acct("fan1"),
        )
    ]

    async def run() -> None:
        async with await GraphStore.connect(graph.settings) as store:
            await store.setup()
            await wipe(store)
            await store.apply(acts)
            half_life = graph.settings.influence_half_life_hours * 3600
            star = influence.NO_SCORE
            for i in range(5):
                star = influence.add(star, 0.5, t + i, half_life)
            fan = influence.add(influence.NO_SCORE, 2.0, t + 9, half_life)
            await store.set_influence([(acct("star").id, star, t + 10), (acct("fan1").id, fan, t + 10)])

    asyncio.run(run())


ADMIN_KEY = "test-admin-key-" + "x" * 24
#: the secrets of the keys the module's client uses, by role
KEYS: dict[str, str] = {}


@pytest.fixture(scope="module")
def client(embedded_graph: GraphUnderTest, tmp_path_factory: pytest.TempPathFactory) -> Iterator[TestClient]:
    seed(embedded_graph)
    settings = embedded_graph.settings.model_copy(
        update={"data_dir": tmp_path_factory.mktemp("api"), "api_admin_key": SecretStr(ADMIN_KEY)}
    )
    keys = KeyStore.for_settings(settings)
    for role in ("marketer", "ops"):
        KEYS[role] = keys.create(role, role)[1]
    with TestClient(create_api(settings, keys=keys)) as c:
        c.headers["X-API-Key"] = KEYS["marketer"]
        yield c


def test_health_ready_metrics_and_docs(client: TestClient) -> None:
    assert client.get("/healthz").json() == {"status": "ok"}
    ready = client.get("/readyz")
    assert ready.json()["checks"]["graph"] == "ok"
    assert client.get("/metrics").status_code == 403  # a marketer key is not an ops key
    text = client.get("/metrics", headers={"X-API-Key": KEYS["ops"]}).text
    assert "groundswell_api_requests_total" in text
    assert client.get("/openapi.json").json()["info"]["title"] == "Groundswell"
    assert client.get("/docs").status_code == 200


def test_influencers_ranked_with_current_value(client: TestClient) -> None:
    body = client.get("/influencers", params={"limit": 5}).json()
    ids = [r["id"] for r in body["influencers"]]
    assert ids[:2] == [acct("star").id, acct("fan1").id]
    assert body["influencers"][0]["influence"] > 0
    assert client.get("/influencers", params={"network": "x"}).json()["influencers"] == []
    assert client.get("/influencers", params={"limit": 0}).status_code == 422
    assert client.get("/influencers", params={"network": "x') RETURN 1 //"}).status_code == 422


def test_account_view_profile_person_scores_and_interactions(client: TestClient) -> None:
    star = acct("star").id
    body = client.get(f"/accounts/{urllib.parse.quote(star, safe=':')}").json()
    assert body["id"] == star
    assert body["influence"] > 0
    kinds = {(i["direction"], i["type"]) for i in body["interactions"]}
    assert ("in", "LIKED") in kinds and ("out", "REPLIED_TO") in kinds


@pytest.mark.parametrize(
    "hostile",
    ["x'}) DETACH DELETE n //", "bluesky:did:plc:star' OR 1=1", "{id: 1}) MATCH (n) DETACH DELETE n"],
)
def test_hostile_ids_are_data_not_cypher(
    client: TestClient, embedded_graph: GraphUnderTest, hostile: str
) -> None:
    assert client.get("/accounts/" + urllib.parse.quote(hostile, safe="")).status_code == 404
    assert client.get(f"/accounts/{urllib.parse.quote(acct('star').id, safe=':')}").status_code == 200

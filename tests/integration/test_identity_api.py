"""The identity endpoints over the real graph, encoder, index and matcher, with real API keys."""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from api.auth import KeyStore, require_role
from api.identity_routes import create_identity_router
from embedding.encoder import Encoder
from graph.store import GraphStore
from identity import persons as gp
from identity.ann import VectorIndex
from identity.candidates import CandidateSearch
from identity.matcher import Matcher
from identity.service import IdentityService

pytestmark = pytest.mark.integration

CRM = Path(__file__).resolve().parents[1] / "data" / "crm"
ADMIN, MARKETER, OPS = "admin-secret-" + "a" * 24, "marketer-secret-" + "m" * 24, "ops-secret-" + "o" * 24


@pytest.fixture(scope="module")
def encoder() -> Encoder:
    return Encoder()


@pytest.fixture
async def api(
    graph_store: GraphStore, encoder: Encoder, tmp_path: Path
) -> AsyncIterator[tuple[httpx.AsyncClient, IdentityService]]:
    service = IdentityService(
        graph_store, Matcher(), CandidateSearch(encoder, VectorIndex(384)), encoder=encoder
    )
    await service.setup()
    keys = KeyStore(tmp_path / "keys.sqlite")
    keys.add(ADMIN, "root", "admin")
    keys.add(MARKETER, "mia", "marketer")
    keys.add(OPS, "otto", "ops")
    app = FastAPI()
    app.state.api_keys = keys
    app.include_router(create_identity_router(service, require_role))
    async with httpx.AsyncClient(transport=httpx.ASGITransport(app=app), base_url="http://test") as client:
        yield client, service


def as_(key: str) -> dict[str, str]:
    return {"X-API-Key": key}


async def test_import_review_link_unlink_erase(api: tuple[httpx.AsyncClient, IdentityService]) -> None:
    client, service = api
    body = (CRM / "hubspot_contacts.csv").read_bytes()
    csv = {"Content-Type": "text/csv"}
    denied = await client.post("/customers/import", content=body, headers={**as_(MARKETER), **csv})
    assert denied.status_code == 403
    assert (await client.post("/customers/import", content=body, headers=csv)).status_code == 401
    r = await client.post("/customers/import", content=body, headers={**as_(ADMIN), **csv})
    assert r.status_code == 200, r.text
    report: dict[str, Any] = r.json()
    assert report["written"]["created"] == 2 and report["failed"] == 1
    assert report["errors"][0]["row"] == 2 and "no identifying field" in report["errors"][0]["reason"]
    again = (await client.post("/customers/import", content=body, headers={**as_(ADMIN), **csv})).json()
    assert again["written"] == {"created": 0, "updated": 0, "unchanged": 2}
    bad = await client.post("/customers/import", content=b"foo,bar\n1,2\n", headers={**as_(ADMIN), **csv})
    assert bad.status_code == 400 and "no known column" in bad.json()["detail"]

    async def plant(tx: Any) -> str | None:
        return await gp.upsert_review(tx, "crm:101", "crm:103", 0.66, "[]", 1.0)

    rid = await service.store.write(plant)
    queue = (await client.get("/review", headers=as_(MARKETER))).json()["items"]
    assert [q["id"] for q in queue] == [rid]
    assert (await client.get("/review", headers=as_(OPS))).status_code == 403
    ok = await client.post(f"/review/{rid}/accept", headers=as_(MARKETER))
    assert ok.status_code == 200 and ok.json()["events"][0]["actor"] == "user:mia"
    assert (await client.post(f"/review/{rid}/accept", headers=as_(MARKETER))).status_code == 409
    assert (await client.post("/review/review:nope/reject", headers=as_(MARKETER))).status_code == 404

    pid = (
        await service.store.read(
            "MATCH (:Account {id: 'crm:101'})-[:ACCOUNT_OF]->(p:Person) RETURN p.id AS p"
        )
    )[0]["p"]
    view = (await client.get(f"/persons/{pid}/accounts", headers=as_(MARKETER))).json()
    assert sorted(a["id"] for a in view["accounts"]) == ["crm:101", "crm:103"]
    assert any(f"merged via {rid}:accept" in a["decided_by"] for a in view["accounts"])

    un = await client.post("/identity/unlink", json={"a": "crm:103"}, headers=as_(ADMIN))
    assert un.status_code == 200 and un.json()["events"][0]["action"] == "split"
    assert (
        await client.post("/identity/unlink", json={"a": "crm:103"}, headers=as_(MARKETER))
    ).status_code == 403
    view = (await client.get(f"/persons/{pid}/accounts", headers=as_(MARKETER))).json()
    assert [a["id"] for a in view["accounts"]] == ["crm:101"]
    conflict = await client.post("/identity/link", json={"a": "crm:999", "b": "crm:101"}, headers=as_(ADMIN))
    assert conflict.status_code == 404

    gone = await client.post(f"/persons/{pid}/erase", headers=as_(ADMIN))
    assert gone.status_code == 200 and gone.json()["record_ids"] == ["crm:101"]
    assert (await client.get(f"/persons/{pid}/accounts", headers=as_(MARKETER))).status_code == 410
    reimport = (await client.post("/customers/import", content=body, headers={**as_(ADMIN), **csv})).json()
    assert any(e["reason"] == "customer was erased" for e in reimport["errors"])
    props = (await service.store.read("MATCH (a:Account {id: 'crm:101'}) RETURN properties(a) AS p"))[0]["p"]
    assert "emails" not in props and "first_name" not in props

"""API keys and roles on every endpoint, key management, and hostile request values, over the
real embedded graph store."""

from __future__ import annotations

import asyncio
import re
import sqlite3
import stat
import urllib.parse
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.routing import APIRoute
from fastapi.testclient import TestClient
from pydantic import SecretStr

from api.app import create_api
from api.auth import ADMIN_KEY_FILE, KeyStore, Role
from graph.store import GraphStore
from tests.fixtures.graph import GraphUnderTest, wipe
from tests.fixtures.social_graph import CUST, FAR, STAR, seed_social_graph

pytestmark = pytest.mark.integration

ADMIN = "auth-test-admin-" + "a" * 24
OPS = "auth-test-ops-" + "o" * 24
OPEN = {"/healthz", "/readyz", "/docs", "/docs/oauth2-redirect", "/redoc", "/openapi.json", "/ui"}
OPEN |= {"/ui/vendor/cytoscape.min.js"}  # the page and its library: static files, no data
HOSTILE = [
    "x'}) DETACH DELETE n //",
    "`}) MATCH (n) DETACH DELETE n //",
    "}) DETACH DELETE n //",
    "' OR 1=1 //",
    '"; MATCH (n) DETACH DELETE n',
    "$id",
    "\u202e🙂ünïcödé\u0301",
    "a" * 3000,
]


@pytest.fixture(scope="module")
def graph(embedded_graph: GraphUnderTest) -> GraphUnderTest:
    async def run() -> None:
        async with await GraphStore.connect(embedded_graph.settings) as store:
            await store.setup()
            await wipe(store)
            await seed_social_graph(store)

    asyncio.run(run())
    return embedded_graph


def _counts(graph: GraphUnderTest) -> dict[str, int]:
    async def run() -> dict[str, int]:
        async with await GraphStore.connect(graph.settings) as store:
            return await store.counts()

    return asyncio.run(run())


@pytest.fixture(scope="module")
def keys_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("keys")


@pytest.fixture(scope="module")
def client(graph: GraphUnderTest, keys_dir: Path) -> Iterator[TestClient]:
    settings = graph.settings.model_copy(
        update={"data_dir": keys_dir, "api_admin_key": SecretStr(ADMIN), "api_ops_key": SecretStr(OPS)}
    )
    with TestClient(create_api(settings)) as c:
        yield c


def key_for(client: TestClient, role: str) -> str:
    r = client.post("/admin/keys", json={"name": f"test {role}", "role": role}, headers={"X-API-Key": ADMIN})
    assert r.status_code == 201, r.text
    secret: str = r.json()["key"]
    return secret


def test_generated_admin_key_at_first_start(graph: GraphUnderTest, tmp_path: Path) -> None:
    settings = graph.settings.model_copy(update={"data_dir": tmp_path})
    with TestClient(create_api(settings)) as c:
        path = tmp_path / ADMIN_KEY_FILE
        secret = path.read_text().strip()
        assert stat.S_IMODE(path.stat().st_mode) == 0o600
        assert c.get("/whoami", headers={"X-API-Key": secret}).json()["role"] == "admin"
    raw = (tmp_path / "api_keys.sqlite3").read_bytes()
    assert secret.encode() not in raw  # stored hashed
    with TestClient(create_api(settings)) as c:  # a second start keeps the key, generates no other
        assert path.read_text().strip() == secret
        assert [k["role"] for k in c.get("/admin/keys", headers={"X-API-Key": secret}).json()["keys"]] == [
            "admin"
        ]


def test_roles_per_endpoint(client: TestClient) -> None:
    marketer, crm = key_for(client, "marketer"), key_for(client, "crm")
    assert client.get("/healthz").status_code == 200
    assert client.get("/readyz").json()["checks"]["graph"] == "ok"
    cases = [
        ("/metrics", {None: 401, marketer: 403, crm: 403, OPS: 200, ADMIN: 200}),
        ("/influencers", {None: 401, OPS: 403, crm: 403, marketer: 200, ADMIN: 200}),
        (f"/persons/{CUST.id}", {None: 401, OPS: 403, marketer: 200}),
        ("/admin/keys", {None: 401, marketer: 403, OPS: 403, crm: 403, ADMIN: 200}),
        ("/whoami", {None: 401, "gsk_not-a-key": 401, crm: 200, OPS: 200}),
    ]
    for path, expected in cases:
        for key, status in expected.items():
            headers = {"X-API-Key": key} if key else {}
            got = client.get(path, headers=headers)
            assert got.status_code == status, (path, key, got.text)
    bearer = client.get("/influencers", headers={"Authorization": f"Bearer {marketer}"})
    assert bearer.status_code == 200
    assert client.get("/influencers").headers["www-authenticate"] == "Bearer"


def test_every_route_but_health_needs_a_key(client: TestClient) -> None:
    """Every operation in the API's schema (routers other helpers add included) refuses a request
    without a key; the routes left out of the schema are the static graph page only."""
    checked = 0
    for path, operations in client.get("/openapi.json").json()["paths"].items():
        if path in OPEN:
            continue
        for method in operations:
            r = client.request(method.upper(), re.sub(r"\{[^}]+\}", "x", path))
            assert r.status_code == 401, (method, path, r.status_code)
            checked += 1
    assert checked >= 12
    hidden = [r for r in client.app.routes if isinstance(r, APIRoute) and not r.include_in_schema]  # type: ignore[attr-defined]
    assert {r.path for r in hidden} <= OPEN


def test_create_list_revoke(client: TestClient) -> None:
    admin = {"X-API-Key": ADMIN}
    created = client.post("/admin/keys", json={"name": "temp", "role": "marketer"}, headers=admin).json()
    assert created["key"].startswith("gsk_") and created["role"] == "marketer" and created["active"]
    listed = client.get("/admin/keys", headers=admin).json()["keys"]
    mine = next(k for k in listed if k["key_id"] == created["key_id"])
    assert "key" not in mine and "digest" not in mine and created["key"] not in str(listed)
    assert client.get("/influencers", headers={"X-API-Key": created["key"]}).status_code == 200
    revoked = client.delete(f"/admin/keys/{created['key_id']}", headers=admin)
    assert revoked.status_code == 200 and not revoked.json()["active"]
    assert client.get("/influencers", headers={"X-API-Key": created["key"]}).status_code == 401
    assert client.delete("/admin/keys/nope", headers=admin).status_code == 404
    for bad in ({"name": "x", "role": "root"}, {"name": "x'); DROP TABLE api_keys; --", "role": "ops"}, {}):
        assert client.post("/admin/keys", json=bad, headers=admin).status_code == 422


def test_the_last_admin_key_cannot_be_revoked(tmp_path: Path) -> None:
    keys = KeyStore(tmp_path / "k.sqlite3")
    first, _ = keys.create("one", Role.ADMIN)
    second, _ = keys.create("two", Role.ADMIN)
    assert keys.revoke(first.key_id) is not None
    with pytest.raises(ValueError, match="last active admin"):
        keys.revoke(second.key_id)
    assert keys.add("same secret", "a", Role.OPS) == keys.add("same secret", "b", Role.CRM)  # idempotent
    with sqlite3.connect(tmp_path / "k.sqlite3") as con:
        assert con.execute("SELECT count(*) FROM api_keys WHERE digest LIKE 'same%'").fetchone() == (0,)


def test_queries_through_the_api(client: TestClient) -> None:
    h = {"X-API-Key": key_for(client, "marketer")}
    top = client.get("/influencers", params={"hashtag": "coffee", "limit": 5}, headers=h).json()
    assert [r["id"] for r in top["influencers"]] == [STAR.id, CUST.id]
    person = client.get(f"/persons/{urllib.parse.quote(CUST.id, safe=':')}", headers=h).json()
    assert person["is_customer"] and len(person["accounts"]) == 2
    ego = client.get("/graph/ego", params={"id": STAR.id, "depth": 1}, headers=h).json()
    assert ego["center"] == STAR.id and len(ego["nodes"]) == 10
    path = client.get("/graph/path", params={"from": FAR.id}, headers=h).json()
    assert path["hops"] == 3
    comm = client.get("/graph/communities", params={"depth": 3}, headers=h).json()
    assert comm["nodes"] >= 12 and comm["communities"]
    assert client.get("/graph/search", params={"q": "star"}, headers=h).json()["results"][0]["id"] == STAR.id
    cy = client.post("/graph/cypher", json={"query": "MATCH (c:Company) RETURN c.id AS id"}, headers=h)
    assert cy.json()["rows"] == [{"id": "acme"}]
    for text, status in (
        ("MATCH (n) DETACH DELETE n", 422),
        ("MATCH (n) RETURN n; MATCH (m) DELETE m", 422),
        ("CALL dbms.components()", 422),
        ("LOAD CSV FROM 'file:///etc/passwd' AS l RETURN l", 422),
        ("MATCH (n RETURN n", 400),
    ):
        assert client.post("/graph/cypher", json={"query": text}, headers=h).status_code == status, text
    assert client.get("/graph/ego", params={"id": STAR.id, "depth": 4}, headers=h).status_code == 422
    assert client.get("/graph/ego", params={"id": STAR.id, "cap": 5000}, headers=h).status_code == 422


@pytest.mark.parametrize("hostile", HOSTILE)
def test_hostile_values_are_data(client: TestClient, graph: GraphUnderTest, hostile: str) -> None:
    h = {"X-API-Key": key_for(client, "marketer")}
    before = _counts(graph)
    quoted = urllib.parse.quote(hostile, safe="")
    responses = [
        client.get(f"/persons/{quoted}", headers=h),
        client.get(f"/accounts/{quoted}", headers=h),
        client.get("/graph/ego", params={"id": hostile}, headers=h),
        client.get("/graph/path", params={"from": hostile, "to": hostile}, headers=h),
        client.get("/graph/communities", params={"around": hostile}, headers=h),
        client.get("/graph/search", params={"q": hostile}, headers=h),
        client.get("/influencers", params={"hashtag": hostile}, headers=h),
        client.get("/influencers", params={"topic": hostile}, headers=h),
        client.get("/influencers", params={"network": hostile}, headers=h),
        client.post("/graph/cypher", json={"query": hostile}, headers=h),
        client.post(
            "/graph/cypher",
            json={"query": "MATCH (a:Account {id: $id}) RETURN a.id AS id", "params": {"id": hostile}},
            headers=h,
        ),
        client.delete(f"/admin/keys/{quoted}", headers={"X-API-Key": ADMIN}),
        client.get("/whoami", headers={"X-API-Key": hostile.encode("utf-8")}),  # raw bytes on the wire
    ]
    for r in responses:
        assert r.status_code < 500, (r.request.url, r.status_code, r.text)
        if r.status_code >= 400:
            assert "detail" in r.json()
    communities = responses[4]
    assert communities.status_code in (200, 422) and (
        communities.status_code == 422 or communities.json()["nodes"] == 0
    )
    assert responses[10].json()["rows"] == []
    assert _counts(graph) == before

"""Read queries for marketers and power users, over a ``GraphStore`` (``store.read`` only).

Every statement is a module constant built from the whitelists in ``graph.plan`` (labels,
relationship types); a request never reaches Cypher text, only parameters. Where a statement
needs a variable-length bound (shortest paths), the text is picked from a table prebuilt for each
allowed bound. The same statements run on embedded ArcadeDB and on Neo4j 5 (no APOC, no GDS, no
internal ids).

Expansions are bounded so that a hub (the company, a celebrity) cannot make a request walk the
whole graph: breadth-first search in Python, one indexed lookup per frontier label, at most
``cap`` neighbours per node and ``cap`` nodes overall; ``truncated`` says when a bound was hit.

Customers: a CRM customer is an ``Account`` with ``network = 'crm'`` (id ``crm:<customer id>``,
its properties the CRM record) linked to a ``Person`` by ``ACCOUNT_OF``, like any other account;
the person, and every account of that person, is then a customer.

The person view (``person_360``) lives in ``graph.person_view`` and is re-exported here.
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import networkx as nx

from graph.hashtags import has_hashtag, normalize_tag
from graph.person_view import person_360
from graph.plan import REL_TYPES
from graph.query_graph import (
    DEFAULT_HALF_LIFE_S,
    EGO_LABELS,
    MAX_CAP,
    MAX_DEPTH,
    QueryError,
    expand,
    find_node,
    node_view,
)
from graph.readonly import readonly_cypher
from graph.store import GraphStore
from scoring.influence import value_at

__all__ = [
    "MAX_CAP",
    "MAX_DEPTH",
    "QueryError",
    "communities",
    "ego_network",
    "person_360",
    "readonly_cypher",
    "search_nodes",
    "shortest_path",
    "top_influencers",
]

MAX_LIMIT = 500
MAX_PATH_HOPS = 6
#: at most this many posts are scanned for a topic or hashtag (newest first is not indexable)
TOPIC_SCAN = 20_000

_ACCOUNT_COLUMNS = (
    "a.id AS id, a.handle AS handle, a.network AS network, a.display_name AS display_name, "
    "a.influence_log AS influence_log, a.followers AS followers"
)
TOP_OVERALL = (
    "MATCH (a:Account) WHERE a.influence_log IS NOT NULL AND ($network IS NULL OR a.network = $network) "
    f"RETURN {_ACCOUNT_COLUMNS} ORDER BY a.influence_log DESC, a.id ASC LIMIT $limit"
)
ACCOUNTS_BY_ID = f"UNWIND $ids AS id MATCH (a:Account {{id: id}}) RETURN {_ACCOUNT_COLUMNS}"
POSTS_CONTAINING = (
    "MATCH (p:Post) WHERE p.text IS NOT NULL AND toLower(p.text) CONTAINS $needle "
    "WITH p LIMIT $scan MATCH (a:Account)-[:AUTHORED]->(p) RETURN a.id AS id, p.text AS text"
)
CUSTOMER_ACCOUNTS = (
    "MATCH (c:Account {network: 'crm'})-[:ACCOUNT_OF]->(p:Person)<-[:ACCOUNT_OF]-(a:Account) "
    "WHERE a.network <> 'crm' RETURN DISTINCT a.id AS id LIMIT $cap"
)
COMPANY_ACCOUNTS = "UNWIND $ids AS id MATCH (a:Account {id: id}) RETURN a.id AS id"
# a substring anywhere in the handle or display name ("kocher" finds "Austin Kocher"), the names
# that start with it first. Like the prefix search before it, it reads every account (lower-cased
# names have no index): at 1M accounts 0.47-0.77 s against 0.46-0.57 s, more where more names match
# (benchmarks/graph_search.py)
SEARCH = (
    "MATCH (a:Account) WHERE a.id = $q OR toLower(a.handle) CONTAINS $lq "
    "OR toLower(a.display_name) CONTAINS $lq "
    f"RETURN {_ACCOUNT_COLUMNS}, "
    "CASE WHEN toLower(a.handle) STARTS WITH $lq OR toLower(a.display_name) STARTS WITH $lq "
    "THEN 0 ELSE 1 END AS later "
    "ORDER BY later, coalesce(a.influence_log, -1.0e300) DESC, a.id LIMIT $limit"
)

# shortest paths: one statement per start label and hop bound, from the fixed tables only
_PATH_RELS = "|".join(REL_TYPES)
# one statement per (start label, target label, hop bound)
SHORTEST_PATHS_BETWEEN: dict[tuple[str, str, int], str] = {
    (la, lb, hops): (
        f"MATCH (a:{la} {{id: $a}}) MATCH (b:{lb} {{id: $b}}) "
        f"MATCH p = allShortestPaths((a)-[:{_PATH_RELS}*..{hops}]-(b)) "
        "RETURN [n IN nodes(p) | {id: n.id, labels: labels(n), handle: n.handle, "
        "name: coalesce(n.display_name, n.name), influence_log: n.influence_log}] AS nodes, "
        "[r IN relationships(p) | {type: type(r), source: startNode(r).id, target: endNode(r).id, "
        "count: r.count}] AS edges LIMIT $limit"
    )
    for la in EGO_LABELS
    for lb in EGO_LABELS
    for hops in range(1, MAX_PATH_HOPS + 1)
}


def _bounded(name: str, value: int, lo: int, hi: int) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not lo <= value <= hi:
        raise QueryError(f"{name} must be an integer in [{lo}, {hi}]")
    return value


@dataclass(frozen=True, slots=True)
class Clock:
    """When "now" is for decayed scores, and how fast they decay."""

    now: float
    half_life_s: float

    def influence(self, log_score: Any) -> float:
        if log_score is None:
            return 0.0
        value = value_at(float(log_score), self.now, self.half_life_s)
        return value if math.isfinite(value) else 0.0


def _log_or_floor(v: Any) -> float:
    return float(v) if v is not None else -math.inf


def _clock(now: float | None, half_life_s: float) -> Clock:
    return Clock(time.time() if now is None else now, half_life_s)


# -- top influencers -----------------------------------------------------------------------------
async def top_influencers(
    store: GraphStore,
    *,
    limit: int = 20,
    hashtag: str | None = None,
    topic: str | None = None,
    customers_only: bool = False,
    within_hops_of_company: int | None = None,
    network: str | None = None,
    company_id: str = "acme",
    company_accounts: Sequence[str] = (),
    now: float | None = None,
    half_life_s: float = DEFAULT_HALF_LIFE_S,
) -> dict[str, Any]:
    """Accounts by current influence, highest first, optionally only those that posted a hashtag
    or a topic word, that are customers, or that lie within N hops of the company (its node and
    its own accounts). Filters combine (intersection). Candidate sets are bounded; ``truncated``
    says when a bound was hit (the ranking is then over the candidates found)."""
    limit = _bounded("limit", limit, 1, MAX_LIMIT)
    clock = _clock(now, half_life_s)
    truncated = False
    candidates: set[str] | None = None

    def narrow(found: Iterable[str]) -> None:
        nonlocal candidates
        ids = set(found)
        candidates = ids if candidates is None else candidates & ids

    if hashtag is not None:
        tag = normalize_tag(hashtag)
        if tag is None:
            raise QueryError(f"not a hashtag: {hashtag[:100]!r}")
        rows = await store.read(POSTS_CONTAINING, needle="#" + tag, scan=TOPIC_SCAN)
        truncated |= len(rows) >= TOPIC_SCAN
        narrow(r["id"] for r in rows if has_hashtag(r["text"], tag))
    if topic is not None:
        word = topic.strip().casefold()
        if not word or len(word) > 100:
            raise QueryError("topic must be 1 to 100 characters")
        rows = await store.read(POSTS_CONTAINING, needle=word, scan=TOPIC_SCAN)
        truncated |= len(rows) >= TOPIC_SCAN
        narrow(r["id"] for r in rows)
    if customers_only:
        rows = await store.read(CUSTOMER_ACCOUNTS, cap=MAX_CAP * 10)
        truncated |= len(rows) >= MAX_CAP * 10
        narrow(r["id"] for r in rows)
    if within_hops_of_company is not None:
        hops = _bounded("within_hops_of_company", within_hops_of_company, 1, MAX_DEPTH)
        seeds = [(company_id, "Company")]
        if company_accounts:
            own = await store.read(COMPANY_ACCOUNTS, ids=list(company_accounts))
            seeds += [(r["id"], "Account") for r in own]
        walk = await expand(store, seeds, hops, MAX_CAP)
        truncated |= walk.truncated
        narrow(n for n, label in walk.labels.items() if label == "Account")

    if candidates is None:
        rows = await store.read(TOP_OVERALL, network=network, limit=limit)
    else:
        rows = await store.read(ACCOUNTS_BY_ID, ids=sorted(candidates)) if candidates else []
        rows = [r for r in rows if network is None or r.get("network") == network]
        rows = [r for r in rows if r.get("network") != "crm"]
        rows.sort(
            key=lambda r: (-(r["influence_log"] if r["influence_log"] is not None else -math.inf), r["id"])
        )
        rows = rows[:limit]
    for r in rows:
        r["influence"] = clock.influence(r.get("influence_log"))
    return {"as_of": clock.now, "influencers": rows, "truncated": truncated}


# -- ego network ---------------------------------------------------------------------------------
async def ego_network(
    store: GraphStore,
    node_id: str,
    depth: int = 2,
    cap: int = 200,
    *,
    now: float | None = None,
    half_life_s: float = DEFAULT_HALF_LIFE_S,
    influencer_min: float = 3.0,
) -> dict[str, Any]:
    """The neighbourhood of an account, person or the company, ``depth`` hops out (1 to 3), at
    most ``cap`` nodes (1 to 1000): ``{"center", "nodes", "edges", "truncated"}``. Posts and event
    markers are left out (accounts, persons and the company only). Each node has its ``kind``
    (company, customer, influencer, account, person) and current ``influence``. Edges are those
    met while expanding (between two nodes of the last ring they are not fetched)."""
    depth = _bounded("depth", depth, 1, MAX_DEPTH)
    cap = _bounded("cap", cap, 1, MAX_CAP)
    start = await find_node(store, node_id)
    if start is None:
        return {"center": None, "nodes": [], "edges": [], "truncated": False}
    walk = await expand(store, [(node_id, start)], depth, cap)
    nodes = await node_view(store, walk, _clock(now, half_life_s), influencer_min)
    return {"center": node_id, "nodes": nodes, "edges": walk.edge_list(), "truncated": walk.truncated}


# -- shortest paths ------------------------------------------------------------------------------
async def shortest_path(
    store: GraphStore, a: str, b: str, max_hops: int = MAX_PATH_HOPS, *, limit: int = 5
) -> dict[str, Any]:
    """All shortest paths (at most ``limit``) of at most ``max_hops`` between two nodes (accounts,
    persons, the company), over every relationship type, either direction."""
    max_hops = _bounded("max_hops", max_hops, 1, MAX_PATH_HOPS)
    limit = _bounded("limit", limit, 1, 50)
    la, lb = await find_node(store, a), await find_node(store, b)
    missing = [x for x, lab in ((a, la), (b, lb)) if lab is None]
    if la is None or lb is None:
        return {"paths": [], "missing": missing, "hops": None}
    if a == b:
        return {"paths": [{"nodes": [{"id": a, "labels": [la]}], "edges": []}], "missing": [], "hops": 0}
    rows = await store.read(SHORTEST_PATHS_BETWEEN[(la, lb, max_hops)], a=a, b=b, limit=limit)
    paths = [{"nodes": r["nodes"], "edges": r["edges"]} for r in rows]
    return {"paths": paths, "missing": [], "hops": len(paths[0]["edges"]) if paths else None}


# -- communities ---------------------------------------------------------------------------------
async def communities(
    store: GraphStore,
    around: str | None = None,
    *,
    depth: int = 2,
    cap: int = 500,
    company_id: str = "acme",
    seed: int = 0,
    now: float | None = None,
    half_life_s: float = DEFAULT_HALF_LIFE_S,
) -> dict[str, Any]:
    """Communities of a bounded subgraph: the ego network of ``around`` (default: the company),
    pulled from the store, then Louvain modularity (networkx, seeded: the same graph gives the
    same communities) on the undirected graph weighted by interaction counts. Biggest first,
    each with its members and its most influential member."""
    center = around or company_id
    ego = await ego_network(store, center, depth, cap, now=now, half_life_s=half_life_s)
    g = nx.Graph()
    g.add_nodes_from(n["id"] for n in ego["nodes"])
    for e in ego["edges"]:
        w = float(e.get("count") or 1)
        if g.has_edge(e["source"], e["target"]):
            g[e["source"]][e["target"]]["weight"] += w
        else:
            g.add_edge(e["source"], e["target"], weight=w)
    parts = nx.community.louvain_communities(g, weight="weight", seed=seed) if g.number_of_nodes() else []
    by_id = {n["id"]: n for n in ego["nodes"]}
    out = []
    for members in sorted(parts, key=lambda m: (-len(m), min(m))):
        ranked = sorted(members, key=lambda i: (-by_id[i]["influence"], i))
        out.append({"size": len(members), "members": ranked, "leader": by_id[ranked[0]]})
    modularity = nx.community.modularity(g, parts, weight="weight") if g.number_of_edges() else 0.0
    return {
        "center": ego["center"],
        "algorithm": "louvain (networkx), seeded",
        "nodes": g.number_of_nodes(),
        "edges": g.number_of_edges(),
        "modularity": modularity,
        "communities": out,
        "truncated": ego["truncated"],
    }


# -- search --------------------------------------------------------------------------------------
async def search_nodes(
    store: GraphStore,
    q: str,
    *,
    limit: int = 20,
    now: float | None = None,
    half_life_s: float = DEFAULT_HALF_LIFE_S,
) -> list[dict[str, Any]]:
    """Find a person or an account: an exact id of any label, or accounts whose handle or display
    name holds ``q`` (any case; a leading ``@`` is ignored), those whose name starts with it first,
    then by influence."""
    limit = _bounded("limit", limit, 1, 100)
    q = q.strip()
    if not q or len(q) > 300:
        raise QueryError("search text must be 1 to 300 characters")
    clock = _clock(now, half_life_s)
    found: dict[str, dict[str, Any]] = {}
    label = await find_node(store, q)
    if label is not None and label != "Account":
        found[q] = {"id": q, "label": label, "influence": 0.0}
    # lower() as Cypher's toLower does it ("ß" stays "ß"; casefold would make it "ss")
    for r in await store.read(SEARCH, q=q, lq=q.lower().lstrip("@"), limit=limit):
        row = {k: v for k, v in r.items() if k != "later"}  # the order's rank, not a field of the result
        row.update(label="Account", influence=clock.influence(r["influence_log"]))
        found.setdefault(r["id"], row)
    return list(found.values())[:limit]

"""Bounded graph walks for the read queries: find a node's label, expand breadth-first with caps,
and describe the nodes found (kind, name, current influence).

Why Python BFS instead of one variable-length ``MATCH``: a variable-length pattern from a hub
enumerates paths, not nodes, and neither store lets a query stop at "N distinct nodes". Here each
ring is one indexed lookup per label (``UNWIND $ids ... MATCH (n:Label {id: id})``) with a
per-node ``LIMIT`` inside a ``CALL { }`` subquery, so the work is bounded by ``cap`` whatever the
degrees are.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any, Protocol

from graph.plan import REL_TYPES
from graph.store import GraphStore

DEFAULT_HALF_LIFE_S = 7 * 24 * 3600.0
MAX_DEPTH = 3
MAX_CAP = 1_000
#: frontier nodes per expansion statement
FRONTIER_CHUNK = 100
#: node labels an ego network / path may hold (not posts, not event markers), lookup order
EGO_LABELS = ("Account", "Person", "Company")
#: relationship types between those labels (the whitelist minus the post-level ones)
EGO_RELS = tuple(t for t in REL_TYPES if t not in ("AUTHORED", "REPLY_TO", "QUOTES"))


class QueryError(ValueError):
    """A query argument out of its allowed range (the API answers 422 with this text)."""


FIND = {label: f"MATCH (n:{label} {{id: $id}}) RETURN n.id AS id LIMIT 1" for label in EGO_LABELS}
EXPAND = {
    label: (
        f"UNWIND $ids AS id MATCH (n:{label} {{id: id}}) "
        f"CALL {{ WITH n MATCH (n)-[r:{'|'.join(EGO_RELS)}]-(m) RETURN r, m LIMIT $per }} "
        "RETURN n.id AS src, type(r) AS type, startNode(r).id AS s, endNode(r).id AS t, "
        "r.count AS count, m.id AS id, labels(m) AS labels"
    )
    for label in EGO_LABELS
}
ACCOUNT_PROPS = (
    "UNWIND $ids AS id MATCH (a:Account {id: id}) RETURN a.id AS id, a.handle AS handle, "
    "a.network AS network, a.display_name AS display_name, a.influence_log AS influence_log, "
    "a.followers AS followers"
)
CUSTOMER_ACCOUNT_IDS = (
    "UNWIND $ids AS id MATCH (a:Account {id: id})-[:ACCOUNT_OF]->(p:Person)<-[:ACCOUNT_OF]-(c:Account) "
    "WHERE c.network = 'crm' RETURN DISTINCT a.id AS id"
)
PERSON_PROPS = (
    "UNWIND $ids AS id MATCH (p:Person {id: id})<-[:ACCOUNT_OF]-(a:Account) "
    "RETURN p.id AS id, p.name AS name, collect(a.network) AS networks, "
    "collect(a.influence_log) AS logs, collect(coalesce(a.display_name, a.handle)) AS names"
)
COMPANY_PROPS = "UNWIND $ids AS id MATCH (c:Company {id: id}) RETURN c.id AS id, c.name AS name"


class Influence(Protocol):
    def influence(self, log_score: Any) -> float: ...


async def find_node(store: GraphStore, node_id: str) -> str | None:
    """The label of the node with this id (accounts first), or None."""
    if not isinstance(node_id, str) or not node_id or len(node_id) > 2_000:
        return None
    for label in EGO_LABELS:
        if await store.read(FIND[label], id=node_id):
            return label
    return None


@dataclass(slots=True)
class Walk:
    """What a bounded expansion found: nodes (with label and ring) and the edges met."""

    labels: dict[str, str] = field(default_factory=dict)
    depth: dict[str, int] = field(default_factory=dict)
    edges: dict[tuple[str, str, str], int] = field(default_factory=dict)
    truncated: bool = False

    def edge_list(self) -> list[dict[str, Any]]:
        return [
            {"type": t, "source": s, "target": d, "count": c}
            for (t, s, d), c in sorted(self.edges.items())
            if s in self.labels and d in self.labels
        ]


def _label_of(labels: Sequence[str]) -> str | None:
    return next((lab for lab in EGO_LABELS if lab in labels), None)


async def expand(store: GraphStore, seeds: Sequence[tuple[str, str]], depth: int, cap: int) -> Walk:
    """Breadth-first from ``seeds`` (id, label) up to ``depth`` rings and ``cap`` nodes."""
    walk = Walk()
    for node_id, label in seeds[:cap]:
        walk.labels.setdefault(node_id, label)
        walk.depth.setdefault(node_id, 0)
    walk.truncated = len(seeds) > cap
    frontier = list(walk.labels)
    for ring in range(1, depth + 1):
        if not frontier:
            break
        nxt: list[str] = []
        for label in EGO_LABELS:
            ids = [i for i in frontier if walk.labels[i] == label]
            for k in range(0, len(ids), FRONTIER_CHUNK):
                remaining = cap - len(walk.labels)
                if remaining <= 0:
                    walk.truncated = True
                    break
                chunk = ids[k : k + FRONTIER_CHUNK]
                # each node may fill what is left, but share it when many expand at once
                per = max(1, min(remaining, math.ceil(2 * remaining / len(chunk)) + 5, cap))
                rows = await store.read(EXPAND[label], ids=chunk, per=per)
                got: dict[str, int] = {}
                for r in rows:
                    got[r["src"]] = got.get(r["src"], 0) + 1
                    m_label = _label_of(r["labels"] or ())
                    m = r["id"]
                    if m_label is None or m is None:
                        continue
                    if m not in walk.labels:
                        if len(walk.labels) >= cap:
                            walk.truncated = True
                            continue
                        walk.labels[m] = m_label
                        walk.depth[m] = ring
                        nxt.append(m)
                    walk.edges[(r["type"], r["s"], r["t"])] = int(r["count"] or 0)
                if any(n >= per for n in got.values()):
                    walk.truncated = True
        frontier = nxt
    return walk


async def node_view(
    store: GraphStore, walk: Walk, clock: Influence, influencer_min: float
) -> list[dict[str, Any]]:
    """Each node found: id, label, kind, name, network, current influence, ring, customer."""
    by_label: dict[str, list[str]] = {label: [] for label in EGO_LABELS}
    for node_id, label in walk.labels.items():
        by_label[label].append(node_id)
    info: dict[str, dict[str, Any]] = {}
    accounts, persons = by_label["Account"], by_label["Person"]
    customers: set[str] = set()
    if accounts:
        for r in await store.read(ACCOUNT_PROPS, ids=accounts):
            info[r["id"]] = {
                "name": r["display_name"] or r["handle"] or r["id"],
                "handle": r["handle"],
                "network": r["network"],
                "influence": clock.influence(r["influence_log"]),
                "followers": r["followers"],
            }
        customers |= {r["id"] for r in await store.read(CUSTOMER_ACCOUNT_IDS, ids=accounts)}
    if persons:
        for r in await store.read(PERSON_PROPS, ids=persons):
            networks = [n for n in r["networks"] or [] if n]
            names = [n for n in r["names"] or [] if n]
            info[r["id"]] = {
                "name": r["name"] or (names[0] if names else r["id"]),
                "network": None,
                "influence": sum((clock.influence(v) for v in r["logs"] or []), 0.0),
                "networks": sorted(set(networks)),
            }
            if "crm" in networks:
                customers.add(r["id"])
    if by_label["Company"]:
        for r in await store.read(COMPANY_PROPS, ids=by_label["Company"]):
            info[r["id"]] = {"name": r["name"] or r["id"], "network": None, "influence": 0.0}
    out = []
    for node_id, label in walk.labels.items():
        extra = info.get(node_id, {"name": node_id, "network": None, "influence": 0.0})
        customer = node_id in customers or extra.get("network") == "crm"
        if label == "Company":
            kind = "company"
        elif customer:
            kind = "customer"
        elif extra["influence"] >= influencer_min:
            kind = "influencer"
        else:
            kind = label.lower()
        out.append(
            {"id": node_id, "label": label, "kind": kind, "depth": walk.depth[node_id], "customer": customer}
            | extra
        )
    return out

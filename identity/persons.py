"""The identity part of the graph: persons, their records, review items and manual rules.

Thin async functions over one write transaction (``neo4j.AsyncTransaction``, as handed out by
``GraphStore.write``) or over ``GraphStore.read``. Every statement is parameterised; labels and
relationship types are the fixed ones below, never built from input.

Model (see also identity/service.py):
- ``(:Account {id})`` a social account (written by the graph stage too); a CRM contact is an
  ``Account`` too, with ``network: 'crm'`` and id ``crm:<customer id>`` and its CRM fields as
  properties (PII: first/last name, emails, phones, company, ...) -- the same model as
  graph/queries.py, so every query that walks ACCOUNT_OF sees customers without a special case;
- ``(record)-[:ACCOUNT_OF {evidence, probability, decided_by, decided_at, confidence}]->(:Person)``:
  a record belongs to at most one person, and the edge always points at a LIVE person;
- ``(:Person {id, created_at, updated_at, version, merged_into, is_customer, customer_value, tier})``:
  a merged-away person keeps its node with ``merged_into`` (an alias resolving to the survivor); the
  customer fields are a summary of its CRM records, kept for queries such as "customers only";
- ``(:ReviewItem {id, a, b, probability, evidence, status, ...})`` a pair for a human to decide;
- ``(:ManualRule {id, kind: must_link|cannot_link, a, b, actor, at, reason})`` human decisions that
  later automatic decisions respect.
Both records' node props ``profile_json`` hold the resolver's merged ``ProfileRecord`` (PII; erasure
removes it), from which a new resolver owner rebuilds its index.
"""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence
from dataclasses import asdict, dataclass
from typing import Any

import neo4j
import orjson

from graph.store import GraphStore
from identity.linking import Neighbourhood, PersonState, pair
from identity.records import ProfileRecord

MUST_LINK = "must_link"
CANNOT_LINK = "cannot_link"
PENDING, ACCEPTED, REJECTED = "pending", "accepted", "rejected"
MAX_ALIAS_HOPS = 32

#: idempotent schema the identity model needs (the lead folds these into graph migrations)
IDENTITY_SCHEMA: tuple[str, ...] = (
    "CREATE CONSTRAINT account_id IF NOT EXISTS FOR (n:Account) REQUIRE n.id IS UNIQUE",
    "CREATE CONSTRAINT person_id IF NOT EXISTS FOR (n:Person) REQUIRE n.id IS UNIQUE",
    "CREATE CONSTRAINT reviewitem_id IF NOT EXISTS FOR (n:ReviewItem) REQUIRE n.id IS UNIQUE",
    "CREATE CONSTRAINT manualrule_id IF NOT EXISTS FOR (n:ManualRule) REQUIRE n.id IS UNIQUE",
    "CREATE INDEX manualrule_a IF NOT EXISTS FOR (n:ManualRule) ON (n.a)",
    "CREATE INDEX manualrule_b IF NOT EXISTS FOR (n:ManualRule) ON (n.b)",
    "CREATE INDEX reviewitem_status IF NOT EXISTS FOR (n:ReviewItem) ON (n.status)",
    "CREATE INDEX person_merged_into IF NOT EXISTS FOR (n:Person) ON (n.merged_into)",
)


async def setup_identity_schema(store: GraphStore) -> None:
    """Apply ``IDENTITY_SCHEMA`` (each statement idempotent; safe from several processes)."""
    await store.setup()
    for statement in IDENTITY_SCHEMA:

        async def run(tx: neo4j.AsyncTransaction, q: str = statement) -> None:
            await (await tx.run(q)).consume()

        await store.write(run)


def person_id_candidates(record_id: str, n: int = 8) -> list[str]:
    """Deterministic person ids for a record: the first is the historical one-account-one-person id
    (identity.resolver.person_id_for), the next ones are used when it is taken."""
    out = ["person:" + hashlib.sha256(record_id.encode()).hexdigest()[:20]]
    out += ["person:" + hashlib.sha256(f"{record_id}#{i}".encode()).hexdigest()[:20] for i in range(1, n)]
    return out


def review_id(a: str, b: str) -> str:
    x, y = sorted((a, b))
    return "review:" + hashlib.sha256(f"{x}\n{y}".encode()).hexdigest()[:24]


def rule_id(kind: str, a: str, b: str) -> str:
    x, y = sorted((a, b))
    return f"rule:{kind}:" + hashlib.sha256(f"{x}\n{y}".encode()).hexdigest()[:24]


def record_to_json(record: ProfileRecord) -> str:
    return orjson.dumps(asdict(record)).decode()


def record_from_json(text: str) -> ProfileRecord:
    d = orjson.loads(text)
    for key in ("emails", "phones", "websites", "links", "recent_posts"):
        d[key] = tuple(d.get(key) or ())
    d["attributes"] = tuple(tuple(kv) for kv in d.get("attributes") or ())
    known = set(ProfileRecord.__dataclass_fields__)
    return ProfileRecord(**{k: v for k, v in d.items() if k in known})


async def rows(tx: neo4j.AsyncTransaction, query: str, **params: Any) -> list[dict[str, Any]]:
    result = await tx.run(query, params)
    return [r.data() async for r in result]


# -- reads -----------------------------------------------------------------------------------
async def persons_of(tx: neo4j.AsyncTransaction, record_ids: Iterable[str]) -> dict[str, str]:
    found = await rows(
        tx,
        "UNWIND $ids AS id MATCH (r:Account {id: id})-[:ACCOUNT_OF]->(p:Person) RETURN r.id AS r, p.id AS p",
        ids=list(dict.fromkeys(record_ids)),
    )
    return {row["r"]: row["p"] for row in found}


async def person_states(tx: neo4j.AsyncTransaction, person_ids: Iterable[str]) -> dict[str, PersonState]:
    pids = list(dict.fromkeys(person_ids))
    if not pids:
        return {}
    found = await rows(
        tx,
        "UNWIND $ids AS pid MATCH (p:Person {id: pid}) MATCH (r)-[:ACCOUNT_OF]->(p) "
        "RETURN p.id AS p, p.created_at AS c, r.id AS r",
        ids=pids,
    )
    members: dict[str, set[str]] = {}
    created: dict[str, float] = {}
    for row in found:
        members.setdefault(row["p"], set()).add(row["r"])
        created[row["p"]] = float(row["c"] or 0.0)
    return {p: PersonState(p, created[p], frozenset(m)) for p, m in members.items()}


async def rules_touching(tx: neo4j.AsyncTransaction, record_ids: Iterable[str]) -> list[dict[str, Any]]:
    ids = list(dict.fromkeys(record_ids))
    if not ids:
        return []
    seen: dict[str, dict[str, Any]] = {}
    for side in ("a", "b"):
        for row in await rows(
            tx,
            f"UNWIND $ids AS id MATCH (m:ManualRule {{{side}: id}}) "
            "RETURN m.id AS id, m.kind AS kind, m.a AS a, m.b AS b",
            ids=ids,
        ):
            seen[row["id"]] = row
    return list(seen.values())


async def read_neighbourhood(
    tx: neo4j.AsyncTransaction, record_id: str, candidate_ids: Sequence[str]
) -> Neighbourhood:
    return (await read_neighbourhoods(tx, [(record_id, candidate_ids)]))[0]


async def read_neighbourhoods(
    tx: neo4j.AsyncTransaction, asks: Sequence[tuple[str, Sequence[str]]]
) -> list[Neighbourhood]:
    """The neighbourhood of each ``(record id, candidate ids)``, in five reads however many there
    are: each is exactly what it would be read alone (only its own records, persons and rules)."""
    if not asks:
        return []
    person_of = await persons_of(tx, [i for rid, cands in asks for i in (rid, *cands)])
    persons = await person_states(tx, person_of.values())

    def members(person_id: str) -> frozenset[str]:
        state = persons.get(person_id)
        return state.members if state is not None else frozenset()

    everyone = [
        {rid, *cands, *(m for i in (rid, *cands) if i in person_of for m in members(person_of[i]))}
        for rid, cands in asks
    ]
    rules = await rules_touching(tx, set().union(*everyone))
    wanted = [{pair(rid, c) for c in cands if c != rid} for rid, cands in asks]
    reviewed = await rows(
        tx,
        "UNWIND $ids AS id MATCH (r:ReviewItem {id: id}) WHERE r.status <> $pending "
        "RETURN r.a AS a, r.b AS b",
        ids=sorted({review_id(*sorted(p)) for w in wanted for p in w}),
        pending=PENDING,
    )
    decided = {pair(r["a"], r["b"]) for r in reviewed}
    hoods: list[Neighbourhood] = []
    for (rid, cands), people, pairs in zip(asks, everyone, wanted, strict=True):
        mine = {i: person_of[i] for i in (rid, *cands) if i in person_of}
        touching = [r for r in rules if r["a"] in people or r["b"] in people]
        hoods.append(
            Neighbourhood(
                record_id=rid,
                person_of=mine,
                persons={p: persons[p] for p in mine.values() if p in persons},
                cannot_link=frozenset(pair(r["a"], r["b"]) for r in touching if r["kind"] == CANNOT_LINK),
                must_link=frozenset(pair(r["a"], r["b"]) for r in touching if r["kind"] == MUST_LINK),
                reviewed=frozenset(pairs & decided),
            )
        )
    return hoods


async def free_person_id(tx: neo4j.AsyncTransaction, record_id: str) -> str:
    return (await free_person_ids(tx, [record_id]))[record_id]


async def free_person_ids(tx: neo4j.AsyncTransaction, record_ids: Iterable[str]) -> dict[str, str]:
    """Per record, the first deterministic id (``person_id_candidates``) not held by a live person
    with members nor erased (an alias or empty person with that id is revived: a split gives a record
    its old id back); one read for them all."""
    wanted = {rid: person_id_candidates(rid) for rid in dict.fromkeys(record_ids)}
    if not wanted:
        return {}
    found = await rows(
        tx,
        "UNWIND $ids AS id MATCH (p:Person {id: id}) OPTIONAL MATCH (r)-[:ACCOUNT_OF]->(p) "
        "RETURN p.id AS id, p.erased AS erased, count(r) AS n",
        ids=sorted({i for ids in wanted.values() for i in ids}),
    )
    taken = {r["id"] for r in found if r["erased"] or (r["n"] or 0) > 0}
    out: dict[str, str] = {}
    for rid, ids in wanted.items():
        free = [i for i in ids if i not in taken]
        mine = sorted(taken.intersection(ids))
        out[rid] = (
            free[0]
            if free
            else "person:" + hashlib.sha256(f"{rid}#{len(mine)}#{mine}".encode()).hexdigest()[:20]
        )
    return out


async def live_person(tx_or_store: neo4j.AsyncTransaction | GraphStore, person_id: str) -> str | None:
    """Follow ``merged_into`` from ``person_id`` to the live person (None: no such person)."""
    current = person_id
    for _ in range(MAX_ALIAS_HOPS):
        q = "MATCH (p:Person {id: $id}) RETURN p.merged_into AS m"
        found = (
            await tx_or_store.read(q, id=current)
            if isinstance(tx_or_store, GraphStore)
            else await rows(tx_or_store, q, id=current)
        )
        if not found:
            return None
        nxt = found[0]["m"]
        if not nxt:
            return current
        current = nxt
    return current


async def members_of(tx: neo4j.AsyncTransaction, person_id: str) -> list[str]:
    found = await rows(
        tx, "MATCH (p:Person {id: $id}) MATCH (r)-[:ACCOUNT_OF]->(p) RETURN r.id AS r", id=person_id
    )
    return sorted(r["r"] for r in found)


# -- writes ----------------------------------------------------------------------------------
async def ensure_records(tx: neo4j.AsyncTransaction, records: Sequence[ProfileRecord], now: float) -> None:
    """Each record's node exists and holds its merged profile (``profile_json``); a record given
    twice keeps the later profile."""
    if records:
        await rows(
            tx,
            "UNWIND $items AS item MERGE (r:Account {id: item.id}) "
            "SET r.profile_json = item.pj, r.identity_updated_at = $now",
            items=[{"id": r.record_id, "pj": record_to_json(r)} for r in records],
            now=now,
        )


async def ensure_person(tx: neo4j.AsyncTransaction, person_id: str, now: float) -> None:
    await ensure_persons(tx, [person_id], now)


async def ensure_persons(tx: neo4j.AsyncTransaction, person_ids: Iterable[str], now: float) -> None:
    """Create each person, or revive an alias/empty one with that id (keeping its created_at)."""
    ids = sorted(set(person_ids))
    if ids:
        await rows(
            tx,
            "UNWIND $ids AS id MERGE (p:Person {id: id}) "
            "ON CREATE SET p.created_at = $now, p.updated_at = $now, p.version = 0 "
            "ON MATCH SET p.merged_into = null, p.updated_at = $now, "
            "p.created_at = coalesce(p.created_at, $now), p.version = coalesce(p.version, 0) + 1",
            ids=ids,
            now=now,
        )


@dataclass(frozen=True, slots=True)
class Link:
    """A record's single ACCOUNT_OF edge, pointing at ``person_id`` with the decision that put it there."""

    record_id: str
    person_id: str
    probability: float
    evidence: str
    decided_by: str
    at: float


async def set_link(
    tx: neo4j.AsyncTransaction,
    record_id: str,
    person_id: str,
    *,
    probability: float,
    evidence: str,
    decided_by: str,
    at: float,
) -> None:
    """Point the record's single ACCOUNT_OF edge at ``person_id`` with this decision."""
    await set_links(tx, [Link(record_id, person_id, float(probability), evidence, decided_by, at)])


async def set_links(tx: neo4j.AsyncTransaction, links: Sequence[Link]) -> None:
    """``set_link`` for many records at once (each record at most once)."""
    if not links:
        return
    await rows(
        tx,
        "UNWIND $ids AS id MATCH (r:Account {id: id})-[e:ACCOUNT_OF]->() DELETE e",
        ids=[link.record_id for link in links],
    )
    await rows(
        tx,
        "UNWIND $links AS l MATCH (r:Account {id: l.record_id}) MATCH (p:Person {id: l.person_id}) "
        "CREATE (r)-[e:ACCOUNT_OF]->(p) "
        "SET e.probability = l.probability, e.confidence = l.probability, e.evidence = l.evidence, "
        "e.decided_by = l.decided_by, e.decided_at = l.at, e.count = 1, e.first_seen = l.at, "
        "e.last_seen = l.at",
        links=[asdict(link) for link in links],
    )


async def move_members(
    tx: neo4j.AsyncTransaction, loser: str, survivor: str, now: float, via: str
) -> list[str]:
    """Merge: every record of ``loser`` now belongs to ``survivor`` (its decision kept), ``loser``
    becomes an alias, and aliases of ``loser`` point straight at ``survivor``."""
    edges = await rows(
        tx,
        "MATCH (l:Person {id: $id}) MATCH (r)-[e:ACCOUNT_OF]->(l) RETURN r.id AS r, e.probability AS prob, "
        "e.evidence AS ev, e.decided_by AS by, e.decided_at AS at",
        id=loser,
    )
    await set_links(
        tx,
        [
            Link(
                e["r"],
                survivor,
                float(e["prob"] if e["prob"] is not None else 1.0),
                e["ev"] or "[]",
                (e["by"] or "auto") + f" (merged via {via})",
                float(e["at"] if e["at"] is not None else now),
            )
            for e in edges
        ],
    )
    await rows(
        tx,
        "MATCH (l:Person {id: $id}) SET l.merged_into = $s, l.merged_at = $now, l.updated_at = $now, "
        "l.version = coalesce(l.version, 0) + 1",
        id=loser,
        s=survivor,
        now=now,
    )
    await rows(tx, "MATCH (a:Person {merged_into: $id}) SET a.merged_into = $s", id=loser, s=survivor)
    return sorted(e["r"] for e in edges)


async def touch_persons(tx: neo4j.AsyncTransaction, person_ids: Iterable[str], now: float) -> None:
    """Bump each person's version: two transactions changing one person conflict and one retries
    (re-reading the rules the other wrote)."""
    ids = sorted(set(person_ids))
    if ids:
        await rows(
            tx,
            "UNWIND $ids AS id MATCH (p:Person {id: id}) "
            "SET p.version = coalesce(p.version, 0) + 1, p.updated_at = $now",
            ids=ids,
            now=now,
        )


async def refresh_customer_summary(tx: neo4j.AsyncTransaction, person_ids: Iterable[str]) -> None:
    """Person.is_customer / customer_value (highest) / tier (of the first CRM record by id) from its
    CRM records; one read and one write for all the persons."""
    pids = sorted(set(person_ids))
    if not pids:
        return
    found = await rows(
        tx,
        "UNWIND $ids AS pid MATCH (p:Person {id: pid}) MATCH (c:Account)-[:ACCOUNT_OF]->(p) "
        "WHERE c.network = 'crm' AND c.erased IS NULL "
        "RETURN p.id AS p, c.id AS c, c.customer_value AS v, c.tier AS t",
        ids=pids,
    )
    by_person: dict[str, list[dict[str, Any]]] = {p: [] for p in pids}
    for row in sorted(found, key=lambda r: str(r["c"])):
        by_person[row["p"]].append(row)
    summaries = []
    for pid, crm in by_person.items():
        values = [float(r["v"]) for r in crm if r["v"] is not None]
        tiers = [str(r["t"]) for r in crm if r["t"]]
        summaries.append(
            {
                "id": pid,
                "customer": bool(crm),
                "value": max(values) if values else None,
                "tier": tiers[0] if tiers else None,
            }
        )
    await rows(
        tx,
        "UNWIND $rows AS s MATCH (p:Person {id: s.id}) "
        "SET p.is_customer = s.customer, p.customer_value = s.value, p.tier = s.tier",
        rows=summaries,
    )


async def put_rule(
    tx: neo4j.AsyncTransaction, kind: str, a: str, b: str, *, actor: str, at: float, reason: str
) -> None:
    """Record a manual rule; the opposite rule on the same pair goes (the latest human word wins)."""
    other = CANNOT_LINK if kind == MUST_LINK else MUST_LINK
    await rows(tx, "MATCH (m:ManualRule {id: $id}) DETACH DELETE m", id=rule_id(other, a, b))
    x, y = sorted((a, b))
    await rows(
        tx,
        "MERGE (m:ManualRule {id: $id}) SET m.kind = $kind, m.a = $a, m.b = $b, m.actor = $actor, "
        "m.at = $at, m.reason = $reason",
        id=rule_id(kind, a, b),
        kind=kind,
        a=x,
        b=y,
        actor=actor,
        at=at,
        reason=reason,
    )


async def drop_rule(tx: neo4j.AsyncTransaction, kind: str, a: str, b: str) -> None:
    await rows(tx, "MATCH (m:ManualRule {id: $id}) DETACH DELETE m", id=rule_id(kind, a, b))


async def upsert_review(
    tx: neo4j.AsyncTransaction, a: str, b: str, probability: float, evidence: str, now: float
) -> str | None:
    """A pending review item for the pair (refreshed if pending, untouched once decided).
    -> its id when it was created or changed, else None."""
    rid = review_id(a, b)
    found = await rows(tx, "MATCH (r:ReviewItem {id: $id}) RETURN r.status AS s, r.probability AS p", id=rid)
    x, y = sorted((a, b))
    if not found:
        await rows(
            tx,
            "CREATE (r:ReviewItem {id: $id}) SET r.a = $a, r.b = $b, r.status = $s, r.probability = $p, "
            "r.evidence = $ev, r.created_at = $now, r.updated_at = $now",
            id=rid,
            a=x,
            b=y,
            s=PENDING,
            p=float(probability),
            ev=evidence,
            now=now,
        )
        return rid
    if found[0]["s"] == PENDING and found[0]["p"] != float(probability):
        await rows(
            tx,
            "MATCH (r:ReviewItem {id: $id}) SET r.probability = $p, r.evidence = $ev, r.updated_at = $now",
            id=rid,
            p=float(probability),
            ev=evidence,
            now=now,
        )
        return rid
    return None


async def set_review_status(
    tx: neo4j.AsyncTransaction, rid: str, status: str, actor: str, now: float
) -> dict[str, Any] | None:
    found = await rows(
        tx,
        "MATCH (r:ReviewItem {id: $id}) RETURN r.a AS a, r.b AS b, r.status AS status, "
        "r.probability AS probability",
        id=rid,
    )
    if not found:
        return None
    await rows(
        tx,
        "MATCH (r:ReviewItem {id: $id}) SET r.status = $s, r.decided_by = $actor, r.decided_at = $now",
        id=rid,
        s=status,
        actor=actor,
        now=now,
    )
    return found[0]


CUSTOMER_FIELDS = (
    "display_name", "first_name", "last_name", "company", "location", "customer_value", "tier",
)  # fmt: skip


def customer_props(rec: ProfileRecord) -> dict[str, Any]:
    """A CRM record as Account properties (network 'crm'); ``crm_hash`` makes re-imports no-ops."""
    props: dict[str, Any] = {f: getattr(rec, f) for f in CUSTOMER_FIELDS}
    props.update(
        network="crm",
        emails=list(rec.emails),
        phones=list(rec.phones),
        websites=list(rec.websites),
        links=list(rec.links),
        title=rec.bio,
    )
    props["crm_hash"] = hashlib.sha256(record_to_json(rec).encode()).hexdigest()
    return props


async def upsert_customers(store: GraphStore, records: Sequence[ProfileRecord], now: float) -> dict[str, str]:
    """Write CRM records as Account nodes (network 'crm').
    -> record id -> created | updated | unchanged | erased (an erased customer is not brought back
    by a re-import: the tombstone keeps its id and ``erased``)."""
    out: dict[str, str] = {}
    for start in range(0, len(records), 500):
        chunk = list(records[start : start + 500])

        async def work(tx: neo4j.AsyncTransaction, chunk: list[ProfileRecord] = chunk) -> dict[str, str]:
            found = await rows(
                tx,
                "UNWIND $ids AS id MATCH (c:Account {id: id}) "
                "RETURN c.id AS id, c.crm_hash AS h, c.erased AS erased",
                ids=[r.record_id for r in chunk],
            )
            existing = {r["id"]: r for r in found}
            status: dict[str, str] = {}
            for rec in chunk:
                props = customer_props(rec)
                old = existing.get(rec.record_id)
                if old is not None and old["erased"]:
                    status[rec.record_id] = "erased"
                    continue
                if old is not None and old["h"] == props["crm_hash"]:
                    status[rec.record_id] = "unchanged"
                    continue
                props["updated_at"] = now
                await rows(
                    tx,
                    "MERGE (c:Account {id: $id}) ON CREATE SET c.imported_at = $now SET c += $props",
                    id=rec.record_id,
                    now=now,
                    props=props,
                )
                status[rec.record_id] = "created" if old is None or old["h"] is None else "updated"
            return status

        out.update(await store.write(work))
    return out

"""Manual identity operations, each inside the caller's graph transaction: link (must-link),
unlink and split (cannot-links), review decisions, and the read views of the review queue and of
a person's accounts. ``IdentityService`` wraps them in ``store.write`` and publishes their audit
events; see identity/service.py for the rules they keep.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import neo4j
import orjson

from graph.store import GraphStore
from identity import persons as gp
from identity.audit import AuditAction, AuditEvent
from identity.linking import Neighbourhood, pair


class IdentityError(Exception):
    """A request that cannot be done as asked: ``status`` is the HTTP status it maps to."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


async def require_records(tx: neo4j.AsyncTransaction, ids: Sequence[str]) -> None:
    found = await gp.rows(
        tx,
        "UNWIND $ids AS id MATCH (a:Account {id: id}) RETURN a.id AS id, a.erased AS erased",
        ids=list(ids),
    )
    known = {r["id"]: r["erased"] for r in found}
    for i in ids:
        if i not in known:
            raise IdentityError(404, f"no account or customer {i!r}")
        if known[i]:
            raise IdentityError(409, f"{i!r} was erased")


async def link_tx(
    tx: neo4j.AsyncTransaction, a: str, b: str, actor: str, now: float, cause: str
) -> list[AuditEvent]:
    if a == b:
        raise IdentityError(400, "cannot link a record to itself")
    await require_records(tx, [a, b])
    hood = await gp.read_neighbourhood(tx, a, [b])
    pa, pb = hood.person_of.get(a), hood.person_of.get(b)
    if pa and pb and pa != pb:
        others = Neighbourhood(a, cannot_link=hood.cannot_link - {pair(a, b)})
        hit = others.blocked_between(hood.members(pa) | {a}, hood.members(pb) | {b})
        if hit is not None:
            raise IdentityError(409, f"a cannot-link rule keeps {hit[0]} and {hit[1]} apart: unlink it first")
    await gp.put_rule(tx, gp.MUST_LINK, a, b, actor=actor, at=now, reason=cause)
    rid = gp.review_id(a, b)
    await gp.rows(
        tx,
        "MATCH (r:ReviewItem {id: $id}) WHERE r.status = $p SET r.status = $s, r.decided_by = $actor, "
        "r.decided_at = $now",
        id=rid,
        p=gp.PENDING,
        s=gp.ACCEPTED,
        actor=actor,
        now=now,
    )
    by = f"manual:{actor}"
    events: list[AuditEvent] = []
    touched: list[str] = []

    async def attach(record: str, person: str) -> None:
        await gp.set_link(tx, record, person, probability=1.0, evidence="[]", decided_by=by, at=now)
        events.append(
            AuditEvent(
                AuditAction.LINK,
                now,
                actor,
                person_id=person,
                record_ids=(record,),
                probability=1.0,
                reason="manual link",
                cause=cause,
            )
        )

    if pa is None and pb is None:
        person = await gp.free_person_id(tx, a)
        await gp.ensure_person(tx, person, now)
        await attach(a, person)
        await attach(b, person)
        touched = [person]
    elif pa is None or pb is None:
        person = pa or pb or ""
        await attach(b if pa else a, person)
        touched = [person]
    elif pa != pb:
        sa, sb = hood.persons[pa], hood.persons[pb]
        survivor, loser = (pa, pb) if (sa.created_at, pa) <= (sb.created_at, pb) else (pb, pa)
        moved = await gp.move_members(tx, loser, survivor, now, via=cause)
        events.append(
            AuditEvent(
                AuditAction.MERGE,
                now,
                actor,
                person_id=survivor,
                record_ids=tuple(moved),
                other_person_id=loser,
                probability=1.0,
                reason="manual link",
                cause=cause,
            )
        )
        touched = [survivor, loser]
    else:
        events.append(
            AuditEvent(
                AuditAction.LINK,
                now,
                actor,
                person_id=pa,
                record_ids=(a, b),
                probability=1.0,
                reason="manual link (already one person): rule recorded",
                cause=cause,
            )
        )
    if touched:
        await gp.touch_persons(tx, touched, now)
        await gp.refresh_customer_summary(tx, touched[:1])
    return events


async def split_tx(
    tx: neo4j.AsyncTransaction,
    person: str,
    moved: Sequence[str],
    actor: str,
    now: float,
    cause: str,
) -> tuple[str, list[AuditEvent]]:
    members = await gp.members_of(tx, person)
    moving = sorted(set(moved))
    missing = [m for m in moving if m not in members]
    if missing:
        raise IdentityError(409, f"{missing} do not belong to {person}")
    remaining = [m for m in members if m not in moving]
    if not remaining:
        raise IdentityError(409, "a split must leave at least one record with the person")
    new_person = await gp.free_person_id(tx, moving[0])
    await gp.ensure_person(tx, new_person, now)
    for r in moving:
        await gp.set_link(
            tx, r, new_person, probability=1.0, evidence="[]", decided_by=f"manual:{actor}", at=now
        )
    for x in moving:
        for y in remaining:
            await gp.put_rule(tx, gp.CANNOT_LINK, x, y, actor=actor, at=now, reason=cause)
    await gp.touch_persons(tx, [person, new_person], now)
    await gp.refresh_customer_summary(tx, [person, new_person])
    event = AuditEvent(
        AuditAction.SPLIT,
        now,
        actor,
        person_id=new_person,
        record_ids=tuple(moving),
        other_person_id=person,
        reason="manual split",
        cause=cause,
    )
    return new_person, [event]


async def unlink_tx(
    tx: neo4j.AsyncTransaction, a: str, b: str | None, actor: str, now: float, cause: str
) -> list[AuditEvent]:
    await require_records(tx, [a] if b is None else [a, b])
    person = (await gp.persons_of(tx, [a])).get(a)
    events: list[AuditEvent] = []
    if b is not None:
        await gp.put_rule(tx, gp.CANNOT_LINK, a, b, actor=actor, at=now, reason=cause)
        events.append(
            AuditEvent(
                AuditAction.UNLINK,
                now,
                actor,
                person_id=person,
                record_ids=(a, b),
                reason="manual cannot-link",
                cause=cause,
            )
        )
        if person is None or (await gp.persons_of(tx, [b])).get(b) != person:
            return events
    if person is None:
        raise IdentityError(409, f"{a!r} belongs to no person")
    if await gp.members_of(tx, person) == [a]:
        if b is None:
            raise IdentityError(409, f"{a!r} is the only record of {person}: nothing to unlink")
        return events
    _, split = await split_tx(tx, person, [a], actor, now, cause)
    return events + split


async def decide_review_tx(
    tx: neo4j.AsyncTransaction, review: str, accept: bool, actor: str, now: float
) -> list[AuditEvent]:
    """A human's verdict on a review item: accept links the pair, reject keeps it apart."""
    item = await gp.set_review_status(tx, review, gp.ACCEPTED if accept else gp.REJECTED, actor, now)
    if item is None:
        raise IdentityError(404, f"no review item {review!r}")
    if item["status"] != gp.PENDING:
        raise IdentityError(409, f"review item {review!r} is already {item['status']}")
    cause = f"{review}:{'accept' if accept else 'reject'}"
    if accept:
        events = await link_tx(tx, item["a"], item["b"], actor, now, cause)
    else:
        events = await unlink_tx(tx, item["a"], item["b"], actor, now, cause)
    return [
        AuditEvent(
            AuditAction.REVIEW,
            now,
            actor,
            record_ids=(item["a"], item["b"]),
            probability=item["probability"],
            review_id=review,
            status=gp.ACCEPTED if accept else gp.REJECTED,
            cause=cause,
        ),
        *events,
    ]


async def review_queue(store: GraphStore, limit: int = 50) -> list[dict[str, Any]]:
    items = await store.read(
        "MATCH (r:ReviewItem {status: $p}) RETURN r.id AS id, r.a AS a, r.b AS b, "
        "r.probability AS probability, r.evidence AS evidence, r.created_at AS created_at "
        "ORDER BY r.probability DESC, r.id ASC LIMIT $n",
        p=gp.PENDING,
        n=int(limit),
    )
    ids = sorted({i["a"] for i in items} | {i["b"] for i in items})
    info = {
        r["id"]: r
        for r in await store.read(
            "UNWIND $ids AS id MATCH (a:Account {id: id}) OPTIONAL MATCH (a)-[:ACCOUNT_OF]->(p:Person) "
            "RETURN a.id AS id, a.network AS network, a.handle AS handle, "
            "a.display_name AS display_name, p.id AS person_id",
            ids=ids,
        )
    }
    out = []
    for i in items:
        out.append(
            {
                "id": i["id"],
                "probability": i["probability"],
                "evidence": orjson.loads(i["evidence"] or "[]"),
                "created_at": i["created_at"],
                "a": info.get(i["a"], {"id": i["a"]}),
                "b": info.get(i["b"], {"id": i["b"]}),
            }
        )
    return out


async def person_accounts(store: GraphStore, person_id: str) -> dict[str, Any]:
    live = await gp.live_person(store, person_id)
    if live is None:
        raise IdentityError(404, f"no person {person_id!r}")
    person = await store.read("MATCH (p:Person {id: $id}) RETURN properties(p) AS props", id=live)
    if person and person[0]["props"].get("erased"):
        raise IdentityError(410, f"person {person_id!r} was erased")
    accounts = await store.read(
        "MATCH (p:Person {id: $id}) MATCH (a:Account)-[e:ACCOUNT_OF]->(p) "
        "RETURN a.id AS id, a.network AS network, "
        "a.handle AS handle, a.display_name AS display_name, e.probability AS probability, "
        "e.decided_by AS decided_by, e.decided_at AS decided_at, e.evidence AS evidence ORDER BY a.id",
        id=live,
    )
    for a in accounts:
        a["evidence"] = orjson.loads(a["evidence"] or "[]")
    return {
        "person_id": live,
        "requested_id": person_id,
        "alias": live != person_id,
        "person": person[0]["props"] if person else {},
        "accounts": accounts,
    }

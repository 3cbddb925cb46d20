"""Erasure: a person's right to be forgotten, and an account deleted or deactivated on its platform.

What goes, everywhere this process can reach:
- graph: every property of the erased accounts but ``id`` and ``network`` (name, handle, bio, CRM
  fields, the resolver's stored profile), the TEXT of every post they authored (the Post node stays,
  bare, so other people's replies still point somewhere), their ACCOUNT_OF edges, and every review
  item and manual rule naming them; the person (and its aliases) becomes a tombstone
  ``{id, erased, erased_at}``, kept so that its id is never handed out again and so that a
  re-import or a late event does not bring the data back (resolution skips erased records, a CRM
  re-import reports the row as erased);
- candidate index: the records' vectors (``CandidateSearch.remove``: faiss removes them for real);
- caches: the encoder's cached vectors of every profile text and post text involved;
- the resolver's in-memory profiles.
The audit event on ``identity.links`` names ids only, never the erased data.

What comes after, elsewhere: the graph write path leaves an erased account's tombstone as it is (a
later or replayed event writes no profile field on it, and its posts without their text;
``graph.write_path``), the priority stage scores no mention by it (``streams.priority``), and the
API's alert dispatcher drops its alerts from the SSE replay buffer and holds back the ones still on
their way (``alerts.dispatcher``).

Another process's memory (the resolver owner when erasure runs in the API) is reached through the
identity command topic (streams/identity_agent.py) and, as a backstop, by the resolver dropping any
candidate the graph says is erased.

Kept, by design: interaction edges between accounts (counts and times, no content) and Event markers
(ids), which the influence scores of other people are built from.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import neo4j

from identity import persons as gp
from identity.audit import AuditAction, AuditEvent
from identity.manual import IdentityError
from identity.service import IdentityService

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class ErasureReport:
    person_id: str | None
    record_ids: tuple[str, ...]
    posts_cleared: int
    cached_vectors_dropped: int
    event: AuditEvent | None

    def to_dict(self) -> dict[str, Any]:
        return {
            "person_id": self.person_id,
            "record_ids": list(self.record_ids),
            "posts_cleared": self.posts_cleared,
            "cached_vectors_dropped": self.cached_vectors_dropped,
            "audit_id": self.event.id if self.event else None,
        }


async def _erase_records_tx(tx: neo4j.AsyncTransaction, ids: list[str], now: float) -> list[str]:
    """Tombstone the accounts and clear their posts; -> the post texts (for the caches)."""
    posts = await gp.rows(
        tx,
        "UNWIND $ids AS id MATCH (a:Account {id: id})-[:AUTHORED]->(p:Post) "
        "RETURN p.id AS id, p.text AS text",
        ids=ids,
    )
    if posts:
        await gp.rows(
            tx,
            "UNWIND $ids AS id MATCH (p:Post {id: id}) SET p.text = null, p.erased = true",
            ids=[p["id"] for p in posts],
        )
    await gp.rows(tx, "UNWIND $ids AS id MATCH (a:Account {id: id})-[e:ACCOUNT_OF]->() DELETE e", ids=ids)
    await gp.rows(
        tx,
        "UNWIND $ids AS id MATCH (a:Account {id: id}) "
        "SET a = {id: a.id, network: a.network, erased: true, erased_at: $now}",
        ids=ids,
        now=now,
    )
    await gp.rows(tx, "MATCH (r:ReviewItem) WHERE r.a IN $ids OR r.b IN $ids DETACH DELETE r", ids=ids)
    for side in ("a", "b"):
        await gp.rows(tx, f"UNWIND $ids AS id MATCH (m:ManualRule {{{side}: id}}) DETACH DELETE m", ids=ids)
    return [p["text"] for p in posts if p["text"]]


async def _tombstone_person_tx(tx: neo4j.AsyncTransaction, person_id: str, now: float) -> None:
    await gp.rows(
        tx,
        "MATCH (p:Person) WHERE p.id = $id OR p.merged_into = $id "
        "SET p = {id: p.id, erased: true, erased_at: $now}",
        id=person_id,
        now=now,
    )


async def _local(service: IdentityService, record_ids: list[str], texts: list[str]) -> int:
    """This process's index, profiles and cache; then the resolver owner's, when it is elsewhere."""
    dropped = service.forget_local(record_ids, texts)
    if service.forward_erasure is not None and record_ids:
        try:
            await service.forward_erasure(record_ids)
        except Exception as e:  # the graph is erased; the owner also drops erased candidates itself
            log.warning("could not tell the resolver owner about an erasure: %r", e)
    return dropped


async def erase_person(
    service: IdentityService, person_id: str, actor: str, reason: str = "erasure request"
) -> ErasureReport:
    """Forget a person: every record of theirs, as described in the module docstring. Idempotent:
    erasing an erased person again changes nothing and reports no records."""
    now = service._clock()

    async def work(tx: neo4j.AsyncTransaction) -> tuple[str | None, list[str], list[str]]:
        live = await gp.live_person(tx, person_id)
        if live is None:
            gone = await gp.rows(tx, "MATCH (p:Person {id: $id}) RETURN p.erased AS e", id=person_id)
            if gone and gone[0]["e"]:
                return None, [], []
            raise IdentityError(404, f"no person {person_id!r}")
        erased = await gp.rows(tx, "MATCH (p:Person {id: $id}) RETURN p.erased AS e", id=live)
        if erased and erased[0]["e"]:
            return None, [], []
        members = await gp.members_of(tx, live)
        texts = await _erase_records_tx(tx, members, now) if members else []
        await _tombstone_person_tx(tx, live, now)
        return live, members, texts

    live, members, texts = await service.store.write(work)
    if live is None:
        return ErasureReport(None, (), 0, 0, None)
    dropped = await _local(service, members, texts)
    event = AuditEvent(
        AuditAction.ERASE,
        now,
        actor,
        person_id=live,
        record_ids=tuple(members),
        reason=reason,
        cause=f"erase:{live}",
    )
    await service.emit([event])
    return ErasureReport(live, tuple(members), len(texts), dropped, event)


async def erase_record(service: IdentityService, record_id: str, reason: str, actor: str) -> ErasureReport:
    """Forget one account (deleted or deactivated on its platform, or a CRM contact removed): its
    person lives on with its other records, or becomes a tombstone when none is left."""
    now = service._clock()

    async def work(tx: neo4j.AsyncTransaction) -> tuple[bool, str | None, bool, list[str]]:
        found = await gp.rows(tx, "MATCH (a:Account {id: $id}) RETURN a.erased AS e", id=record_id)
        if not found or found[0]["e"]:
            return False, None, False, []
        person = (await gp.persons_of(tx, [record_id])).get(record_id)
        texts = await _erase_records_tx(tx, [record_id], now)
        emptied = False
        if person is not None:
            if await gp.members_of(tx, person):
                await gp.touch_persons(tx, [person], now)
                await gp.refresh_customer_summary(tx, [person])
            else:
                await _tombstone_person_tx(tx, person, now)
                emptied = True
        return True, person, emptied, texts

    done, person, emptied, texts = await service.store.write(work)
    dropped = await _local(service, [record_id], texts)
    if not done:
        return ErasureReport(None, (), 0, dropped, None)
    event = AuditEvent(
        AuditAction.ERASE,
        now,
        actor,
        person_id=person,
        record_ids=(record_id,),
        reason=reason + ("; the person had no other record and was erased" if emptied else ""),
        cause=f"erase:{record_id}",
    )
    await service.emit([event])
    return ErasureReport(person, (record_id,), len(texts), dropped, event)

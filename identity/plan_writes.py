"""Writing resolutions' plans (``identity.linking.LinkPlan``) in one graph transaction: persons
created or merged, the record's link, review items, and the audit events that say so.

``resolve_in_order`` decides and writes a whole batch of resolutions in one transaction with a few
statements for all of them: it reads every neighbourhood at once, and writes the plans that merge
nothing and review nothing (most: a new person, or a record joining one) together. A record whose
neighbourhood an earlier plan of the batch wrote to is read again first, after those writes, so each
decision sees every one before it, exactly as one transaction each would."""

from __future__ import annotations

from collections.abc import Sequence

import neo4j

from identity import persons as gp
from identity.audit import AuditAction, AuditEvent, evidence_json
from identity.linking import LinkPlan, Neighbourhood, plan_resolution
from identity.records import MatchDecision, MatchOutcome, ProfileRecord

AUTO = "auto"


async def resolve_in_order(
    tx: neo4j.AsyncTransaction,
    items: Sequence[tuple[ProfileRecord, str, tuple[MatchDecision, ...]]],
    now: float,
) -> list[tuple[LinkPlan, list[AuditEvent]]]:
    """Resolve ``(merged record, cause, decisions against its candidates)`` in order in ``tx``;
    -> each one's plan and audit events (sent after the commit)."""
    await gp.ensure_records(tx, [record for record, _, _ in items], now)
    asks = [(record.record_id, [d.other_id for d in decisions]) for record, _, decisions in items]
    hoods = await gp.read_neighbourhoods(tx, asks)
    fresh = await gp.free_person_ids(tx, [h.record_id for h in hoods if not h.person_of.get(h.record_id)])
    done: list[tuple[LinkPlan, list[AuditEvent]] | None] = [None] * len(items)
    batch: list[tuple[int, LinkPlan, Neighbourhood, str]] = []
    written: set[str] = set()  # records and persons the plans so far write to

    async def flush() -> None:
        events = await apply_simple_plans(tx, [(plan, hood, cause) for _, plan, hood, cause in batch], now)
        for (at, plan, _, _), evs in zip(batch, events, strict=True):
            done[at] = (plan, evs)
        batch.clear()

    for at, ((record, cause, decisions), hood) in enumerate(zip(items, hoods, strict=True)):
        rid = record.record_id
        new_id = "" if hood.person_of.get(rid) else fresh.get(rid, "")
        if written & reads_of(hood, decisions, new_id != ""):
            await flush()
            hood = await gp.read_neighbourhood(tx, rid, [d.other_id for d in decisions])
            new_id = "" if hood.person_of.get(rid) else await gp.free_person_id(tx, rid)
        plan = plan_resolution(hood, decisions, new_id)
        written.update(writes_of(plan, hood))
        if plan.merges or plan.reviews:
            await flush()
            done[at] = (plan, await apply_plan(tx, plan, hood, now, cause))
        else:
            batch.append((at, plan, hood, cause))
    await flush()
    assert None not in done, "every item was planned and written"
    return [d for d in done if d is not None]


def reads_of(hood: Neighbourhood, decisions: Sequence[MatchDecision], needs_person_id: bool) -> set[str]:
    """The records and persons a plan for ``hood`` is decided from (``plan_resolution`` looks only at
    the record, its merge and review candidates, the records of its manual rules, their persons and
    those persons' members), with the ids a new person may take: if an earlier plan wrote to any of
    them, the neighbourhood must be read again. A candidate that does not match is not among them."""
    rid = hood.record_id
    relevant = {rid, *(d.other_id for d in decisions if d.outcome is not MatchOutcome.NO_MATCH)}
    relevant.update(r for rule in hood.must_link | hood.cannot_link if rid in rule for r in rule)
    persons = {hood.person_of[r] for r in relevant if r in hood.person_of}
    ids = relevant | persons
    ids.update(m for p in persons for m in hood.members(p))
    if needs_person_id:
        ids.update(gp.person_id_candidates(rid))
    return ids


def writes_of(plan: LinkPlan, hood: Neighbourhood) -> set[str]:
    """The records whose link and the persons whose state ``plan`` changes (review items are keyed by
    the plan's record, which is in here)."""
    ids = {plan.record_id, plan.survivor, *plan.merges}
    ids.update(m for p in plan.merges for m in hood.members(p))
    return ids


def _link(plan: LinkPlan, now: float) -> gp.Link:
    best = plan.best
    return gp.Link(
        plan.record_id,
        plan.survivor,
        best.probability if best is not None else 1.0,
        evidence_json(best.evidence if best is not None else ()),
        AUTO if best is not None else AUTO + ":new-person",
        now,
    )


def _link_event(plan: LinkPlan, now: float, cause: str) -> AuditEvent:
    best = plan.best
    return AuditEvent(
        AuditAction.LINK,
        now,
        AUTO,
        person_id=plan.survivor,
        record_ids=(plan.record_id,),
        probability=best.probability if best is not None else 1.0,
        evidence=best.evidence if best is not None else (),
        reason="new person: no match" if plan.create_person else "match above the merge threshold",
        cause=cause,
    )


def _touches_customers(plan: LinkPlan, hood: Neighbourhood) -> bool:
    """Whether the plan changes the membership of a person holding a CRM record (its summary)."""
    if not plan.changes_membership:
        return False
    group = {plan.record_id, *hood.members(plan.survivor)}
    group.update(m for p in plan.merges for m in hood.members(p))
    return any(r.startswith("crm:") for r in group)


def _touched_persons(plan: LinkPlan) -> list[str]:
    """Persons whose version a plan bumps: two transactions changing one person conflict and one
    retries. A brand-new person is held by nobody else."""
    if not plan.changes_membership or (plan.create_person and not plan.merges):
        return []
    return [plan.survivor, *plan.merges]


async def apply_simple_plans(
    tx: neo4j.AsyncTransaction, items: Sequence[tuple[LinkPlan, Neighbourhood, str]], now: float
) -> list[list[AuditEvent]]:
    """Write plans that merge nothing and review nothing, on disjoint records and persons, with one
    statement per kind of write for them all; -> each one's audit events."""
    if not items:
        return []
    assert not any(plan.merges or plan.reviews for plan, _, _ in items), "only plans without merges/reviews"
    await gp.ensure_persons(tx, [plan.survivor for plan, _, _ in items if plan.create_person], now)
    await gp.set_links(tx, [_link(plan, now) for plan, _, _ in items if plan.attach])
    await gp.touch_persons(tx, [p for plan, _, _ in items for p in _touched_persons(plan)], now)
    await gp.refresh_customer_summary(
        tx, [plan.survivor for plan, hood, _ in items if _touches_customers(plan, hood)]
    )
    return [[_link_event(plan, now, cause)] if plan.attach else [] for plan, _, cause in items]


async def apply_plan(
    tx: neo4j.AsyncTransaction, plan: LinkPlan, hood: Neighbourhood, now: float, cause: str
) -> list[AuditEvent]:
    """Write a resolution's plan in ``tx``; -> its audit events (sent after the commit)."""
    events: list[AuditEvent] = []
    best = plan.best
    prob = best.probability if best is not None else None
    ev = best.evidence if best is not None else ()
    if plan.create_person:
        await gp.ensure_person(tx, plan.survivor, now)
    for loser in plan.merges:
        moved = await gp.move_members(tx, loser, plan.survivor, now, via=cause)
        events.append(
            AuditEvent(
                AuditAction.MERGE,
                now,
                AUTO if loser not in plan.forced else "manual-rule",
                person_id=plan.survivor,
                record_ids=tuple(moved),
                other_person_id=loser,
                probability=prob,
                evidence=ev,
                reason="must-link rule" if loser in plan.forced else "match above the merge threshold",
                cause=cause,
            )
        )
    if plan.attach:
        await gp.set_links(tx, [_link(plan, now)])
        events.append(_link_event(plan, now, cause))
    for d in plan.reviews:
        review = await gp.upsert_review(
            tx, d.record_id, d.other_id, d.probability, evidence_json(d.evidence), now
        )
        if review is not None:
            events.append(
                AuditEvent(
                    AuditAction.REVIEW,
                    now,
                    AUTO,
                    person_id=hood.person_of.get(d.other_id),
                    record_ids=(d.record_id, d.other_id),
                    probability=d.probability,
                    evidence=d.evidence,
                    reason="match between the review and merge thresholds",
                    review_id=review,
                    status=gp.PENDING,
                    cause=cause,
                )
            )
    await gp.touch_persons(tx, _touched_persons(plan), now)
    if _touches_customers(plan, hood):
        await gp.refresh_customer_summary(tx, [plan.survivor])
    return events

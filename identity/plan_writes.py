"""Writing a resolution's plan (``identity.linking.LinkPlan``) in one graph transaction: persons
created or merged, the record's link, review items, and the audit events that say so."""

from __future__ import annotations

import neo4j

from identity import persons as gp
from identity.audit import AuditAction, AuditEvent, evidence_json
from identity.linking import LinkPlan, Neighbourhood

AUTO = "auto"


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
        await gp.set_link(
            tx,
            plan.record_id,
            plan.survivor,
            probability=prob if prob is not None else 1.0,
            evidence=evidence_json(ev),
            decided_by=AUTO if best is not None else AUTO + ":new-person",
            at=now,
        )
        events.append(
            AuditEvent(
                AuditAction.LINK,
                now,
                AUTO,
                person_id=plan.survivor,
                record_ids=(plan.record_id,),
                probability=prob if prob is not None else 1.0,
                evidence=ev,
                reason="new person: no match" if plan.create_person else "match above the merge threshold",
                cause=cause,
            )
        )
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
    if plan.changes_membership:
        if not (plan.create_person and not plan.merges):  # a brand-new person: nobody else holds it
            await gp.touch_persons(tx, [plan.survivor, *plan.merges], now)
        group = {plan.record_id, *hood.members(plan.survivor)}
        group.update(m for p in plan.merges for m in hood.members(p))
        if any(r.startswith("crm:") for r in group):
            await gp.refresh_customer_summary(tx, [plan.survivor])
    return events

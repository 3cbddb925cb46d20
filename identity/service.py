"""Identity resolution as a service: records in, persons, review items and audit events out.

``IdentityService`` glues the pure parts (candidate search, matcher, ``identity.linking``) to the
graph (``identity.persons``). One call to ``resolve`` is one graph transaction that reads the
record's neighbourhood (persons, manual rules, human review outcomes), plans, and applies the plan,
so a concurrent manual change (link, unlink, accept) either happens before it or makes it retry:
every change bumps the versions of the persons it touches, and ArcadeDB/Neo4j refuse the second of
two transactions writing one person.

Decisions:
- merge above the matcher's merge threshold: the OLDEST person survives, the other becomes an alias
  (``merged_into``) that resolves to it, so an id handed out once keeps answering;
- between the thresholds: a ``ReviewItem`` for a human (``accept`` links, ``reject`` keeps apart);
- no match: a new person with a deterministic id (``identity.persons.person_id_candidates``: the
  historical one-account-one-person id first), so a replay creates nothing new;
- manual rules: a must-link forces the merge, a cannot-link blocks any automatic merge that would
  put its two records in one person; ``unlink``/``split`` leave cannot-links behind, ``link`` a
  must-link, so later automatic decisions respect what a human did.

Candidate search holds vectors in this process: exactly one resolver must own it at a time (see
streams/identity_agent.py). Manual operations, review and erasure only touch the graph and may run
anywhere (the API); the resolver drops candidates the graph says are erased.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any, Protocol

import neo4j
import orjson

from graph.store import GraphStore
from identity import persons as gp
from identity.audit import AuditAction, AuditEvent, evidence_json
from identity.crm_import import ParseResult
from identity.linking import LinkPlan, Neighbourhood, pair, plan_resolution
from identity.profile_text import profile_text
from identity.records import MatchDecision, ProfileRecord

log = logging.getLogger(__name__)

AUTO = "auto"
MAX_RECENT_POSTS = 5


class Candidates(Protocol):
    """identity.candidates.CandidateSearch (contract)."""

    def add(self, record: ProfileRecord) -> None: ...
    def remove(self, record_id: str) -> object: ...
    def candidates(self, record: ProfileRecord, k: int = 20) -> list[tuple[str, float]]: ...


class Deciding(Protocol):
    """identity.matcher.Matcher (contract)."""

    def decide(self, a: ProfileRecord, b: ProfileRecord, cosine: float | None = None) -> MatchDecision: ...


class Forgetting(Protocol):
    """embedding.encoder.Encoder, as far as erasure needs it."""

    def forget(self, texts_or_hashes: Any) -> int: ...


AuditSink = Callable[[Sequence[AuditEvent]], Awaitable[None]]
Submit = Callable[[Sequence[ProfileRecord]], Awaitable[None]]
#: after an erasure here: tell the resolver owner (another process) to forget these record ids
ForwardErasure = Callable[[Sequence[str]], Awaitable[None]]


class IdentityError(Exception):
    """A request that cannot be done as asked: ``status`` is the HTTP status it maps to."""

    def __init__(self, status: int, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.message = message


@dataclass(frozen=True, slots=True)
class Resolution:
    record_id: str
    person_id: str | None  # None: the record is erased and was not resolved
    changed: bool
    decisions: tuple[MatchDecision, ...] = ()
    plan: LinkPlan | None = None
    events: tuple[AuditEvent, ...] = ()


@dataclass(slots=True)
class ImportReport:
    parse: ParseResult
    statuses: dict[str, str] = field(default_factory=dict)  # record id -> created/updated/unchanged/erased
    resolved: int = 0
    queued: int = 0

    def to_dict(self) -> dict[str, Any]:
        out = self.parse.to_dict()
        counts: dict[str, int] = {}
        for s in self.statuses.values():
            counts[s] = counts.get(s, 0) + 1
        out.update(
            written={k: counts.get(k, 0) for k in ("created", "updated", "unchanged")},
            resolved=self.resolved,
            queued=self.queued,
        )
        errors = list(out["errors"])
        for row in self.parse.rows:
            if self.statuses.get(row.record.record_id) == "erased":
                errors.append(
                    {"row": row.row, "record_id": row.record.record_id, "reason": "customer was erased"}
                )
        out["errors"] = sorted(errors, key=lambda e: e["row"])
        out["failed"] = len(out["errors"])
        return out


def merge_records(old: ProfileRecord | None, new: ProfileRecord) -> ProfileRecord:
    """What we know about a record after ``new``: its set fields win, lists are united (newest
    posts first, a few kept)."""
    if old is None:
        return new
    changes: dict[str, Any] = {}
    for f in fields(ProfileRecord):
        name = f.name
        if name in ("record_id", "source"):
            continue
        a, b = getattr(old, name), getattr(new, name)
        if isinstance(a, tuple):
            merged = (
                tuple(dict.fromkeys((*b, *a))) if name == "recent_posts" else tuple(dict.fromkeys((*a, *b)))
            )
            changes[name] = merged[:MAX_RECENT_POSTS] if name == "recent_posts" else merged
        elif b is not None:
            changes[name] = b
    return replace(old, **changes)


class IdentityService:
    def __init__(
        self,
        store: GraphStore,
        matcher: Deciding | None = None,
        search: Candidates | None = None,
        *,
        encoder: Forgetting | None = None,
        audit: AuditSink | None = None,
        submit: Submit | None = None,
        forward_erasure: ForwardErasure | None = None,
        clock: Callable[[], float] = time.time,
        k: int = 20,
    ) -> None:
        self.store = store
        self._matcher = matcher
        self._search = search
        self.encoder = encoder
        self.audit = audit  # where audit events go (identity.links in the stream); None: nowhere
        self._submit = submit
        self.forward_erasure = forward_erasure
        self._clock = clock
        self._k = k
        self.records: dict[str, ProfileRecord] = {}  # what the resolver knows (only where it resolves)
        self._resolved: set[str] = set()
        self._texts: dict[str, set[str]] = {}  # every profile text embedded per record (erasure)

    @property
    def can_resolve(self) -> bool:
        return self._matcher is not None and self._search is not None

    async def setup(self) -> None:
        await gp.setup_identity_schema(self.store)

    async def emit(self, events: Sequence[AuditEvent]) -> None:
        if events and self.audit is not None:
            await self.audit(events)

    # -- resolver-owner state -----------------------------------------------------------------
    async def warm(self) -> int:
        """Bring the in-memory records and candidate index up to the graph (a new owner starts
        here, and an owner after a rebalance: another owner may have resolved records meanwhile).
        Incremental: only new or changed profiles are embedded; records the graph no longer has
        (erased) are dropped. -> how many stored profiles were read."""
        rows = await self.store.read(
            "MATCH (a:Account) WHERE a.profile_json IS NOT NULL AND a.erased IS NULL "
            "RETURN a.id AS id, a.profile_json AS pj"
        )
        stored: dict[str, ProfileRecord] = {}
        for row in rows:
            try:
                stored[row["id"]] = gp.record_from_json(row["pj"])
            except Exception as e:  # a bad stored profile must not stop the owner from starting
                log.warning("skipping stored profile of %s: %r", row["id"], e)
        gone = [rid for rid in self.records if rid not in stored]
        if gone:
            self.forget_local(gone)
        fresh = [r for rid, r in stored.items() if self.records.get(rid) != r]
        for record in fresh:
            self.records[record.record_id] = record
            self._resolved.add(record.record_id)
            self._texts.setdefault(record.record_id, set()).add(profile_text(record))
        if self._search is not None and fresh:
            many = getattr(self._search, "add_many", None)
            if many is not None:
                many(fresh)  # one batched encoder call
            else:
                for record in fresh:
                    self._search.add(record)
        return len(rows)

    def forget_local(self, record_ids: Sequence[str], texts: Sequence[str] = ()) -> int:
        """Drop records from this process: index vectors, profiles and cached embeddings."""
        dropped: list[str] = list(texts)
        for rid in record_ids:
            record = self.records.pop(rid, None)
            self._resolved.discard(rid)
            dropped.extend(self._texts.pop(rid, ()))
            if self._search is not None:
                self._search.remove(rid)
            if record is not None:
                dropped.append(profile_text(record))
                dropped.extend(record.recent_posts)
        return self.encoder.forget(dropped) if self.encoder is not None and dropped else 0

    # -- resolution ---------------------------------------------------------------------------
    async def resolve(self, record: ProfileRecord, cause: str = "") -> Resolution:
        if self._matcher is None or self._search is None:
            raise IdentityError(503, "this service has no matcher/candidate search: it cannot resolve")
        rid = record.record_id
        erased = await self.store.read(
            "MATCH (a:Account {id: $id}) WHERE a.erased = true RETURN a.id AS id", id=rid
        )
        if erased:
            self.forget_local([rid])
            return Resolution(rid, None, False)
        merged = merge_records(self.records.get(rid), record)
        if rid in self._resolved and self.records.get(rid) == merged:
            return Resolution(rid, None, False)
        self.records[rid] = merged
        self._texts.setdefault(rid, set()).add(profile_text(merged))
        self._search.add(merged)
        hits = [(o, c) for o, c in self._search.candidates(merged, self._k) if o != rid]
        gone = await self.store.read(
            "UNWIND $ids AS id MATCH (a:Account {id: id}) WHERE a.erased = true RETURN a.id AS id",
            ids=[o for o, _ in hits],
        )
        if gone:
            self.forget_local([r["id"] for r in gone])
        decisions = tuple(
            self._matcher.decide(merged, self.records[o], float(c)) for o, c in hits if o in self.records
        )
        now = self._clock()

        async def work(tx: neo4j.AsyncTransaction) -> tuple[LinkPlan, list[AuditEvent]]:
            await gp.ensure_record(tx, merged, now)
            hood = await gp.read_neighbourhood(tx, rid, [d.other_id for d in decisions])
            new_id = "" if hood.person_of.get(rid) else await gp.free_person_id(tx, rid)
            plan = plan_resolution(hood, decisions, new_id)
            events = await self._apply(tx, plan, hood, now, cause or rid)
            return plan, events

        plan, events = await self.store.write(work)
        self._resolved.add(rid)
        await self.emit(events)
        return Resolution(rid, plan.survivor, plan.changes_membership, decisions, plan, tuple(events))

    async def _apply(
        self, tx: neo4j.AsyncTransaction, plan: LinkPlan, hood: Neighbourhood, now: float, cause: str
    ) -> list[AuditEvent]:
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
                    reason="new person: no match"
                    if plan.create_person
                    else "match above the merge threshold",
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
            await gp.touch_persons(tx, [plan.survivor, *plan.merges], now)
            await gp.refresh_customer_summary(tx, [plan.survivor])
        return events

    # -- CRM import ---------------------------------------------------------------------------
    async def import_customers(self, parsed: ParseResult, cause: str = "crm-import") -> ImportReport:
        """Write the parsed customers, then resolve them here (when this service resolves) or hand
        them to the resolver owner (``submit``). Re-importing the same file changes nothing."""
        report = ImportReport(parsed)
        records = parsed.records
        report.statuses = await gp.upsert_customers(self.store, records, self._clock())
        todo = [r for r in records if report.statuses.get(r.record_id) in ("created", "updated")]
        unresolved = await self._unlinked([r.record_id for r in records])
        todo += [r for r in records if r.record_id in unresolved and r not in todo]
        todo = [r for r in todo if report.statuses.get(r.record_id) != "erased"]
        if self.can_resolve:
            for r in todo:
                await self.resolve(r, cause=f"{cause}:{r.record_id}")
            report.resolved = len(todo)
        elif self._submit is not None and todo:
            await self._submit(todo)
            report.queued = len(todo)
        return report

    async def _unlinked(self, record_ids: Sequence[str]) -> set[str]:
        linked = await self.store.read(
            "UNWIND $ids AS id MATCH (a:Account {id: id})-[:ACCOUNT_OF]->(:Person) RETURN a.id AS id",
            ids=list(record_ids),
        )
        return set(record_ids) - {r["id"] for r in linked}

    # -- manual operations --------------------------------------------------------------------
    async def _require_records(self, tx: neo4j.AsyncTransaction, ids: Sequence[str]) -> None:
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

    async def _link_tx(
        self, tx: neo4j.AsyncTransaction, a: str, b: str, actor: str, now: float, cause: str
    ) -> list[AuditEvent]:
        if a == b:
            raise IdentityError(400, "cannot link a record to itself")
        await self._require_records(tx, [a, b])
        hood = await gp.read_neighbourhood(tx, a, [b])
        pa, pb = hood.person_of.get(a), hood.person_of.get(b)
        if pa and pb and pa != pb:
            others = Neighbourhood(a, cannot_link=hood.cannot_link - {pair(a, b)})
            hit = others.blocked_between(hood.members(pa) | {a}, hood.members(pb) | {b})
            if hit is not None:
                raise IdentityError(
                    409, f"a cannot-link rule keeps {hit[0]} and {hit[1]} apart: unlink it first"
                )
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

    async def _split_tx(
        self,
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

    async def _unlink_tx(
        self, tx: neo4j.AsyncTransaction, a: str, b: str | None, actor: str, now: float, cause: str
    ) -> list[AuditEvent]:
        await self._require_records(tx, [a] if b is None else [a, b])
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
        _, split = await self._split_tx(tx, person, [a], actor, now, cause)
        return events + split

    async def link(self, a: str, b: str, actor: str) -> list[AuditEvent]:
        """A human says a and b are one person: merge now, and keep them together."""
        now = self._clock()
        events = await self.store.write(lambda tx: self._link_tx(tx, a, b, actor, now, f"link:{a}:{b}:{now}"))
        await self.emit(events)
        return events

    async def unlink(self, a: str, b: str | None, actor: str) -> list[AuditEvent]:
        """A human says a is not (b's) person: a leaves its person (if shared), cannot-links kept."""
        now = self._clock()
        events = await self.store.write(
            lambda tx: self._unlink_tx(tx, a, b, actor, now, f"unlink:{a}:{b}:{now}")
        )
        await self.emit(events)
        return events

    async def split(
        self, person_id: str, record_ids: Sequence[str], actor: str
    ) -> tuple[str, list[AuditEvent]]:
        """Move ``record_ids`` out of the person into another (their old id when they had one)."""
        now = self._clock()

        async def work(tx: neo4j.AsyncTransaction) -> tuple[str, list[AuditEvent]]:
            live = await gp.live_person(tx, person_id)
            if live is None:
                raise IdentityError(404, f"no person {person_id!r}")
            return await self._split_tx(tx, live, record_ids, actor, now, f"split:{person_id}:{now}")

        new_person, events = await self.store.write(work)
        await self.emit(events)
        return new_person, events

    # -- review queue -------------------------------------------------------------------------
    async def review_queue(self, limit: int = 50) -> list[dict[str, Any]]:
        items = await self.store.read(
            "MATCH (r:ReviewItem {status: $p}) RETURN r.id AS id, r.a AS a, r.b AS b, "
            "r.probability AS probability, r.evidence AS evidence, r.created_at AS created_at "
            "ORDER BY r.probability DESC, r.id ASC LIMIT $n",
            p=gp.PENDING,
            n=int(limit),
        )
        ids = sorted({i["a"] for i in items} | {i["b"] for i in items})
        info = {
            r["id"]: r
            for r in await self.store.read(
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

    async def decide_review(self, review: str, accept: bool, actor: str) -> list[AuditEvent]:
        now = self._clock()

        async def work(tx: neo4j.AsyncTransaction) -> list[AuditEvent]:
            item = await gp.set_review_status(tx, review, gp.ACCEPTED if accept else gp.REJECTED, actor, now)
            if item is None:
                raise IdentityError(404, f"no review item {review!r}")
            if item["status"] != gp.PENDING:
                raise IdentityError(409, f"review item {review!r} is already {item['status']}")
            cause = f"{review}:{'accept' if accept else 'reject'}"
            if accept:
                events = await self._link_tx(tx, item["a"], item["b"], actor, now, cause)
            else:
                events = await self._unlink_tx(tx, item["a"], item["b"], actor, now, cause)
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

        events = await self.store.write(work)
        await self.emit(events)
        return events

    # -- views --------------------------------------------------------------------------------
    async def person_accounts(self, person_id: str) -> dict[str, Any]:
        live = await gp.live_person(self.store, person_id)
        if live is None:
            raise IdentityError(404, f"no person {person_id!r}")
        person = await self.store.read("MATCH (p:Person {id: $id}) RETURN properties(p) AS props", id=live)
        if person and person[0]["props"].get("erased"):
            raise IdentityError(410, f"person {person_id!r} was erased")
        accounts = await self.store.read(
            "MATCH (a:Account)-[e:ACCOUNT_OF]->(p:Person {id: $id}) RETURN a.id AS id, a.network AS network, "
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

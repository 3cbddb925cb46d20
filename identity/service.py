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

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field, fields, replace
from typing import Any, ParamSpec, Protocol, TypeVar

import neo4j

from graph.store import GraphStore
from identity import manual
from identity import persons as gp
from identity.audit import AuditEvent
from identity.crm_import import ParseResult
from identity.linking import LinkPlan
from identity.manual import IdentityError as IdentityError  # re-exported: callers catch it from here
from identity.plan_writes import AUTO as AUTO  # re-exported
from identity.plan_writes import resolve_in_order
from identity.profile_text import profile_text
from identity.records import MatchDecision, ProfileRecord

log = logging.getLogger(__name__)

MAX_RECENT_POSTS = 5


P = ParamSpec("P")
T = TypeVar("T")


class Candidates(Protocol):
    """identity.candidates.CandidateSearch (contract)."""

    def add(self, record: ProfileRecord) -> None: ...
    def remove(self, record_id: str) -> object: ...
    def candidates(self, record: ProfileRecord, k: int = 20) -> list[tuple[str, float]]: ...


class Deciding(Protocol):
    """identity.matcher.Matcher (contract)."""

    def decide(self, a: ProfileRecord, b: ProfileRecord, cosine: float | None = None) -> MatchDecision: ...


class Offload(Protocol):
    """Where the model, the index and the matcher run, off the event loop: ``asyncio.to_thread``, or
    ``groundswell.background.BackgroundThread.run`` (a thread at a lower CPU priority)."""

    def __call__(self, fn: Callable[P, T], /, *args: P.args, **kwargs: P.kwargs) -> Awaitable[T]: ...


class Forgetting(Protocol):
    """embedding.encoder.Encoder, as far as erasure needs it."""

    def forget(self, texts_or_hashes: Any) -> int: ...


AuditSink = Callable[[Sequence[AuditEvent]], Awaitable[None]]
Submit = Callable[[Sequence[ProfileRecord]], Awaitable[None]]
#: after an erasure here: tell the resolver owner (another process) to forget these record ids
ForwardErasure = Callable[[Sequence[str]], Awaitable[None]]


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
        offload: Offload = asyncio.to_thread,
    ) -> None:
        self.store = store
        self._offload = offload
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
                await self._offload(many, fresh)  # one batched encoder call, off the event loop
            else:
                for record in fresh:
                    await self._offload(self._search.add, record)
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
    async def prefetch(self, records: Sequence[ProfileRecord]) -> None:
        """Embed the profiles a batch of resolutions will need in ONE encoder call (the cache then
        answers each ``resolve``): one short text at a time is the resolver's dominant cost."""
        encoder = getattr(self._search, "encoder", None)
        if encoder is None or not records:
            return
        known: dict[str, ProfileRecord] = {}  # the batch's records merged so far, over self.records
        texts: list[str] = []
        for r in records:
            rid = r.record_id
            known[rid] = merge_records(known.get(rid) or self.records.get(rid), r)
            texts.append(profile_text(known[rid]))
        await self._offload(encoder.encode, texts)

    async def resolve(self, record: ProfileRecord, cause: str = "") -> Resolution:
        return (await self.resolve_many([(record, cause)]))[0]

    async def resolve_many(self, items: Sequence[tuple[ProfileRecord, str]]) -> list[Resolution]:
        """Resolve ``(record, cause)`` pairs in order, in ONE graph transaction: each sees what the
        ones before it wrote, exactly as one call each would (their candidates, searched in order,
        include the earlier records; their neighbourhoods are read inside the transaction), at one
        round of the store's write lock instead of one per record. If the transaction fails,
        nothing of it is written and every record may be resolved again (one at a time)."""
        if self._matcher is None or self._search is None:
            raise IdentityError(503, "this service has no matcher/candidate search: it cannot resolve")
        search, matcher = self._search, self._matcher
        results: list[Resolution | None] = []
        pending: list[tuple[int, ProfileRecord, str]] = []
        for record, cause in items:
            rid = record.record_id
            merged = merge_records(self.records.get(rid), record)
            if rid in self._resolved and self.records.get(rid) == merged:
                results.append(Resolution(rid, None, False))
                continue
            self.records[rid] = merged
            self._texts.setdefault(rid, set()).add(profile_text(merged))
            pending.append((len(results), merged, cause or rid))
            results.append(None)
        if not pending:
            return [r for r in results if r is not None]

        def embed_and_search() -> list[list[tuple[str, float]]]:
            found = []
            for _, merged, _ in pending:  # in order: each one's candidates include the ones before it
                search.add(merged)
                found.append([(o, c) for o, c in search.candidates(merged, self._k) if o != merged.record_id])
            return found

        # the model and the index run off the event loop: a stream worker must keep heart-beating
        hits_of = await self._offload(embed_and_search)
        ids = {m.record_id for _, m, _ in pending} | {o for hits in hits_of for o, _ in hits}
        gone = await self.store.read(  # erased here or by another process (the API): never resolved
            "UNWIND $ids AS id MATCH (a:Account {id: id}) WHERE a.erased = true RETURN a.id AS id",
            ids=sorted(ids),
        )
        erased = {r["id"] for r in gone}
        if erased:
            self.forget_local(sorted(erased))
        records = self.records

        def decide_all() -> list[tuple[int, ProfileRecord, str, tuple[MatchDecision, ...]]]:
            out = []
            for (at, merged, cause), hits in zip(pending, hits_of, strict=True):
                if merged.record_id in erased:
                    continue
                others = [(records.get(o), c) for o, c in hits if o not in erased]
                decisions = tuple(matcher.decide(merged, r, float(c)) for r, c in others if r is not None)
                out.append((at, merged, cause, decisions))
            return out

        todo = await self._offload(decide_all)
        for at, merged, _ in pending:
            if merged.record_id in erased:
                results[at] = Resolution(merged.record_id, None, False)
        now = self._clock()

        async def work(tx: neo4j.AsyncTransaction) -> list[tuple[LinkPlan, list[AuditEvent]]]:
            return await resolve_in_order(tx, [(m, cause, ds) for _, m, cause, ds in todo], now)

        written = await self.store.write(work) if todo else []
        events: list[AuditEvent] = []
        for (at, merged, _, decisions), (plan, evs) in zip(todo, written, strict=True):
            self._resolved.add(merged.record_id)
            events.extend(evs)
            results[at] = Resolution(
                merged.record_id, plan.survivor, plan.changes_membership, decisions, plan, tuple(evs)
            )
        await self.emit(events)
        return [r for r in results if r is not None]

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
            try:
                await self._submit(todo)
            except Exception as e:
                raise IdentityError(
                    503,
                    f"customers written, but the resolution queue is unreachable ({e}); import again later",
                ) from e
            report.queued = len(todo)
        return report

    async def _unlinked(self, record_ids: Sequence[str]) -> set[str]:
        linked = await self.store.read(
            "UNWIND $ids AS id MATCH (a:Account {id: id})-[:ACCOUNT_OF]->(:Person) RETURN a.id AS id",
            ids=list(record_ids),
        )
        return set(record_ids) - {r["id"] for r in linked}

    # -- manual operations (identity/manual.py) -----------------------------------------------
    async def link(self, a: str, b: str, actor: str) -> list[AuditEvent]:
        """A human says a and b are one person: merge now, and keep them together."""
        now = self._clock()
        events = await self.store.write(
            lambda tx: manual.link_tx(tx, a, b, actor, now, f"link:{a}:{b}:{now}")
        )
        await self.emit(events)
        return events

    async def unlink(self, a: str, b: str | None, actor: str) -> list[AuditEvent]:
        """A human says a is not (b's) person: a leaves its person (if shared), cannot-links kept."""
        now = self._clock()
        events = await self.store.write(
            lambda tx: manual.unlink_tx(tx, a, b, actor, now, f"unlink:{a}:{b}:{now}")
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
            return await manual.split_tx(tx, live, record_ids, actor, now, f"split:{person_id}:{now}")

        new_person, events = await self.store.write(work)
        await self.emit(events)
        return new_person, events

    # -- review queue -------------------------------------------------------------------------
    async def review_queue(self, limit: int = 50) -> list[dict[str, Any]]:
        return await manual.review_queue(self.store, limit)

    async def decide_review(self, review: str, accept: bool, actor: str) -> list[AuditEvent]:
        now = self._clock()
        events = await self.store.write(lambda tx: manual.decide_review_tx(tx, review, accept, actor, now))
        await self.emit(events)
        return events

    # -- views --------------------------------------------------------------------------------
    async def person_accounts(self, person_id: str) -> dict[str, Any]:
        return await manual.person_accounts(self.store, person_id)

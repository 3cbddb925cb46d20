"""The graph store: one async adapter over Bolt for embedded ArcadeDB and for Neo4j 5.

All writes of a batch happen in ONE transaction: look up which events are already applied (their
``Event`` markers), plan the rest (``graph.plan``), upsert nodes, merge edges, create the
markers, then undo what DELETE activities name. A replayed event changes nothing. Two writers
meeting on the same new key make the loser fail with ``ConstraintValidationFailed`` (ArcadeDB
does not serialise MERGE with locks): the whole batch is retried with backoff.

The Cypher (``graph.cypher``) is built only from the whitelists in ``graph.plan`` (labels, types);
every value is a parameter. Edge upserts (``merge_edges``) on the embedded store, whose writers take
turns: CREATE the edges that do not exist (an adjacency test, no edge records read), then update
the others from their sparser end; elsewhere MERGE from the sparser end. ArcadeDB reads every
edge of the node a MERGE or MATCH starts from, which for a hub cost ~60 ms a row.
Reads are auto-commit statements. The schema is versioned in ``graph.migrations``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
import time
from collections.abc import Awaitable, Callable, Coroutine, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import neo4j
from neo4j.exceptions import ClientError, ServiceUnavailable, SessionExpired, TransientError

from activity.schema import Activity
from graph import cypher, migrations, write_path
from graph import io_thread as io_thread_module
from graph.io_thread import IOThread
from graph.migrations import GRAPH_SCHEMA_VERSION
from graph.plan import (
    NODE_LABELS,
    REL_TYPES,
    Company,
    EndpointFrequency,
    LinkLike,
    WritePlan,
    build_plan,
    company_matcher,
    link_marker_id,
)
from graph.write_locks import MachineLock, write_lock
from graph.write_path import WriteContext, chunks, single
from groundswell.metrics import Metrics
from groundswell.settings import Settings

log = logging.getLogger(__name__)
T = TypeVar("T")

#: the graph package's own schema version (other packages may register higher ones)
SCHEMA_VERSION = GRAPH_SCHEMA_VERSION

MAX_ATTEMPTS = 10
READ_ATTEMPTS = 4


@dataclass(frozen=True, slots=True)
class ApplyResult:
    applied_events: int  # activities applied now
    skipped_duplicates: int  # activities already applied, or repeated within the batch
    applied_links: int = 0
    attempts: int = 1
    #: event ids of the activities this call applied (not those applied before): what downstream
    #: stages (scoring) may count, so that a replay moves no score twice
    applied_ids: frozenset[str] = frozenset()
    #: erased accounts (tombstones) that the applied activities named: nothing was written on them
    erased_accounts: frozenset[str] = frozenset()


def _retryable(exc: Exception) -> bool:
    if isinstance(exc, TransientError | ServiceUnavailable | SessionExpired):
        return True
    if isinstance(exc, ClientError) and exc.code == "Neo.ClientError.Schema.ConstraintValidationFailed":
        return True
    # ArcadeDB reports an MVCC conflict at commit as a generic error naming the exception
    text = str(exc)
    return "ConcurrentModification" in text or "NeedRetry" in text


class GraphStore:
    def __init__(
        self,
        driver: neo4j.AsyncDriver,
        settings: Settings,
        metrics: Metrics | None = None,
        clock: Callable[[], float] = time.time,
        io: IOThread | None = None,
    ) -> None:
        self._driver = driver
        self._io = io  # the driver's own loop thread (graph.io_thread), or None: the caller's loop
        # ArcadeDB's page-level conflicts: the embedded store's writers take turns across processes
        self._machine_lock = (
            MachineLock(settings.data_dir / "graph-write.lock") if settings.embedded_graph else None
        )
        self._db = settings.graph_database or None
        self._metrics = metrics
        self._clock = clock
        self._company = Company(settings.company_id, settings.company_name)
        self._mentions_company = company_matcher(settings.company_keywords, settings.company_accounts)
        self._endpoints = EndpointFrequency()
        #: upsert edges by CREATE of the absent ones + update of the rest (``write_path.merge_edges``):
        #: safe only where writers take turns, as on the embedded store; MERGE otherwise
        self.create_absent_edges = self._machine_lock is not None

    def _write_context(self) -> WriteContext:
        return WriteContext(self._endpoints, self.create_absent_edges)

    @classmethod
    async def connect(
        cls, settings: Settings, metrics: Metrics | None = None, *, io_thread: bool = False
    ) -> GraphStore:
        """``io_thread``: run the driver on the process's graph I/O thread (``graph.io_thread``)
        instead of the caller's loop, so a busy caller does not stall the store's round trips (the
        stream worker). Its transaction functions then run on that thread too."""
        io = io_thread_module.shared() if io_thread else None

        async def make() -> neo4j.AsyncDriver:
            return neo4j.AsyncGraphDatabase.driver(
                settings.effective_graph_uri,
                auth=(settings.graph_user, settings.graph_password.get_secret_value()),
            )

        driver = await io.run(make()) if io is not None else await make()
        store = cls(driver, settings, metrics, io=io)
        try:
            await store.ping()
        except BaseException:
            await store.close()
            raise
        return store

    def _on_io(self, coro: Coroutine[Any, Any, T]) -> Awaitable[T]:
        return self._io.run(coro) if self._io is not None else coro

    async def close(self) -> None:
        await self._on_io(self._driver.close())
        if self._machine_lock is not None:
            self._machine_lock.close()

    async def with_driver(self, fn: Callable[[neo4j.AsyncDriver, str | None], Awaitable[T]]) -> T:
        """Run ``fn(driver, database)`` where the driver lives (for callers that need a session of
        their own, e.g. the read-only transaction of ``graph.readonly``)."""

        async def call() -> T:
            return await fn(self._driver, self._db)

        return await self._on_io(call())

    async def __aenter__(self) -> GraphStore:
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.close()

    # -- plumbing ----------------------------------------------------------------------------
    async def _read(self, query: str, **params: Any) -> list[dict[str, Any]]:
        return await self._on_io(self._read_here(query, **params))

    async def _read_here(self, query: str, **params: Any) -> list[dict[str, Any]]:
        """One auto-commit read. Not ``execute_query``: its managed transaction costs a BEGIN and
        a COMMIT round trip per statement, measured as 2-3x the latency of a point lookup on
        ArcadeDB; reads need no transaction. Retried (a few times) when the store is briefly away."""
        for attempt in range(1, READ_ATTEMPTS + 1):
            try:
                async with self._driver.session(
                    database=self._db, default_access_mode=neo4j.READ_ACCESS
                ) as s:
                    result = await s.run(query, params)
                    return [record.data() async for record in result]
            except (TransientError, ServiceUnavailable, SessionExpired):
                if attempt == READ_ATTEMPTS:
                    raise
                await asyncio.sleep(min(1.0, 0.05 * 2**attempt) * (0.5 + random.random()))
        raise AssertionError("unreachable")

    async def _write_tx(self, work: Callable[[neo4j.AsyncTransaction], Awaitable[T]]) -> tuple[T, int]:
        """Run ``work`` in one write transaction; retry conflicts with backoff. -> (result, attempts)"""
        return await self._on_io(self._write_tx_here(work))

    async def _write_tx_here(self, work: Callable[[neo4j.AsyncTransaction], Awaitable[T]]) -> tuple[T, int]:
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                async with (
                    write_lock(),
                    self._machine_lock.held() if self._machine_lock is not None else contextlib.nullcontext(),
                    self._driver.session(database=self._db) as session,
                ):
                    tx = await session.begin_transaction()
                    try:
                        result = await work(tx)
                        await tx.commit()
                        return result, attempt
                    finally:
                        if not tx.closed():
                            with contextlib.suppress(Exception):  # the work's error is the one to see
                                await tx.close()
            except Exception as exc:
                if attempt == MAX_ATTEMPTS or not _retryable(exc):
                    raise
                if self._metrics is not None:
                    self._metrics.graph_write_retries.inc()
                delay = min(2.0, 0.02 * 2**attempt) * (0.5 + random.random())
                log.debug("graph write retry %d after %r (%.3fs)", attempt, exc, delay)
                await asyncio.sleep(delay)
        raise AssertionError("unreachable")

    # -- public plumbing for the adapters that own their Cypher (queries, identity, alerts) -----
    async def read(self, query: str, **params: Any) -> list[dict[str, Any]]:
        """Run one read statement (parameters only: never format values into ``query``).

        Many rows: return them as ONE collected record (``RETURN collect({id: a.id, ...}) AS
        rows``). ArcadeDB sends Bolt records slowly: 200 rows took ~75 ms as 200 records and
        ~27 ms as one (measured side by side, same query); Neo4j is indifferent. Note that
        ArcadeDB may return no record at all for a ``collect`` over zero rows."""
        return await self._read(query, **params)

    async def write(self, work: Callable[[neo4j.AsyncTransaction], Awaitable[T]]) -> T:
        """Run ``work`` in one write transaction, retried on conflicts (so it must be idempotent)."""
        result, _ = await self._write_tx(work)
        return result

    async def merge_edges(
        self, tx: neo4j.AsyncTransaction, kind: str, rows: Sequence[dict[str, Any]]
    ) -> None:
        """Upsert edges of one kind in ``tx``: rows ``{src, dst, n, fs, ls, conf}`` (de-duplicated
        by (src, dst) by the caller), each expanded from its sparser end."""
        await write_path.merge_edges(tx, kind, rows, self._write_context())

    async def ping(self) -> bool:
        rows = await self._read("RETURN 1 AS one")
        return bool(rows and rows[0]["one"] == 1)

    # -- schema ------------------------------------------------------------------------------
    async def schema_version(self) -> int:
        rows = await self._read("MATCH (s:SchemaVersion {id: 'graph'}) RETURN s.version AS v")
        return int(rows[0]["v"]) if rows and rows[0]["v"] is not None else 0

    async def setup(self, only: Sequence[migrations.Migration] | None = None) -> int:
        """Apply the schema migrations not recorded yet (``graph.migrations``); returns the
        highest applied version. Several processes may start at once (workers, the API): every
        statement is idempotent, and a lost race on a migration's record is retried. ``only``:
        these migrations instead of every registered one (tests, tools)."""
        for attempt in range(1, MAX_ATTEMPTS + 1):
            try:
                return await self._setup_once(only)
            except Exception as exc:
                if attempt == MAX_ATTEMPTS or not _retryable(exc):
                    raise
                await asyncio.sleep(0.05 * attempt * (0.5 + random.random()))
        raise AssertionError("unreachable")

    async def _setup_once(self, only: Sequence[migrations.Migration] | None) -> int:
        ran = await migrations.apply(self, only, clock=self._clock)
        for m in ran:
            log.info("graph schema migration %d (%s: %s) applied", m.version, m.owner, m.name)
        return await self.schema_version()

    async def execute(self, query: str, **params: Any) -> None:
        """Run one auto-commit statement (schema DDL, migrations); not retried here."""
        await self._on_io(self._driver.execute_query(query, params, database_=self._db))

    # -- writes ------------------------------------------------------------------------------
    async def apply(self, activities: Sequence[Activity], links: Sequence[LinkLike] = ()) -> ApplyResult:
        """Apply a batch in one transaction; events already applied are skipped."""
        started = time.perf_counter()

        async def work(tx: neo4j.AsyncTransaction) -> tuple[WritePlan, frozenset[str], write_path.Withheld]:
            ids = list({a.event_id for a in activities} | {link_marker_id(lk) for lk in links})
            done: set[str] = set()
            for chunk in chunks(ids):
                rec = await single(tx, cypher.NODE_EXISTING["Event"], ids=list(chunk))
                done.update(rec.get("ids") or [])
            fresh = [a for a in activities if a.event_id not in done]
            plan = build_plan(
                fresh,
                [lk for lk in links if link_marker_id(lk) not in done],
                company=self._company,
                mentions_company=self._mentions_company,
                now=self._clock(),
            )
            withheld = await write_path.write_plan(tx, plan, self._write_context())
            return plan, frozenset(a.event_id for a in fresh), withheld

        (plan, applied_ids, withheld), attempts = await self._write_tx(work)
        if self._metrics is not None:
            self._metrics.graph_batch_size.observe(len(activities))
            self._metrics.graph_write_seconds.observe(time.perf_counter() - started)
            if withheld.accounts:
                self._metrics.erased_withheld.labels("account").inc(len(withheld.accounts))
            if withheld.posts:
                self._metrics.erased_withheld.labels("post").inc(withheld.posts)
        return ApplyResult(
            applied_events=plan.activity_events,
            skipped_duplicates=len(activities) - plan.activity_events,
            applied_links=plan.link_events,
            attempts=attempts,
            applied_ids=applied_ids,
            erased_accounts=withheld.accounts,
        )

    async def set_influence(self, rows: Sequence[tuple[str, float, float]]) -> None:
        """``(account_id, influence_log, updated_at)`` -> Account.influence_log / influence_updated_at.
        A row older than the stored ``influence_updated_at`` is ignored (out-of-order scores)."""
        data = [{"id": a, "v": float(v), "at": float(at)} for a, v, at in {r[0]: r for r in rows}.values()]

        async def work(tx: neo4j.AsyncTransaction) -> None:
            for chunk in chunks(data):
                await tx.run(
                    "UNWIND $rows AS r MERGE (a:Account {id: r.id}) WITH a, r "
                    "WHERE a.influence_updated_at IS NULL OR a.influence_updated_at <= r.at "
                    "SET a.influence_log = r.v, a.influence_updated_at = r.at",
                    rows=list(chunk),
                )

        if data:
            await self._write_tx(work)

    # -- queries -----------------------------------------------------------------------------
    async def erased_accounts(self) -> list[str]:
        """The ids of every erased account (its node is a tombstone: ``identity.erasure``). No index:
        on embedded ArcadeDB with 1M accounts this took a median 0.09 s (five calls, RESULTS)."""
        rows = await self._read("MATCH (a:Account) WHERE a.erased = true RETURN a.id AS id")
        return [str(r["id"]) for r in rows]

    async def influence_logs(self, account_ids: Sequence[str]) -> dict[str, float]:
        """Stored ``influence_log`` per account (accounts without one are left out): the state the
        scorer rebuilds from when the embedded broker, and with it its tables, starts empty."""
        rows = await self._read(
            "UNWIND $ids AS id MATCH (a:Account {id: id}) WHERE a.influence_log IS NOT NULL "
            "RETURN a.id AS id, a.influence_log AS l",
            ids=list(account_ids),
        )
        return {r["id"]: float(r["l"]) for r in rows}

    async def top_influencers(self, limit: int = 20, network: str | None = None) -> list[dict[str, Any]]:
        return await self._read(
            "MATCH (a:Account) WHERE a.influence_log IS NOT NULL "
            "AND ($network IS NULL OR a.network = $network) "
            "RETURN a.id AS id, a.handle AS handle, a.network AS network, a.display_name AS display_name, "
            "a.influence_log AS influence_log, a.influence_updated_at AS influence_updated_at, "
            "a.followers AS followers ORDER BY a.influence_log DESC, a.id ASC LIMIT $limit",
            network=network,
            limit=int(limit),
        )

    async def account_view(self, account_id: str, recent: int = 20) -> dict[str, Any] | None:
        rows = await self._read(
            "MATCH (a:Account {id: $id}) OPTIONAL MATCH (a)-[:ACCOUNT_OF]->(p:Person) "
            "RETURN properties(a) AS props, collect(p.id) AS persons",
            id=account_id,
        )
        if not rows:
            return None
        props = dict(rows[0]["props"])
        persons = sorted(p for p in rows[0]["persons"] if p is not None)
        interactions: list[dict[str, Any]] = []
        for direction, pattern in (("out", "(a)-[r]->(o:Account)"), ("in", "(a)<-[r]-(o:Account)")):
            found = await self._read(
                f"MATCH (a:Account {{id: $id}}) MATCH {pattern} "
                "RETURN type(r) AS type, o.id AS other_id, o.handle AS other_handle, "
                "r.count AS count, r.last_seen AS last_seen ORDER BY r.last_seen DESC LIMIT $n",
                id=account_id,
                n=int(recent),
            )
            interactions.extend({"direction": direction, **row} for row in found)
        interactions.sort(key=lambda r: (-(r["last_seen"] or 0.0), r["direction"], r["type"], r["other_id"]))
        return {
            "id": account_id,
            "props": props,
            "person_id": persons[0] if persons else None,
            "person_ids": persons,
            "influence_log": props.get("influence_log"),
            "interactions": interactions[:recent],
        }

    async def counts(self) -> dict[str, int]:
        """Nodes per label and relationships per type (every whitelisted one, zeros included)."""
        out: dict[str, int] = {}
        for label in NODE_LABELS:
            rows = await self._read(f"MATCH (n:{label}) RETURN count(n) AS c")
            out[label] = int(rows[0]["c"]) if rows else 0
        for rel in REL_TYPES:
            rows = await self._read(f"MATCH ()-[r:{rel}]->() RETURN count(r) AS c")
            out[rel] = int(rows[0]["c"]) if rows else 0
        return out

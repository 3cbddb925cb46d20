"""The write path of a batch, inside the caller's transaction: nodes, edges, event markers, deletes.

``graph.store.GraphStore.apply`` plans a batch (``graph.plan``) and hands it to ``write_plan``:

- nodes: look up which ids exist, CREATE the others, SET what changed;
- edges touching a node created in this transaction cannot exist yet: CREATE them;
- the other edges are upserted (``merge_edges``): MERGE from the sparser end (``graph.cypher``);
  where writers take turns (``WriteContext.serialized``: the embedded store's machine lock), rows
  whose two ends are both busy in the write stream (``DENSE_ENDS``) are CREATEd if absent and
  updated otherwise instead, because ArcadeDB's MERGE reads every edge of the node it starts from;
- then the ``Event`` markers, then the undo of what DELETE activities name.

An erased account (``identity.erasure``: its node a tombstone ``{id, network, erased, erased_at}``)
stays one: a later or replayed event neither writes its profile fields on it again nor the text of
a post it authored (the post is written bare, ``erased: true``, as erasure leaves the old ones).
The interactions themselves (edges: counts and times) are written, as erasure keeps them.
``write_plan`` names the erased accounts it met (``Withheld.accounts``): the graph stage then sends
nothing of theirs for resolution (``streams.identity_commands.IdentityIntake.commands``), whether or
not its worker saw the erase event.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any, TypeVar

import neo4j

from graph import cypher
from graph.plan import EDGE_KINDS, EndpointFrequency, WritePlan

T = TypeVar("T")

CHUNK = 1_000
#: an edge whose ends were both seen at least this often in the recent write stream is upserted by
#: an adjacency test + CREATE or update, not MERGE (``merge_edges``); measured: at 1M accounts /
#: 5M edges x1.8 upserts/s, at 50k accounts MERGE everywhere was 3-15 % faster
DENSE_ENDS = 8


@dataclass(frozen=True, slots=True)
class WriteContext:
    """What a store's writes share between transactions."""

    endpoints: EndpointFrequency  # which end of an edge is the dense one
    serialized: bool  # writers take turns (no other transaction writes meanwhile)


def chunks(rows: Sequence[T], size: int = CHUNK) -> Iterable[Sequence[T]]:
    for i in range(0, len(rows), size):
        yield rows[i : i + size]


async def single(tx: neo4j.AsyncTransaction, query: str, **params: Any) -> dict[str, Any]:
    """The one record of an aggregating query; {} when there is none (ArcadeDB returns no record
    for ``collect`` over zero rows, Neo4j returns one with an empty list)."""
    rec = await (await tx.run(query, params)).single(strict=False)
    return rec.data() if rec is not None else {}


async def run_rows(tx: neo4j.AsyncTransaction, query: str, rows: Sequence[dict[str, Any]]) -> None:
    for chunk in chunks(rows):
        await tx.run(query, rows=list(chunk))


@dataclass(frozen=True, slots=True)
class Upserted:
    created: set[str]  # ids of the nodes created
    erased: set[str]  # ids of erased accounts met (nothing written on them)


async def upsert_nodes(tx: neo4j.AsyncTransaction, label: str, nodes: dict[str, dict[str, Any]]) -> Upserted:
    """CREATE the missing nodes; SET properties only where they change what is stored (an
    Account's lookup returns its properties: most batches re-mention known accounts unchanged,
    and an update is a write that two concurrent writers can conflict on). An erased account is
    left as its tombstone."""
    if not nodes:
        return Upserted(set(), set())
    existing: dict[str, dict[str, Any] | None] = {}
    query = cypher.ACCOUNT_EXISTING if label == "Account" else cypher.NODE_EXISTING[label]
    for chunk in chunks(list(nodes)):
        rec = await single(tx, query, ids=list(chunk))
        if label == "Account":
            existing.update((p["id"], p) for p in rec.get("props") or [])
        else:
            existing.update(dict.fromkeys(rec.get("ids") or []))
    create: list[dict[str, Any]] = [{"id": k, "props": v} for k, v in nodes.items() if k not in existing]
    update = []
    erased: set[str] = set()
    for k, v in nodes.items():
        if k in existing:
            stored = existing[k]
            if stored is not None and stored.get("erased") is True:
                erased.add(k)
            elif v and (stored is None or any(stored.get(pk) != pv for pk, pv in v.items())):
                update.append({"id": k, "props": v})
    await run_rows(tx, cypher.NODE_CREATE[label], create)
    await run_rows(tx, cypher.NODE_UPDATE[label], update)
    return Upserted({row["id"] for row in create}, erased)


def without_erased_texts(plan: WritePlan, erased_accounts: set[str]) -> tuple[dict[str, dict[str, Any]], int]:
    """The plan's Post nodes, those authored by an erased account without their text and marked
    erased (the plan itself is left as it is: a retried transaction plans again from it).
    -> (the nodes, how many were stripped)"""
    posts = plan.nodes("Post")
    if not erased_accounts:
        return posts, 0
    authored = {dst for (kind, src, dst) in plan.edges if kind == "AUTHORED" and src in erased_accounts}
    stripped = {
        k: {**{pk: pv for pk, pv in v.items() if pk != "text"}, "erased": True}
        for k, v in posts.items()
        if k in authored
    }
    return {**posts, **stripped}, len(stripped)


async def merge_edges(
    tx: neo4j.AsyncTransaction, kind: str, rows: Sequence[dict[str, Any]], ctx: WriteContext
) -> None:
    """Upsert edges of one kind (rows de-duplicated by (src, dst)), MERGE from the sparser end.
    Where writers take turns (``ctx.serialized``), a row whose both ends are busy in the write
    stream (``DENSE_ENDS``) is instead CREATEd if its edge does not exist and updated if it does
    (``cypher.EDGE_CREATE_ABSENT``): MERGE would read every edge of its sparser end, the adjacency
    test reads none. Between sparse nodes MERGE is the cheaper of the two (one statement, a short
    scan)."""
    endpoints = ctx.endpoints
    _observe_ends(endpoints, rows)
    merge: list[dict[str, Any]] = []
    dense: list[dict[str, Any]] = []
    for r in rows:
        busy = ctx.serialized and min(endpoints.count(r["src"]), endpoints.count(r["dst"])) >= DENSE_ENDS
        (dense if busy else merge).append(r)
    present = await create_absent_edges(tx, kind, dense)
    await run_from_sparser_end(tx, cypher.EDGE_MERGE[kind], merge, endpoints)
    await run_from_sparser_end(tx, cypher.EDGE_UPDATE[kind], present, endpoints)


def _observe_ends(endpoints: EndpointFrequency, rows: Sequence[dict[str, Any]]) -> None:
    endpoints.observe(node for r in rows for node in (r["src"], r["dst"]))


async def create_absent_edges(
    tx: neo4j.AsyncTransaction, kind: str, rows: Sequence[dict[str, Any]]
) -> list[dict[str, Any]]:
    """CREATE the edges of ``rows`` that do not exist yet (``cypher.EDGE_CREATE_ABSENT``; only where
    no other writer can create them meanwhile). -> the rows whose edge already existed."""
    present: list[dict[str, Any]] = []
    for chunk in chunks(rows):
        numbered = [{**r, "i": i} for i, r in enumerate(chunk)]
        rec = await single(tx, cypher.EDGE_CREATE_ABSENT[kind], rows=numbered)
        created = set(rec.get("created") or ())
        present.extend(r for i, r in enumerate(chunk) if i not in created)
    return present


async def run_from_sparser_end(
    tx: neo4j.AsyncTransaction,
    statements: tuple[str, ...],
    rows: Sequence[dict[str, Any]],
    endpoints: EndpointFrequency,
) -> None:
    """Run an edge statement pair (expanding from the source, from the target: ``graph.cypher``)
    with each row sent to the one that starts from its sparser end."""
    from_source: list[dict[str, Any]] = []
    from_target: list[dict[str, Any]] = []
    for r in rows:
        (from_source if endpoints.from_source(r["src"], r["dst"]) else from_target).append(r)
    await run_rows(tx, statements[0], from_source)
    await run_rows(tx, statements[1], from_target)


@dataclass(frozen=True, slots=True)
class Withheld:
    """What a batch did not write because its account was erased."""

    accounts: frozenset[str] = frozenset()  # erased accounts the batch named (their fields not written again)
    posts: int = 0  # posts by erased accounts, written without their text


async def write_plan(tx: neo4j.AsyncTransaction, plan: WritePlan, ctx: WriteContext) -> Withheld:
    if plan.is_empty:
        return Withheld()
    created: dict[str, set[str]] = {}
    erased: set[str] = set()
    stripped = 0
    for label in ("Person", "Company", "Account", "Post"):
        nodes = plan.nodes(label)
        if label == "Post":
            nodes, stripped = without_erased_texts(plan, erased)
        upserted = await upsert_nodes(tx, label, nodes)
        created[label] = upserted.created
        erased |= upserted.erased
    # an edge touching a node created in this transaction cannot exist yet: CREATE it (cheaper
    # than MERGE on ArcadeDB); MERGE the others
    by_kind: dict[tuple[str, bool], list[dict[str, Any]]] = defaultdict(list)
    for (kind, src, dst), d in plan.edges.items():
        spec = EDGE_KINDS[kind]
        new = src in created[spec.src_label] or dst in created[spec.dst_label]
        by_kind[(kind, new)].append(
            {
                "src": src,
                "dst": dst,
                "n": d.count,
                "fs": d.first_seen,
                "ls": d.last_seen,
                "conf": d.confidence,
            }
        )
    for (kind, new), rows in by_kind.items():
        if new:
            _observe_ends(ctx.endpoints, rows)
            await run_rows(tx, cypher.EDGE_CREATE[kind], rows)
        else:
            await merge_edges(tx, kind, rows, ctx)
    events: list[dict[str, Any]] = [
        {
            "id": ev.id,
            "kind": ev.kind,
            "at": ev.at,
            "ek": [k for k, _, _ in ev.edges],
            "es": [s for _, s, _ in ev.edges],
            "ed": [d for _, _, d in ev.edges],
            "props": {k: v for k, v in (("post_id", ev.post_id), ("deletes", ev.deletes)) if v is not None},
        }
        for ev in plan.events
    ]
    await run_rows(tx, cypher.EVENT_CREATE, events)
    if plan.delete_targets:
        await apply_deletes(tx, list(dict.fromkeys(plan.delete_targets)), ctx.endpoints)
    return Withheld(frozenset(erased), stripped)


async def apply_deletes(tx: neo4j.AsyncTransaction, targets: list[str], endpoints: EndpointFrequency) -> None:
    """Undo the edge contributions of the named events (or of the events that created the named
    posts), once each, then DETACH DELETE the named posts."""
    res = await tx.run(
        "UNWIND $ids AS id MATCH (p:Post {id: id}) RETURN p.id AS id, p.event_id AS ev", ids=targets
    )
    posts = [(r["id"], r["ev"]) async for r in res]
    undo = list(dict.fromkeys([*targets, *(ev for _, ev in posts if ev)]))
    res = await tx.run(
        "UNWIND $ids AS id MATCH (e:Event {id: id}) WHERE e.undone = false SET e.undone = true "
        "RETURN e.edge_kinds AS ek, e.edge_srcs AS es, e.edge_dsts AS ed",
        ids=undo,
    )
    dec: dict[tuple[str, str, str], int] = defaultdict(int)
    async for r in res:
        for kind, src, dst in zip(r["ek"] or [], r["es"] or [], r["ed"] or [], strict=True):
            if kind in EDGE_KINDS:
                dec[(kind, src, dst)] += 1
    by_kind: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for (kind, src, dst), n in dec.items():
        by_kind[kind].append({"src": src, "dst": dst, "n": n})
    for kind, kind_rows in by_kind.items():
        await run_from_sparser_end(tx, cypher.EDGE_DECREMENT[kind], kind_rows, endpoints)
    if posts:
        await tx.run("UNWIND $ids AS id MATCH (p:Post {id: id}) DETACH DELETE p", ids=[p for p, _ in posts])

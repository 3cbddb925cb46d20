"""The ranker's reads and writes in the graph: composite influence on accounts, and the person and
customer value of mention authors. Fixed Cypher, values as parameters only."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import neo4j

from graph.store import GraphStore
from graph.write_path import single
from scoring import influence
from scoring.composite import CompositeScore

#: newer scores only: a late write of an older composite changes nothing. Returns the accounts it
#: wrote: the ranking signals leave before the graph write (``streams.signals``), so a new account's
#: first score can reach the graph before its node does
SET_SCORES = (
    "UNWIND $rows AS r MATCH (a:Account {id: r.id}) "
    "WHERE a.influence_at IS NULL OR a.influence_at <= r.at SET a += r.props "
    "RETURN collect(a.id) AS written"
)
AUTHORS = (
    "UNWIND $ids AS id MATCH (a:Account {id: id}) OPTIONAL MATCH (a)-[:ACCOUNT_OF]->(p:Person) "
    "RETURN a.id AS account, a.influence_composite AS influence, p.id AS person, "
    "p.merged_into AS merged_into, p.customer_value AS value, a.erased AS erased"
)


def score_properties(score: CompositeScore, half_life_s: float) -> dict[str, Any]:
    """The node properties of a composite, plus ``influence_log``: the engagement received in the
    log space of ``scoring.influence`` (so ranking by it ranks by current engagement at any time)."""
    props = score.graph_properties()
    engagement = score.signals.engagement
    if engagement > 0.0 and math.isfinite(engagement):
        props["influence_log"] = (
            math.log(engagement) + math.log(2.0) * (score.at - influence.EPOCH) / half_life_s
        )
    return props


async def write_scores(
    store: GraphStore, scores: Sequence[CompositeScore], half_life_s: float
) -> list[CompositeScore]:
    """Store the composites on their Account nodes. -> the scores not written: no node of that
    account yet, or the node holds a newer score."""
    rows = [{"id": s.account_id, "at": s.at, "props": score_properties(s, half_life_s)} for s in scores]

    async def work(tx: neo4j.AsyncTransaction) -> set[str]:
        written: set[str] = set()
        for start in range(0, len(rows), 1000):
            rec = await single(tx, SET_SCORES, rows=rows[start : start + 1000])
            written.update(rec.get("written") or ())
        return written

    if not rows:
        return []
    written = await store.write(work)
    return [s for s in scores if s.account_id not in written]


@dataclass(frozen=True, slots=True)
class StoredAuthor:
    """A mention's author as the graph holds it now."""

    influence: float = 0.0  # composite influence (the ranker's)
    person_id: str | None = None  # identity's (a merged person: the one it was merged into)
    customer_value: float | None = None  # the person's, from the CRM import
    erased: bool = False  # the account was erased (identity.erasure): its mentions are not scored


async def authors_of(store: GraphStore, account_ids: Sequence[str]) -> dict[str, StoredAuthor]:
    """Each account's :class:`StoredAuthor`. Unknown accounts are left out."""
    if not account_ids:
        return {}
    rows = await store.read(AUTHORS, ids=list(dict.fromkeys(account_ids)))
    found: dict[str, StoredAuthor] = {}
    for r in rows:
        value, person, influence = r.get("value"), r.get("person"), r.get("influence")
        found[str(r["account"])] = StoredAuthor(
            float(influence) if influence is not None else 0.0,
            str(r.get("merged_into") or person) if person is not None else None,
            float(value) if value is not None else None,
            r.get("erased") is True,
        )
    return found


async def erased_among(store: GraphStore, account_ids: Sequence[str]) -> set[str]:
    """The accounts among these that were erased (their graph tombstones say so)."""
    return {a for a, author in (await authors_of(store, account_ids)).items() if author.erased}


#: relationship types between accounts that confer influence, and the activity kind of each
INFLUENCE_RELS = {
    "MENTIONED": "mention",
    "REPLIED_TO": "reply",
    "REPOSTED": "repost",
    "QUOTED": "quote",
    "LIKED": "like",
    "FOLLOWS": "follow",
}
EVENTS_PAGE = (
    "MATCH (e:Event) WHERE e.id > $after RETURN e.id AS id, e.at AS at, e.undone AS undone, "
    "e.edge_kinds AS kinds, e.edge_srcs AS srcs, e.edge_dsts AS dsts ORDER BY e.id LIMIT $limit"
)
FOLLOWERS = "MATCH (a:Account) WHERE a.followers IS NOT NULL RETURN a.id AS id, a.followers AS followers"


async def stored_event_edges(store: GraphStore, page: int = 5_000) -> list[tuple[str, str, str, str, float]]:
    """``(event id, src, dst, kind, at)`` of every account-to-account interaction the applied (and not
    undone) events contributed, from their ``Event`` markers: the same keys as the live signals, so
    a ranker seeded from here and then fed signals the graph already holds counts nothing twice.
    Where one event gave one pair two kinds (a reply that also mentions its target), the
    non-mention kind comes first (the live edge of that pair has the target's kind)."""
    rows: list[tuple[str, str, str, str, float]] = []
    after = ""
    while True:
        got = await store.read(EVENTS_PAGE, after=after, limit=page)
        if not got:
            return rows
        for r in got:
            kinds, srcs, dsts = r.get("kinds") or (), r.get("srcs") or (), r.get("dsts") or ()
            if r.get("undone") or r.get("at") is None:
                continue
            pairs = [
                (INFLUENCE_RELS[k], str(s), str(d))
                for k, s, d in zip(kinds, srcs, dsts, strict=False)
                if k in INFLUENCE_RELS
            ]
            pairs.sort(key=lambda p: p[0] == "mention")
            rows.extend((str(r["id"]), s, d, kind, float(r["at"])) for kind, s, d in pairs)
        after = str(got[-1]["id"])


async def stored_followers(store: GraphStore) -> list[tuple[str, int]]:
    return [(str(r["id"]), int(r["followers"])) for r in await store.read(FOLLOWERS)]

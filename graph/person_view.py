"""A person's 360 view: every account on every network, the CRM record, interactions with the
company, sentiment over time and scores with their breakdown.

Every lookup starts from an indexed id (``Person {id}`` / ``Account {id}``) and every expansion
is bounded (accounts per person, posts, in-edges counted for the breakdown), so the view costs the
same on a 1,000-node graph and a 1,000,000-node one, hubs included. Sentiment is VADER's compound
score of the person's recent posts, computed here (posts keep their text, not a score), averaged
per UTC day.
"""

from __future__ import annotations

import math
import time
from collections import defaultdict
from collections.abc import Sequence
from datetime import UTC, datetime
from functools import cache
from typing import Any

from vaderSentiment.vaderSentiment import SentimentIntensityAnalyzer

from graph.store import GraphStore
from scoring.influence import value_at

DEFAULT_HALF_LIFE_S = 7 * 24 * 3600.0
MAX_ACCOUNTS = 100
MAX_RECENT = 200
#: in-edges counted per account for the score breakdown (a hub's breakdown is then a sample)
BREAKDOWN_EDGES = 10_000
#: what one received interaction of a relationship type adds to influence (scoring.influence)
TYPE_WEIGHTS = {
    "MENTIONED": 1.0,
    "REPLIED_TO": 2.0,
    "QUOTED": 3.0,
    "REPOSTED": 2.0,
    "LIKED": 0.5,
    "FOLLOWS": 1.0,
}

PERSONS_OF_ACCOUNT = (
    "MATCH (a:Account {id: $id})-[l:ACCOUNT_OF]->(p:Person) RETURN p.id AS id, l.confidence AS confidence "
    "ORDER BY l.confidence DESC, p.id ASC LIMIT 10"
)
PERSON = "MATCH (p:Person {id: $id}) RETURN properties(p) AS props"
ACCOUNTS_OF_PERSON = (
    "MATCH (p:Person {id: $id})<-[l:ACCOUNT_OF]-(a:Account) "
    "RETURN properties(a) AS props, l.confidence AS confidence, l.first_seen AS linked_at LIMIT $cap"
)
ACCOUNT = "MATCH (a:Account {id: $id}) RETURN properties(a) AS props"
TO_COMPANY = (
    "UNWIND $ids AS id MATCH (a:Account {id: id})-[r:MENTIONED]->(c:Company {id: $company}) "
    "RETURN a.id AS account, type(r) AS type, 'out' AS direction, c.id AS other, r.count AS count, "
    "r.first_seen AS first_seen, r.last_seen AS last_seen"
)
WITH_COMPANY_ACCOUNTS = (
    "UNWIND $pairs AS pr MATCH (a:Account {id: pr[0]})-[r]-(c:Account {id: pr[1]}) "
    "RETURN a.id AS account, type(r) AS type, "
    "CASE WHEN startNode(r).id = a.id THEN 'out' ELSE 'in' END AS direction, c.id AS other, "
    "r.count AS count, r.first_seen AS first_seen, r.last_seen AS last_seen"
)
RECENT_POSTS = (
    "UNWIND $ids AS id MATCH (a:Account {id: id})-[:AUTHORED]->(p:Post) "
    "WHERE p.created_at IS NOT NULL "
    "RETURN a.id AS account, p.id AS id, p.text AS text, p.created_at AS created_at, p.network AS network "
    "ORDER BY p.created_at DESC LIMIT $n"
)
IN_EDGES_BY_TYPE = (
    "UNWIND $ids AS id MATCH (a:Account {id: id}) "
    "CALL { WITH a MATCH (a)<-[r]-(:Account) RETURN r LIMIT $cap } "
    "RETURN a.id AS account, type(r) AS type, sum(r.count) AS events, count(r) AS accounts"
)


@cache
def _analyzer() -> SentimentIntensityAnalyzer:
    return SentimentIntensityAnalyzer()


def sentiment(text: str | None) -> float | None:
    return float(_analyzer().polarity_scores(text)["compound"]) if text else None


def sentiment_by_day(posts: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Mean VADER compound per UTC day, oldest first (posts without text are left out)."""
    days: dict[str, list[float]] = defaultdict(list)
    for p in posts:
        s = p.get("sentiment")
        if s is None or p.get("created_at") is None:
            continue
        day = datetime.fromtimestamp(float(p["created_at"]), UTC).date().isoformat()
        days[day].append(float(s))
    return [
        {"day": d, "posts": len(v), "mean_sentiment": round(sum(v) / len(v), 4)}
        for d, v in sorted(days.items())
    ]


def score_breakdown(rows: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    """Received interactions by type: events, their weight in the influence score, and share
    (undecayed: the current value decays all of them alike)."""
    totals: dict[str, int] = defaultdict(int)
    for r in rows:
        if r["type"] in TYPE_WEIGHTS:
            totals[r["type"]] += int(r["events"] or 0)
    weighted = {t: n * TYPE_WEIGHTS[t] for t, n in totals.items()}
    whole = sum(weighted.values())
    return [
        {
            "type": t,
            "events": totals[t],
            "weight": TYPE_WEIGHTS[t],
            "weighted": weighted[t],
            "share": round(weighted[t] / whole, 4) if whole else 0.0,
        }
        for t in sorted(totals, key=lambda t: (-weighted[t], t))
    ]


def _influence(log_score: Any, now: float, half_life_s: float) -> float:
    if log_score is None:
        return 0.0
    v = value_at(float(log_score), now, half_life_s)
    return v if math.isfinite(v) else 0.0


async def person_360(
    store: GraphStore,
    person_or_account_id: str,
    *,
    recent: int = 50,
    company_id: str = "acme",
    company_accounts: Sequence[str] = (),
    now: float | None = None,
    half_life_s: float = DEFAULT_HALF_LIFE_S,
) -> dict[str, Any] | None:
    """The person behind an id (a person id, or an account id: its person, the most confident
    link first), or None when no such node exists. An account not yet linked to a person gives a
    view of that account alone (``person_id`` None)."""
    if not isinstance(person_or_account_id, str) or not 0 < len(person_or_account_id) <= 2_000:
        return None
    now = time.time() if now is None else now
    recent = max(1, min(int(recent), MAX_RECENT))
    qid = person_or_account_id
    person_id: str | None = None
    person_props: dict[str, Any] = {}
    accounts: list[dict[str, Any]] = []
    rows = await store.read(PERSON, id=qid)
    if rows:
        person_id, person_props = qid, dict(rows[0]["props"] or {})
    else:
        own = await store.read(ACCOUNT, id=qid)
        if not own:
            return None
        linked = await store.read(PERSONS_OF_ACCOUNT, id=qid)
        if linked:
            person_id = linked[0]["id"]
            rows = await store.read(PERSON, id=person_id)
            person_props = dict(rows[0]["props"] or {}) if rows else {}
        else:
            accounts = [{"props": dict(own[0]["props"] or {}), "confidence": None, "linked_at": None}]
    if person_id is not None:
        accounts = await store.read(ACCOUNTS_OF_PERSON, id=person_id, cap=MAX_ACCOUNTS)
    social: list[dict[str, Any]] = []
    crm: list[dict[str, Any]] = []
    for row in accounts:
        props = dict(row["props"] or {})
        entry = {
            "id": props.get("id"),
            "network": props.get("network"),
            "handle": props.get("handle"),
            "display_name": props.get("display_name"),
            "link_confidence": row["confidence"],
            "influence": _influence(props.get("influence_log"), now, half_life_s),
            "props": props,
        }
        (
            crm if props.get("network") == "crm" or str(props.get("id", "")).startswith("crm:") else social
        ).append(entry)
    social.sort(key=lambda a: (-a["influence"], str(a["id"])))
    ids = [a["id"] for a in social]
    interactions: list[dict[str, Any]] = []
    posts: list[dict[str, Any]] = []
    breakdown_rows: list[dict[str, Any]] = []
    if ids:
        interactions += await store.read(TO_COMPANY, ids=ids, company=company_id)
        pairs = [[a, c] for a in ids for c in company_accounts if a != c][:1_000]
        if pairs:
            interactions += await store.read(WITH_COMPANY_ACCOUNTS, pairs=pairs)
        posts = await store.read(RECENT_POSTS, ids=ids, n=recent)
        breakdown_rows = await store.read(IN_EDGES_BY_TYPE, ids=ids, cap=BREAKDOWN_EDGES)
    interactions.sort(key=lambda r: (-(r["last_seen"] or 0.0), r["account"], r["type"], r["other"]))
    for p in posts:
        p["sentiment"] = sentiment(p.get("text"))
    per_account: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for r in breakdown_rows:
        per_account[r["account"]].append(r)
    for a in social:
        a["breakdown"] = score_breakdown(per_account.get(a["id"], []))
        a["breakdown_sampled"] = sum(int(r["accounts"] or 0) for r in per_account.get(a["id"], [])) >= (
            BREAKDOWN_EDGES
        )
    customer = crm[0]["props"] if crm else None
    return {
        "query_id": qid,
        "person_id": person_id,
        "person": person_props,
        "is_customer": customer is not None,
        "customer": customer,
        "customer_records": [c["props"] for c in crm],
        "accounts": social,
        "networks": sorted({str(a["network"]) for a in social if a["network"]}),
        "interactions_with_company": interactions,
        "recent_posts": posts,
        "sentiment_over_time": sentiment_by_day(posts),
        "scores": {
            "influence": sum(a["influence"] for a in social),
            "as_of": now,
            "half_life_s": half_life_s,
            "by_account": [{"id": a["id"], "influence": a["influence"]} for a in social],
            "breakdown": score_breakdown(breakdown_rows),
        },
    }

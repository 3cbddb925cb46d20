"""Graph query endpoints for marketers (thin: validate, call ``graph.queries``, shape errors).

Request values reach the store only as Cypher parameters (``graph.queries`` builds every
statement from fixed whitelists); a bad value is a 422 with the reason, an unknown id a 404.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends, HTTPException, Query
from pydantic import BaseModel, Field

from graph import queries
from graph.query_guard import ReadOnlyViolation
from graph.readonly import MAX_ROW_LIMIT, QueryFailed, QueryTimeout
from graph.store import GraphStore
from groundswell.settings import Settings
from scoring.influence import value_at

Id = Query(min_length=1, max_length=2000, description="a node id: account, person or the company")


class CypherRequest(BaseModel):
    query: str = Field(min_length=1, max_length=10_000)
    params: dict[str, Any] = Field(default_factory=dict)
    row_limit: int | None = Field(default=None, ge=1, le=MAX_ROW_LIMIT)


def composite_view(props: dict[str, Any]) -> dict[str, Any] | None:
    """The ranker's composite influence as stored on an account (scoring.composite), with its
    breakdown (each signal's contribution, summing to the value); None before the first score."""
    value = props.get("influence_composite")
    if value is None:
        return None
    try:
        breakdown = json.loads(props.get("influence_breakdown") or "{}")
    except ValueError:
        breakdown = {}
    return {
        "value": value,
        "breakdown": breakdown,
        "pagerank": props.get("influence_pagerank"),
        "pagerank_ratio": props.get("influence_pagerank_ratio"),
        "kcore": props.get("influence_kcore"),
        "engagement": props.get("influence_engagement"),
        "followers": props.get("followers"),
        "at": props.get("influence_at"),
    }


def create_graph_router(
    settings: Settings, graph: Callable[[], GraphStore], guard: Callable[..., Any]
) -> APIRouter:
    router = APIRouter(tags=["marketers"], dependencies=[Depends(guard("marketer"))])
    half_life_s = settings.influence_half_life_hours * 3600.0

    def bad(exc: Exception) -> HTTPException:
        return HTTPException(status_code=422, detail=str(exc))

    @router.get("/influencers")
    async def influencers(
        limit: int = Query(20, ge=1, le=queries.MAX_LIMIT),
        network: str | None = Query(None, pattern="^[a-z]+$", max_length=20),
        hashtag: str | None = Query(None, min_length=1, max_length=101),
        topic: str | None = Query(None, min_length=1, max_length=100),
        customers_only: bool = False,
        within_hops: int | None = Query(None, ge=1, le=queries.MAX_DEPTH),
    ) -> dict[str, Any]:
        """Accounts by current influence (time-decayed weighted in-degree), highest first;
        optionally only those that posted a hashtag or a topic word, customers, or accounts
        within N hops of the company."""
        try:
            return await queries.top_influencers(
                graph(),
                limit=limit,
                hashtag=hashtag,
                topic=topic,
                customers_only=customers_only,
                within_hops_of_company=within_hops,
                network=network,
                half_life_s=half_life_s,
                company_id=settings.company_id,
                company_accounts=settings.company_accounts,
            )
        except queries.QueryError as exc:
            raise bad(exc) from exc

    @router.get("/accounts/{account_id:path}")
    async def account(account_id: str, recent: int = Query(20, ge=1, le=200)) -> dict[str, Any]:
        """One account: profile, person, scores and recent interactions in and out."""
        if len(account_id) > 2000:
            raise HTTPException(status_code=404, detail="no such account")
        view = await graph().account_view(account_id, recent)
        if view is None:
            raise HTTPException(status_code=404, detail=f"no account {account_id[:200]!r}")
        log_score = view.get("influence_log")
        now = time.time()
        view["influence"] = value_at(float(log_score), now, half_life_s) if log_score is not None else 0.0
        view["composite"] = composite_view(view["props"])
        return view

    @router.get("/persons/{person_id:path}")
    async def person(person_id: str, recent: int = Query(50, ge=1, le=200)) -> dict[str, Any]:
        """A person's 360 view (a person id, or any of their account ids): every account, the CRM
        record, interactions with the company, sentiment over time, scores with their breakdown."""
        view = await queries.person_360(
            graph(),
            person_id,
            recent=recent,
            half_life_s=half_life_s,
            company_id=settings.company_id,
            company_accounts=settings.company_accounts,
        )
        if view is None:
            raise HTTPException(status_code=404, detail=f"no person or account {person_id[:200]!r}")
        return view

    @router.get("/graph/ego")
    async def ego(
        id: str = Id,
        depth: int = Query(2, ge=1, le=queries.MAX_DEPTH),
        cap: int = Query(settings.ego_default_cap, ge=1, le=queries.MAX_CAP),
    ) -> dict[str, Any]:
        """The ego network of a node: nodes (kind, influence, ring) and edges, capped."""
        result = await queries.ego_network(
            graph(),
            id,
            depth,
            cap,
            half_life_s=half_life_s,
            influencer_min=settings.influencer_min_engagement,
        )
        if result["center"] is None:
            raise HTTPException(status_code=404, detail=f"no node {id[:200]!r}")
        return result

    @router.get("/graph/path")
    async def path(
        source: str = Query(alias="from", min_length=1, max_length=2000),
        target: str | None = Query(None, alias="to", min_length=1, max_length=2000),
        max_hops: int = Query(queries.MAX_PATH_HOPS, ge=1, le=queries.MAX_PATH_HOPS),
    ) -> dict[str, Any]:
        """Shortest paths between a node and another (default: the company)."""
        result = await queries.shortest_path(graph(), source, target or settings.company_id, max_hops)
        if result["missing"]:
            raise HTTPException(status_code=404, detail={"missing": [m[:200] for m in result["missing"]]})
        return result

    @router.get("/graph/communities")
    async def communities(
        around: str | None = Query(None, min_length=1, max_length=2000),
        depth: int = Query(2, ge=1, le=queries.MAX_DEPTH),
        cap: int = Query(500, ge=2, le=queries.MAX_CAP),
    ) -> dict[str, Any]:
        """Louvain communities of the bounded neighbourhood of a node (default: the company)."""
        return await queries.communities(
            graph(), around, depth=depth, cap=cap, company_id=settings.company_id, half_life_s=half_life_s
        )

    @router.get("/graph/search")
    async def search(
        q: str = Query(min_length=1, max_length=300), limit: int = Query(20, ge=1, le=100)
    ) -> dict[str, Any]:
        """A person or an account by exact id, or accounts whose handle or display name holds ``q``
        (any case): the names that start with it first, then by influence."""
        try:
            return {"results": await queries.search_nodes(graph(), q, limit=limit, half_life_s=half_life_s)}
        except queries.QueryError as exc:
            raise bad(exc) from exc

    @router.post("/graph/cypher")
    async def cypher(body: Annotated[CypherRequest, Body()]) -> dict[str, Any]:
        """Read-only Cypher for power users: write clauses and procedures are refused, the query
        runs in a READ transaction that is rolled back, with a deadline and a row cap."""
        row_limit = min(body.row_limit or settings.cypher_row_limit, settings.cypher_row_limit)
        try:
            return await queries.readonly_cypher(
                graph(), body.query, body.params, settings.cypher_timeout_s, row_limit
            )
        except (ReadOnlyViolation, queries.QueryError) as exc:
            raise bad(exc) from exc
        except QueryFailed as exc:
            raise HTTPException(status_code=400, detail=f"the graph store refused the query: {exc}") from exc
        except QueryTimeout as exc:
            raise HTTPException(status_code=408, detail=str(exc)) from exc

    return router

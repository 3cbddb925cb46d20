"""Alert subscriptions (webhooks) and the live alert stream (server-sent events).

Mounted by api/app.py with ``guard=require_role``; every route needs the ``crm`` role.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, HTTPException, Query, Response
from fastapi.responses import StreamingResponse
from pydantic import BaseModel, Field

from alerts.metrics import AlertMetrics
from alerts.sse import AlertHub
from alerts.ssrf import AddressPolicy, ForbiddenAddress, check_url
from alerts.subscriptions import AlertFilter, SubscriptionStore

MAX_FILTER_ITEMS = 50
ANY_OF = "any of these; empty: all"
SSE_DOC = {200: {"content": {"text/event-stream": {}}, "description": "alerts as server-sent events"}}


class SubscriptionIn(BaseModel):
    url: str = Field(..., min_length=8, max_length=2048, description="https:// endpoint receiving alerts")
    rules: list[str] = Field(
        default_factory=list, max_length=MAX_FILTER_ITEMS, description="any of; empty: all"
    )
    topics: list[str] = Field(
        default_factory=list, max_length=MAX_FILTER_ITEMS, description="any of; empty: all"
    )
    min_priority: float | None = Field(None, ge=0.0, le=1.0, description="post alerts below are not sent")
    description: str = Field("", max_length=500)


class SubscriptionPatch(BaseModel):
    active: bool | None = None
    rules: list[str] | None = Field(None, max_length=MAX_FILTER_ITEMS)
    topics: list[str] | None = Field(None, max_length=MAX_FILTER_ITEMS)
    min_priority: float | None = Field(None, ge=0.0, le=1.0)
    description: str | None = Field(None, max_length=500)


class SubscriptionOut(BaseModel):
    id: str
    url: str
    rules: list[str]
    topics: list[str]
    min_priority: float | None
    active: bool
    description: str
    created_at: float


class SubscriptionCreated(SubscriptionOut):
    secret: str = Field(..., description="HMAC signing secret: shown once, store it now")


def create_alerts_router(
    hub: AlertHub,
    subscriptions: SubscriptionStore,
    guard: Callable[..., Any],
    *,
    policy: AddressPolicy | None = None,
    metrics: AlertMetrics | None = None,
    heartbeat_s: float = 15.0,
) -> APIRouter:
    policy = policy or AddressPolicy()
    router = APIRouter(tags=["alerts"])
    crm = [Depends(guard("crm"))]

    def found(sub_id: str) -> dict[str, Any]:
        sub = subscriptions.get(sub_id)
        if sub is None:
            raise HTTPException(status_code=404, detail=f"no subscription {sub_id!r}")
        return sub.public_dict()

    @router.post("/subscriptions", status_code=201, response_model=SubscriptionCreated, dependencies=crm)
    async def create_subscription(body: SubscriptionIn) -> dict[str, Any]:
        """Register a webhook. The URL must resolve to public addresses (SSRF guard). The response
        carries the signing secret once; requests are signed as described in docs/alerts.md."""
        try:
            target = await check_url(body.url, policy)
        except ForbiddenAddress as e:
            if metrics is not None:
                metrics.ssrf_refusals.labels("subscribe").inc()
            raise HTTPException(status_code=422, detail=f"webhook URL refused: {e}") from e
        sub = await asyncio.to_thread(
            subscriptions.create, target.url, body.rules, body.topics, body.min_priority, body.description
        )
        return {**sub.public_dict(), "secret": sub.secret}

    @router.get("/subscriptions", response_model=list[SubscriptionOut], dependencies=crm)
    async def list_subscriptions() -> list[dict[str, Any]]:
        return [s.public_dict() for s in await asyncio.to_thread(subscriptions.all)]

    @router.get("/subscriptions/{sub_id}", response_model=SubscriptionOut, dependencies=crm)
    async def get_subscription(sub_id: str) -> dict[str, Any]:
        return await asyncio.to_thread(found, sub_id)

    @router.patch("/subscriptions/{sub_id}", response_model=SubscriptionOut, dependencies=crm)
    async def update_subscription(sub_id: str, body: SubscriptionPatch) -> dict[str, Any]:
        """Pause/resume (``active``) or change the filters; ``min_priority: null`` clears it."""
        sub = await asyncio.to_thread(
            subscriptions.update,
            sub_id,
            active=body.active,
            rules=body.rules,
            topics=body.topics,
            min_priority=body.min_priority,
            clear_min_priority="min_priority" in body.model_fields_set and body.min_priority is None,
            description=body.description,
        )
        if sub is None:
            raise HTTPException(status_code=404, detail=f"no subscription {sub_id!r}")
        return sub.public_dict()

    @router.post(
        "/subscriptions/{sub_id}/rotate-secret", response_model=SubscriptionCreated, dependencies=crm
    )
    async def rotate_secret(sub_id: str) -> dict[str, Any]:
        """A new signing secret (shown once); the old one stops signing immediately."""
        sub = await asyncio.to_thread(subscriptions.rotate_secret, sub_id)
        if sub is None:
            raise HTTPException(status_code=404, detail=f"no subscription {sub_id!r}")
        return {**sub.public_dict(), "secret": sub.secret}

    @router.delete("/subscriptions/{sub_id}", status_code=204, dependencies=crm)
    async def delete_subscription(sub_id: str) -> Response:
        if not await asyncio.to_thread(subscriptions.delete, sub_id):
            raise HTTPException(status_code=404, detail=f"no subscription {sub_id!r}")
        return Response(status_code=204)

    @router.get(
        "/alerts/stream",
        dependencies=crm,
        response_class=StreamingResponse,
        responses={
            200: {"content": {"text/event-stream": {}}, "description": "alerts as server-sent events"}
        },
    )
    async def alert_stream(
        rule: Annotated[list[str] | None, Query(description="any of these rules")] = None,
        topic: Annotated[list[str] | None, Query(description="any of these topics")] = None,
        min_priority: float | None = Query(None, ge=0.0, le=1.0),
        last_event_id: str | None = Header(None, alias="Last-Event-ID", max_length=100),
    ) -> StreamingResponse:
        """Live alerts (``event: alert``, data = the alert JSON, ``id`` for ``Last-Event-ID`` resume),
        heartbeat comments, ``event: reset`` when a resume point is unknown, ``event: dropped``
        when this client fell too far behind."""
        flt = AlertFilter(tuple(rule or ()), tuple(t.lower() for t in topic or ()), min_priority)
        client, preamble = hub.connect(flt, last_event_id)
        return StreamingResponse(
            hub.stream(client, preamble, heartbeat_s),
            media_type="text/event-stream",
            headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
        )

    return router

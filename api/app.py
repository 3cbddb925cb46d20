"""FastAPI application: thin handlers over the graph store."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from typing import Any

from fastapi import FastAPI, HTTPException, Query, Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

from graph.store import GraphStore
from groundswell import __version__
from groundswell.metrics import LATENCY_BUCKETS, Metrics
from groundswell.settings import Settings
from scoring.influence import value_at
from streams.broker import broker_reachable


def create_api(
    settings: Settings, metrics: Metrics | None = None, store: GraphStore | None = None
) -> FastAPI:
    metrics = metrics or Metrics.create()
    requests = Counter(
        "groundswell_api_requests_total", "API requests", ["route", "status"], registry=metrics.registry
    )
    latency = Histogram(
        "groundswell_api_request_seconds",
        "API request latency",
        ["route"],
        buckets=LATENCY_BUCKETS,
        registry=metrics.registry,
    )
    half_life_s = settings.influence_half_life_hours * 3600.0
    state: dict[str, GraphStore] = {}

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        state["store"] = store or await GraphStore.connect(settings, metrics)
        try:
            yield
        finally:
            if store is None:
                await state["store"].close()

    app = FastAPI(
        title="Groundswell",
        version=__version__,
        description="Real-time social CRM: influence graph queries, health and metrics.",
        lifespan=lifespan,
    )

    @app.middleware("http")
    async def observe(request: Request, call_next: Callable[[Request], Awaitable[Response]]) -> Response:
        started = time.perf_counter()
        response = await call_next(request)
        route = request.scope.get("route")
        name = getattr(route, "path", "unmatched")
        latency.labels(name).observe(time.perf_counter() - started)
        requests.labels(name, str(response.status_code)).inc()
        return response

    def graph() -> GraphStore:
        return state["store"]

    @app.get("/healthz", tags=["ops"])
    async def healthz() -> dict[str, str]:
        """The process is up."""
        return {"status": "ok"}

    @app.get("/readyz", tags=["ops"])
    async def readyz() -> JSONResponse:
        """Ready when the graph store answers (and the embedded broker, when used, is reachable)."""
        checks: dict[str, Any] = {}
        try:
            await graph().ping()
            checks["graph"] = "ok"
        except Exception as e:
            checks["graph"] = f"error: {e.__class__.__name__}"
        if settings.embedded_broker:
            path = settings.broker_address_file
            address = path.read_text().strip() if path.exists() else ""
            checks["broker"] = "ok" if address and broker_reachable(address) else "unreachable"
        ok = all(v == "ok" for v in checks.values())
        return JSONResponse({"ready": ok, "checks": checks}, status_code=200 if ok else 503)

    @app.get("/metrics", tags=["ops"])
    async def prometheus_metrics() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    @app.get("/influencers", tags=["marketers"])
    async def influencers(
        limit: int = Query(20, ge=1, le=500), network: str | None = Query(None, pattern="^[a-z]+$")
    ) -> dict[str, Any]:
        """Accounts by current influence (time-decayed weighted in-degree), highest first."""
        now = time.time()
        rows = await graph().top_influencers(limit, network)
        for r in rows:
            log_score = r.get("influence_log")
            r["influence"] = value_at(float(log_score), now, half_life_s) if log_score is not None else 0.0
        return {"as_of": now, "influencers": rows}

    @app.get("/accounts/{account_id:path}", tags=["marketers"])
    async def account(account_id: str, recent: int = Query(20, ge=1, le=200)) -> dict[str, Any]:
        """One account: profile, person, scores and recent interactions in and out."""
        view = await graph().account_view(account_id, recent)
        if view is None:
            raise HTTPException(status_code=404, detail=f"no account {account_id!r}")
        log_score = view.get("influence_log")
        view["influence"] = (
            value_at(float(log_score), time.time(), half_life_s) if log_score is not None else 0.0
        )
        return view

    return app


def run_api(settings: Settings) -> None:
    import uvicorn

    uvicorn.run(create_api(settings), host=settings.api_host, port=settings.api_port, log_level="info")

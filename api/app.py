"""FastAPI application: thin handlers over the graph store, behind API keys with roles.

Health (``/healthz``, ``/readyz``) is open; ``/metrics`` needs an ``ops`` key; the graph queries a
``marketer`` key; key management an ``admin`` key (``api.auth``). The graph page (``/ui/``) is
static files only (no data): the page asks for a key and sends it with each query.
"""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Awaitable, Callable
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request, Response
from fastapi.responses import FileResponse, JSONResponse, RedirectResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, Counter, Histogram, generate_latest

from alerts.service import AlertServices
from api.alerts_routes import create_alerts_router
from api.auth import KeyStore, Role, bootstrap, create_auth_router, require_role
from api.graph_routes import create_graph_router
from api.identity_routes import create_identity_router
from embedding.encoder import set_model_precision
from graph.scores import erased_among
from graph.store import GraphStore
from groundswell import __version__
from groundswell.heap import freeze_long_lived, freeze_long_lived_heaps, watch_collections
from groundswell.metrics import LATENCY_BUCKETS, Metrics
from groundswell.settings import Settings
from groundswell.stalls import dump_stacks_on_signal
from identity.service import IdentityService
from streams.broker import broker_reachable, resolve_bootstrap
from streams.identity_sender import CommandSender

WEB_DIR = Path(__file__).resolve().parent / "web"
#: the graph drawing library, installed from the npm registry into web/node_modules (Makefile)
NODE_MODULES = Path(__file__).resolve().parents[1] / "web" / "node_modules"
CYTOSCAPE_JS = NODE_MODULES / "cytoscape" / "dist" / "cytoscape.min.js"


def create_api(
    settings: Settings,
    metrics: Metrics | None = None,
    store: GraphStore | None = None,
    keys: KeyStore | None = None,
) -> FastAPI:
    set_model_precision(settings.embedding_precision)
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
    state: dict[str, GraphStore] = {}
    api_keys = keys or KeyStore.for_settings(settings)
    alerts = AlertServices.build(settings, metrics.registry)  # subscriptions, SSE hub, webhook sender
    identity: dict[str, IdentityService] = {}
    identity_sender = CommandSender(lambda: resolve_bootstrap(settings))  # broker looked up on first use

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        bootstrap(settings, api_keys)
        state["store"] = store or await GraphStore.connect(settings, metrics)
        identity["service"] = IdentityService(
            state["store"],
            submit=identity_sender.submit,
            audit=identity_sender.publish,
            forward_erasure=identity_sender.forward_erasure,
        )
        if settings.alerts_dispatcher:
            # crm.alerts -> webhooks + SSE, in the background; alerts made before this start are
            # checked against the graph's erased accounts
            alerts.start_when_broker_ready(erased_lookup=lambda ids: erased_among(state["store"], ids))
        freeze_long_lived("the API's start", metrics)  # acts only where run_api enabled it
        try:
            yield
        finally:
            await alerts.stop()
            if store is None:
                await state["store"].close()

    app = FastAPI(
        title="Groundswell",
        version=__version__,
        description="Real-time social CRM: influence graph queries, health and metrics.",
        lifespan=lifespan,
    )
    app.state.api_keys = api_keys

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

    @app.get("/metrics", tags=["ops"], dependencies=[Depends(require_role(Role.OPS))])
    async def prometheus_metrics() -> Response:
        return Response(generate_latest(metrics.registry), media_type=CONTENT_TYPE_LATEST)

    app.include_router(create_auth_router())
    # before the graph routes: their GET /persons/{id:path} would take /persons/{id}/accounts
    app.include_router(create_identity_router(lambda: identity["service"], require_role))
    app.include_router(create_graph_router(settings, graph, require_role))
    app.include_router(
        create_alerts_router(
            alerts.hub,
            alerts.store,
            require_role,
            policy=alerts.policy,
            metrics=alerts.metrics,
            heartbeat_s=settings.sse_heartbeat_s,
        )
    )

    # -- the graph page: static files (no data; every query it makes carries the user's key) -----
    @app.get("/ui", include_in_schema=False)
    async def ui_root() -> RedirectResponse:
        return RedirectResponse("/ui/")

    @app.get("/ui/vendor/cytoscape.min.js", include_in_schema=False)
    async def cytoscape_js() -> Response:
        if not CYTOSCAPE_JS.is_file():
            raise HTTPException(
                status_code=503, detail="cytoscape is not installed: run `make` (npm ci in web/)"
            )
        return FileResponse(CYTOSCAPE_JS, media_type="text/javascript")

    app.mount("/ui", StaticFiles(directory=WEB_DIR, html=True), name="ui")

    return app


def run_api(settings: Settings) -> None:
    import uvicorn

    metrics = Metrics.create()
    watch_collections(metrics)
    freeze_long_lived_heaps(settings.gc_freeze)  # a long-running process (groundswell.heap)
    dump_stacks_on_signal()  # kill -s RTMIN+1: every thread's stack to the log (groundswell.stalls)
    uvicorn.run(
        create_api(settings, metrics), host=settings.api_host, port=settings.api_port, log_level="info"
    )

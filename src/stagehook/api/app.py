"""The REST API's application factory: routers, error mapping, health and metrics.

The web UI is not installed here: ``server.py`` composes the API, the UI and the
background services into the one app ``stagehook serve`` runs.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

from stagehook import __version__
from stagehook.api import errors
from stagehook.api.public import HealthPublic
from stagehook.api.routes import (
    datasets,
    deliveries,
    export,
    media,
    members,
    meta,
    ontologies,
    projects,
    tasks,
    users,
    webhooks,
    workflow_templates,
    workflows,
)
from stagehook.delivery.metrics import OutboxCollector
from stagehook.store.context import Store

Service = Callable[[Store], AbstractAsyncContextManager[None]]
#: Matched in this order, route by route: the hot path (tasks: submit, label rows) first.
#: No two routers share a path, so the order changes only how soon a request matches.
ROUTERS = (
    tasks,
    datasets,
    media,
    ontologies,
    export,
    workflow_templates,
    projects,
    workflows,
    webhooks,
    deliveries,
    members,
    users,
    meta,
)


def create_app(store: Store, services: list[Service] | None = None) -> FastAPI:
    """``services`` run for the app's lifetime (the embedded dispatcher, for one)."""

    @asynccontextmanager
    async def lifespan(_: FastAPI) -> AsyncIterator[None]:
        async with AsyncExitStack() as stack:
            for service in services or []:
                await stack.enter_async_context(service(store))
            yield

    app = FastAPI(
        title="stagehook",
        version=__version__,
        description="Annotation workflow server whose stages fire durable, signed webhooks.",
        lifespan=lifespan,
        # Served by stagehook.web.api_docs from packaged assets, not from a CDN.
        docs_url=None,
        redoc_url=None,
    )
    app.state.store = store
    errors.install(app)
    for module in ROUTERS:
        app.include_router(module.router, prefix="/api/v1")
    # In front of everything: the hot path's twin of a declared route (api/direct.py)
    app.router.routes[:0] = tasks.DIRECT_ROUTES

    @app.get("/healthz", tags=["meta"], response_model=HealthPublic)
    def healthz() -> dict[str, str]:
        with store.db.read() as conn:
            conn.exec_driver_sql("SELECT 1")
        return {"status": "ok"}

    registry = CollectorRegistry()
    registry.register(OutboxCollector(store))

    @app.get(
        "/metrics",
        tags=["meta"],
        response_class=PlainTextResponse,
        responses={200: {"content": {CONTENT_TYPE_LATEST: {"schema": {"type": "string"}}}}},
    )
    def metrics() -> PlainTextResponse:
        """Prometheus: this process's counters plus the shared outbox's depth."""
        body = generate_latest(REGISTRY) + generate_latest(registry)
        return PlainTextResponse(body.decode(), media_type=CONTENT_TYPE_LATEST)

    return app

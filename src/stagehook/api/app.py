"""The application factory: API, UI and background services in one ASGI app."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager

from fastapi import FastAPI
from fastapi.responses import PlainTextResponse
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest

from stagehook import __version__
from stagehook.api import errors
from stagehook.api.routes import (
    admin,
    datasets,
    deliveries,
    media,
    meta,
    ontologies,
    projects,
    tasks,
    templates,
)
from stagehook.delivery.metrics import QueueCollector
from stagehook.store.context import Store
from stagehook.web import install as install_web

Service = Callable[[Store], AbstractAsyncContextManager[None]]


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
    )
    app.state.store = store
    errors.install(app)
    for module in (
        datasets,
        media,
        templates,
        projects,
        tasks,
        deliveries,
        admin,
        meta,
        ontologies,
    ):
        app.include_router(module.router, prefix="/api/v1")

    @app.get("/healthz", tags=["meta"])
    def healthz() -> dict[str, str]:
        with store.db.read() as conn:
            conn.exec_driver_sql("SELECT 1")
        return {"status": "ok"}

    registry = CollectorRegistry()
    registry.register(QueueCollector(store))

    @app.get("/metrics", tags=["meta"], response_class=PlainTextResponse)
    def metrics() -> PlainTextResponse:
        """Prometheus: this process's counters plus the shared queue's depth."""
        body = generate_latest(REGISTRY) + generate_latest(registry)
        return PlainTextResponse(body.decode(), media_type=CONTENT_TYPE_LATEST)

    install_web(app, store.settings)
    app.add_middleware(errors.BodyLimit)
    return app

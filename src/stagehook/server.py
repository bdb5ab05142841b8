"""Wiring for ``serve``: store, bootstrap key, the API, the web UI and the dispatcher.

The one place the app is composed, so the UI stays a leaf nothing below imports.
"""

from __future__ import annotations

from fastapi import FastAPI

from stagehook.api.app import Service, create_app
from stagehook.api.errors import BodyLimit
from stagehook.api.json_body import JsonBodyGuard
from stagehook.api.methods import HeadAsGet
from stagehook.clock import Clock
from stagehook.config import Settings
from stagehook.delivery.own_thread import dispatcher_thread
from stagehook.runtime import bootstrap, open_store
from stagehook.web import install_ui


def build_server_app(
    settings: Settings, *, embedded_dispatcher: bool, clock: Clock | None = None
) -> FastAPI:
    store = open_store(settings, clock)
    bootstrap(store)
    services: list[Service] = [dispatcher_thread] if embedded_dispatcher else []
    app = create_app(store, services)
    install_ui(app, settings)
    # One set of input rules for every JSON body (API and UI alike), before any route.
    app.add_middleware(JsonBodyGuard)
    app.add_middleware(HeadAsGet)
    # Added last, so it runs first: an oversized body never reaches a session or a route.
    app.add_middleware(BodyLimit)
    return app


# ``serve --workers N``: each API process builds its app from the environment.
def app_with_dispatcher() -> FastAPI:
    return build_server_app(Settings(), embedded_dispatcher=True)


def app_without_dispatcher() -> FastAPI:
    return build_server_app(Settings(), embedded_dispatcher=False)

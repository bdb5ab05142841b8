"""Wiring for ``serve``: store, bootstrap key, API, UI and the embedded dispatcher."""

from __future__ import annotations

from fastapi import FastAPI

from stagehook.api.app import Service, create_app
from stagehook.clock import Clock
from stagehook.config import Settings
from stagehook.delivery.dispatcher import embedded
from stagehook.runtime import bootstrap, open_store


def build_server_app(
    settings: Settings, *, embedded_dispatcher: bool, clock: Clock | None = None
) -> FastAPI:
    store = open_store(settings, clock)
    bootstrap(store)
    services: list[Service] = [embedded] if embedded_dispatcher else []
    return create_app(store, services)


# ``serve --workers N``: each API process builds its app from the environment.
def app_with_dispatcher() -> FastAPI:
    return build_server_app(Settings(), embedded_dispatcher=True)


def app_without_dispatcher() -> FastAPI:
    return build_server_app(Settings(), embedded_dispatcher=False)

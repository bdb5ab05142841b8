from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest

from stagehook.clock import Clock
from stagehook.config import Settings
from stagehook.store.context import Store
from stagehook.store.db import Database
from stagehook.store.migrate import migrate
from tests.support.api import ADMIN_KEY, Api
from tests.support.backends import BACKENDS, database_url
from tests.support.server import serve_app


@pytest.fixture(params=BACKENDS)
def backend(request: pytest.FixtureRequest) -> str:
    if request.param == "postgresql" and not os.environ.get("STAGEHOOK_TEST_PG_READY"):
        pytest.skip("PostgreSQL is not reachable (it is required, and checked, in CI)")
    return str(request.param)


@pytest.fixture
def db_url(backend: str, tmp_path: Path) -> Iterator[str]:
    with database_url(backend, tmp_path) as url:
        yield url


@pytest.fixture
def settings(db_url: str, tmp_path: Path, request: pytest.FixtureRequest) -> Settings:
    """Test settings; ``@pytest.mark.settings(name=value)`` overrides any of them."""
    values: dict[str, object] = {
        "data_dir": tmp_path,
        "database_url": db_url,
        "bootstrap_api_key": ADMIN_KEY,
        "allowed_target_networks": ["127.0.0.0/8"],
        "retry_schedule": [0, 0.2, 0.4],
        "retry_jitter": 0.0,
    }
    marker = request.node.get_closest_marker("settings")
    if marker is not None:
        values.update(marker.kwargs)
    return Settings(**values)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def server(settings: Settings, clock: Clock) -> Iterator[tuple[str, Store]]:
    from stagehook.server import build_server_app

    app = build_server_app(settings, embedded_dispatcher=True, clock=clock)
    with serve_app(app) as base_url:
        yield base_url, app.state.store
    app.state.store.db.dispose()


@pytest.fixture
def undispatched(settings: Settings, clock: Clock) -> Iterator[tuple[Api, Store]]:
    """A server without its embedded dispatcher: for a test that runs its own, or that
    needs the database's connections to be the API's alone."""
    from stagehook.server import build_server_app

    app = build_server_app(settings, embedded_dispatcher=False, clock=clock)
    with serve_app(app) as url, Api(url, ADMIN_KEY) as client:
        yield client, app.state.store
    app.state.store.db.dispose()


@pytest.fixture
def api(server: tuple[str, Store]) -> Iterator[Api]:
    with Api(server[0], ADMIN_KEY) as client:
        yield client


@pytest.fixture
def store(server: tuple[str, Store]) -> Store:
    return server[1]


@pytest.fixture
def migrated_db(db_url: str) -> Iterator[Database]:
    """A bare ``Database`` on the backend's URL, migrated: for tests below the store."""
    database = Database(db_url)
    migrate(database)
    yield database
    database.dispose()

"""Database backends for the shared integration suite: a SQLite file or PostgreSQL.

PostgreSQL tests get a fresh database per test, cloned from a migrated template, which
takes a fraction of a second instead of running migrations each time.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg

from stagehook.store.db import Database
from stagehook.store.migrate import migrate

PG_ADMIN_URL = os.environ.get("STAGEHOOK_TEST_PG", "postgresql://postgres@127.0.0.1:5432/test")
#: One template per test session, so parallel runs on one server never collide.
TEMPLATE_DB = f"sh_template_{os.getpid()}"
BACKENDS = ("sqlite", "postgresql")


def _pg_url(dbname: str) -> str:
    base = PG_ADMIN_URL.rsplit("/", 1)[0]
    return f"{base}/{dbname}"


def pg_available() -> str | None:
    """None when PostgreSQL answers, else why not."""
    try:
        with psycopg.connect(PG_ADMIN_URL, connect_timeout=3):
            return None
    except psycopg.Error as exc:
        return str(exc).strip().splitlines()[0]


def _admin(sql: str) -> None:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql)  # type: ignore[arg-type]


def make_pg_template() -> None:
    """(Re)create the migrated template database once per test session."""
    _admin(f"DROP DATABASE IF EXISTS {TEMPLATE_DB} WITH (FORCE)")
    _admin(f"CREATE DATABASE {TEMPLATE_DB}")
    db = Database("postgresql+psycopg://" + _pg_url(TEMPLATE_DB).split("://", 1)[1])
    migrate(db)
    db.dispose()


def drop_pg_template() -> None:
    _admin(f"DROP DATABASE IF EXISTS {TEMPLATE_DB} WITH (FORCE)")


@contextmanager
def database_url(backend: str, tmp_path: Path) -> Iterator[str]:
    """A fresh, migrated database URL for one test (as a user would write it)."""
    if backend == "sqlite":
        yield f"sqlite:///{tmp_path / 'stagehook.db'}"
        return
    name = f"sh_{uuid.uuid4().hex[:16]}"
    _admin(f"CREATE DATABASE {name} TEMPLATE {TEMPLATE_DB}")
    try:
        yield _pg_url(name)
    finally:
        _admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")

"""PostgreSQL operations: concurrent migrations and outages (cross-process wake-ups,
for both backends: test_wake_across_processes.py)."""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import psycopg
import pytest
from alembic.script import ScriptDirectory

from stagehook.store.migrate import alembic_config
from tests.support.api import Api
from tests.support.backends import PG_ADMIN_URL
from tests.support.deliveries import project_with_hook, submit, wait_status
from tests.support.processes import worker_env
from tests.support.receiver import Receiver


@pytest.fixture
def pg_only(backend: str) -> None:
    if backend != "postgresql":
        pytest.skip("PostgreSQL behaviour")


@pytest.fixture
def empty_pg_db() -> str:
    name = f"sh_empty_{int(time.time() * 1000) % 10**9}"
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f"CREATE DATABASE {name}")  # type: ignore[arg-type]
    yield PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + name  # type: ignore[misc]
    with psycopg.connect(PG_ADMIN_URL, autocommit=True) as conn:
        conn.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")  # type: ignore[arg-type]


@pytest.mark.usefixtures("pg_only")
def test_migrate_from_several_hosts_at_once(empty_pg_db: str, tmp_path: Path) -> None:
    env = worker_env(empty_pg_db, tmp_path)
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "stagehook", "migrate"],
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for _ in range(4)
    ]
    outputs = [p.communicate(timeout=120)[0].decode() for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0, 0], outputs
    with psycopg.connect(empty_pg_db) as conn:
        version = conn.execute("SELECT version_num FROM alembic_version").fetchall()
    head = ScriptDirectory.from_config(alembic_config()).get_current_head()
    assert version == [(head,)]


@pytest.mark.usefixtures("pg_only")
def test_unreachable_database_answers_503_and_recovers(api: Api, db_url: str) -> None:
    name = db_url.rsplit("/", 1)[1]
    with Receiver() as receiver:
        project_hash, tasks, _ = project_with_hook(api, receiver.url("/h"), 2)
        with psycopg.connect(PG_ADMIN_URL, autocommit=True) as admin:
            admin.execute(f"ALTER DATABASE {name} ALLOW_CONNECTIONS false")  # type: ignore[arg-type]
            admin.execute(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = %s",
                (name,),
            )
            try:
                started = time.monotonic()
                response = api.raw("GET", f"/projects/{project_hash}/tasks")
                assert response.status_code == 503
                assert response.json()["error"]["code"] == "unavailable"
                assert "database" in response.json()["error"]["message"]
                assert time.monotonic() - started < 30
            finally:
                admin.execute(f"ALTER DATABASE {name} ALLOW_CONNECTIONS true")  # type: ignore[arg-type]
        # back again: requests succeed and the dispatcher carries on
        submit(api, project_hash, tasks[:1])
        wait_status(api, project_hash, "delivered", timeout=30)

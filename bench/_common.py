"""Shared set-up for the benchmarks: scratch databases, a project with webhooks, events.

Benchmarks are scripts, not tests: they print numbers and ratios, never assert on time.
Every database they make is a scratch one (a temp SQLite file or a uniquely named
PostgreSQL database) and is dropped on the way out.
"""

from __future__ import annotations

import contextlib
import os
import platform
import re
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import psycopg
from sqlalchemy import select, text

from stagehook.clock import Clock
from stagehook.config import Settings
from stagehook.runtime import open_store
from stagehook.store import projects
from stagehook.store import tasks as task_store
from stagehook.store.access import Principal, Role
from stagehook.store.context import Store
from stagehook.store.datasets import add_data_units, create_dataset
from stagehook.store.outbox.records import DeliveryStatus
from stagehook.store.outbox.write import write_events
from stagehook.store.tables import events, webhooks
from stagehook.store.users import bootstrap_admin, list_users
from stagehook.workflow.stages import Action, Workflow
from stagehook.workflow.task_machine import ActionRequest, EventIntent

ROOT = Path(__file__).resolve().parent.parent
if str(ROOT) not in sys.path:  # so ``tests.support.receiver`` (the real receiver) imports
    sys.path.insert(0, str(ROOT))

T = TypeVar("T")

PG_ADMIN_URL = os.environ.get("STAGEHOOK_BENCH_PG", "postgresql://postgres@127.0.0.1:5432/test")

START = "00000000-0000-4000-8000-0000000000b1"
ANNOTATE = "00000000-0000-4000-8000-0000000000b2"
COMPLETE = "00000000-0000-4000-8000-0000000000b3"


def workflow(annotate_webhook: str) -> Workflow:
    """START -> Annotate (webhook) -submit-> Complete."""
    return Workflow.model_validate(
        {
            "stages": [
                {
                    "uuid": START,
                    "title": "Start",
                    "stage_type": "START",
                    "pathways": [{"name": "next", "destination_uuid": ANNOTATE}],
                },
                {
                    "uuid": ANNOTATE,
                    "title": "Annotate",
                    "stage_type": "ANNOTATE",
                    "webhook": {"url": annotate_webhook},
                    "pathways": [{"name": "submit", "destination_uuid": COMPLETE}],
                },
                {"uuid": COMPLETE, "title": "Complete", "stage_type": "COMPLETE", "pathways": []},
            ]
        }
    )


# --------------------------------------------------------------------------- databases
def _admin(sql: str) -> None:
    with psycopg.connect(PG_ADMIN_URL, autocommit=True, connect_timeout=5) as conn:
        conn.execute(sql.encode())


def pg_url(dbname: str) -> str:
    return PG_ADMIN_URL.rsplit("/", 1)[0] + "/" + dbname


@contextlib.contextmanager
def scratch_database(backend: str) -> Iterator[tuple[str | None, Path]]:
    """``(database_url, data_dir)``; database_url None means SQLite in data_dir."""
    with tempfile.TemporaryDirectory(prefix="stagehook-bench-") as tmp:
        data_dir = Path(tmp)
        if backend == "sqlite":
            yield None, data_dir
            return
        name = f"sh_bench_{uuid.uuid4().hex[:12]}"
        _admin(f"CREATE DATABASE {name}")
        try:
            yield pg_url(name), data_dir
        finally:
            for attempt in range(10):  # the server may be restarting (other suites do that)
                try:
                    _admin(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
                    break
                except psycopg.Error:
                    if attempt == 9:
                        print(f"could not drop scratch database {name}", file=sys.stderr)
                    time.sleep(3)


def bench_settings(database_url: str | None, data_dir: Path, **overrides: Any) -> Settings:
    base: dict[str, Any] = {
        "data_dir": data_dir,
        "database_url": database_url,
        "allowed_target_networks": ["127.0.0.0/8"],
        "retry_jitter": 0.0,
    }
    base.update(overrides)
    return Settings(**base)


def settings_env(database_url: str | None, data_dir: Path, **settings: str) -> dict[str, str]:
    """Environment for a ``stagehook`` child process (only our STAGEHOOK_ variables)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STAGEHOOK_")}
    env["STAGEHOOK_DATA_DIR"] = str(data_dir)
    env["STAGEHOOK_ALLOWED_TARGET_NETWORKS"] = "127.0.0.0/8"
    if database_url:
        env["STAGEHOOK_DATABASE_URL"] = database_url
    env.update({f"STAGEHOOK_{k.upper()}": v for k, v in settings.items()})
    return env


def new_store(database_url: str | None, data_dir: Path, **overrides: Any) -> Store:
    return open_store(bench_settings(database_url, data_dir, **overrides), Clock())


def count_writes(store: Store) -> Callable[[], int]:
    """Count write cycles from now on: write transactions, and on PostgreSQL the
    dispatcher's cycles run as statements of their own (``Database.statements``, and
    on the loop's own connections, ``Database.async_statements``: each statement
    counts); returns a reader of the count."""
    count = [0]
    for name in ("write", "statements"):
        original = getattr(store.db, name, None)
        if original is None:  # a server from an older tree (--src) has no statements()
            continue

        def counted(*args: Any, _original: Any = original, **kwargs: Any) -> Any:
            count[0] += 1
            return _original(*args, **kwargs)

        setattr(store.db, name, counted)
    make = getattr(store.db, "async_statements", None)
    if make is not None:  # older trees have none

        def counted_connection() -> Any:
            statements = make()
            rows = statements.rows

            async def counted_rows(*args: Any, **kwargs: Any) -> Any:
                count[0] += 1
                return await rows(*args, **kwargs)

            statements.rows = counted_rows
            return statements

        store.db.async_statements = counted_connection  # type: ignore[method-assign]
    return lambda: count[0]


# --------------------------------------------------------------------------- content
@dataclass
class Project:
    project_hash: str
    admin: Principal
    task_uuids: list[str]
    url: str


def make_project(store: Store, url: str, tasks: int = 0) -> Project:
    """A project whose Annotate stage has a webhook to ``url``, with ``tasks`` tasks."""
    bootstrap_admin(store, "shk_bench")
    admin = list_users(store)[0]
    dataset = create_dataset(store, admin, f"bench {url}")
    project = projects.create_project(
        store, admin, f"bench {url}", [dataset["dataset_hash"]], workflow(url), None
    )
    if tasks:
        add_data_units(
            store, admin, dataset["dataset_hash"], [{"title": f"{i}"} for i in range(tasks)]
        )
    page, _ = task_store.list_tasks(
        store,
        project["project_hash"],
        stage_uuid=None,
        status=None,
        limit=max(tasks, 1),
        cursor=None,
    )
    return Project(project["project_hash"], admin, [t["task_uuid"] for t in page], url)


def submit(store: Store, project: Project, task_uuid: str) -> list[str]:
    """One single-task submit at Annotate: commits the transition and one event."""
    _, uids = task_store.apply_stage_actions(
        store,
        project.project_hash,
        ANNOTATE,
        [ActionRequest(task_uuid, Action.SUBMIT)],
        project.admin,
        Role.ADMIN,
    )
    return uids


def bulk_events(store: Store, project: Project, count: int, chunk: int = 1000) -> None:
    """``count`` task_submitted_events through the real outbox, ``chunk`` per transaction."""
    done = 0
    while done < count:
        n = min(chunk, count - done)
        intents = [
            EventIntent(
                "task_submitted_event",
                ANNOTATE,
                {
                    "project_hash": project.project_hash,
                    "data_hashes": [str(uuid.uuid4())],
                    "label_hashes": [str(uuid.uuid4())],
                },
            )
            for _ in range(n)
        ]
        with store.db.write() as conn:
            write_events(conn, store, project.project_hash, intents)
        done += n


_SERIES = {
    "postgresql": "SELECT g AS x FROM generate_series(1, :m) AS g",
    "sqlite": "WITH RECURSIVE s(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM s WHERE x < :m) "
    "SELECT x FROM s",
}


def insert_deliveries(
    store: Store, project: Project, status: DeliveryStatus, count: int, t0: float
) -> None:
    """``count`` deliveries with ``status``, next_attempt_at spread from ``t0`` on."""
    if count <= 0:
        return
    dialect = "sqlite" if store.db.is_sqlite else "postgresql"
    with store.db.read() as conn:
        webhook_id = conn.execute(
            select(webhooks.c.webhook_id).where(webhooks.c.project_hash == project.project_hash)
        ).scalar_one()
        uid = conn.execute(select(events.c.uid).limit(1)).scalar_one()
    sql = f"""
        INSERT INTO deliveries (event_uid, webhook_id, project_hash, stage_uuid, event_type,
            url, status, attempts, retry_base, next_attempt_at, created_at, completed_at,
            last_status_code)
        SELECT :uid, :wid, :ph, :stage, 'task_submitted_event', :url, :status,
            :attempts, 0, :t0 + x * 0.001, :t0 + x * 0.001, :completed, :code
        FROM ({_SERIES[dialect]}) AS series
    """
    done = status == DeliveryStatus.DELIVERED
    with store.db.write() as conn:
        conn.execute(
            text(sql),
            {
                "uid": uid,
                "wid": webhook_id,
                "ph": project.project_hash,
                "stage": "bench",
                "url": project.url,
                "status": status,
                "attempts": 1 if done else 0,
                "t0": t0,
                "completed": t0 + count * 0.001 if done else None,
                "code": 200 if done else None,
                "m": count,
            },
        )


# --------------------------------------------------------------------------- receiver
@contextlib.contextmanager
def receiver_process(out: Path, *extra: str) -> Iterator[str]:
    """``python -m tests.support.receiver`` in its own process; yields its base URL."""
    proc = subprocess.Popen(
        [sys.executable, "-m", "tests.support.receiver", "--port", "0", "--out", str(out), *extra],
        cwd=ROOT,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stderr is not None
        line = proc.stderr.readline()
        match = re.search(r"listening on (\S+)", line)
        if match is None:
            raise RuntimeError(f"receiver did not start: {line!r}")
        # keep draining its stderr so a chatty receiver can never block on a full pipe
        threading.Thread(target=proc.stderr.read, daemon=True).start()
        yield match.group(1)
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


# --------------------------------------------------------------------------- reporting
def percentile(values: Sequence[float], q: float) -> float:
    ordered = sorted(values)
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q / 100 * (len(ordered) - 1))))
    return ordered[index]


def median(values: Sequence[float]) -> float:
    return statistics.median(values) if values else float("nan")


def machine() -> str:
    cpu = platform.processor() or platform.machine()
    with contextlib.suppress(OSError):
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    load = ", ".join(f"{x:.1f}" for x in os.getloadavg())
    return (
        f"{cpu}, {os.cpu_count()} cores, load {load}, Python {platform.python_version()}; "
        f"stagehook {source_version()}"
    )


def source_version() -> str:
    """The commit measured, and whether src/ had uncommitted changes (shared checkouts)."""
    try:
        head = subprocess.run(
            ["git", "rev-parse", "--short", "HEAD"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
        dirty = subprocess.run(
            ["git", "status", "--porcelain", "src"], cwd=ROOT, capture_output=True, text=True
        ).stdout.strip()
    except OSError:
        return "?"
    return f"{head or '?'}{' + uncommitted src changes' if dirty else ''}"


def pg_started_at() -> str | None:
    """When the PostgreSQL server last started (None if it does not answer).

    Other suites on a shared machine restart the server; a run it spans is void.
    """
    try:
        with psycopg.connect(PG_ADMIN_URL, connect_timeout=5) as conn:
            row = conn.execute("SELECT pg_postmaster_start_time()::text").fetchone()
    except psycopg.Error:
        return None
    return str(row[0]) if row else None


def stable(uses_pg: bool, label: str, run: Callable[[], T]) -> T:
    """``run()``, again (up to 3 times) if the PostgreSQL server restarted meanwhile."""
    for _ in range(3):
        server = pg_started_at() if uses_pg else None
        try:
            result = run()
        except Exception as exc:
            if not uses_pg or pg_started_at() == server:
                raise
            print(f"  ({label}: {type(exc).__name__}, the server restarted; again)", flush=True)
            time.sleep(5)
            continue
        if server is None or pg_started_at() == server:
            return result
        print(f"  ({label}: the server restarted during the run; again)", flush=True)
    raise RuntimeError(f"{label}: the PostgreSQL server kept restarting")


def pg_version() -> str:
    with psycopg.connect(PG_ADMIN_URL, connect_timeout=5) as conn:
        row = conn.execute("SHOW server_version").fetchone()
    return str(row[0]) if row else "?"


def wait_until(predicate: Callable[[], bool], timeout: float, interval: float = 0.05) -> bool:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return True
        time.sleep(interval)
    return predicate()

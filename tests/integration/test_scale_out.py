"""Scale-out chaos on PostgreSQL: 2 API processes, 3 workers, 20,000 events, a worker
SIGKILLed and the database restarted mid-run. Every event arrives; only the killed
worker's in-flight events may arrive twice."""

from __future__ import annotations

import os
import shutil
import signal
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
from sqlalchemy import func, select

from stagehook.clock import Clock
from stagehook.config import Settings
from stagehook.runtime import open_store
from stagehook.store.context import Store
from stagehook.store.tables import deliveries
from tests.support.processes import (
    free_port,
    kill,
    restart_postgres,
    start_api,
    start_worker,
    worker_env,
)
from tests.support.receiver import Receiver
from tests.support.workflows import ANNOTATE, submit_to_complete_workflow

KEY = "shk_scale_out"
# Submits of BATCH tasks straight to Complete: one task_submitted_event per batch plus one
# task_completed_event per task, so 19,800 tasks make 20,196 events.
TASKS = int(os.environ.get("SCALE_TASKS", "19800"))
BATCH = 50
EVENTS = TASKS + TASKS // BATCH
WORKER_IN_FLIGHT = 32


def wait_healthy(base: str, deadline: float) -> None:
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise AssertionError(f"{base} did not become healthy")


def submit_all(bases: list[str], project_hash: str, task_uuids: list[str]) -> int:
    """Submit every task once, in batches, through alternating API processes.

    503s and dropped connections (the database restart) are retried; a 409 means the
    batch committed before its answer was lost.
    """
    retries = 0
    lock = threading.Lock()
    local = threading.local()
    batches = [task_uuids[i : i + BATCH] for i in range(0, len(task_uuids), BATCH)]

    def one(i_batch: tuple[int, list[str]]) -> None:
        nonlocal retries
        i, batch = i_batch
        if not hasattr(local, "client"):
            local.client = httpx.Client(headers={"authorization": f"Bearer {KEY}"}, timeout=30)
        base = bases[i % len(bases)]
        url = f"{base}/api/v1/projects/{project_hash}/workflow/stages/{ANNOTATE}/actions"
        body = {"actions": [{"task_uuid": t, "action": "SUBMIT"} for t in batch]}
        for _ in range(200):
            try:
                r = local.client.post(url, json=body)
            except httpx.HTTPError:
                r = None
            if r is not None and r.status_code in (200, 409):
                return
            with lock:
                retries += 1
            time.sleep(0.25)
        raise AssertionError(f"could not submit batch {i}")

    with ThreadPoolExecutor(4) as pool:
        list(pool.map(one, enumerate(batches)))
    return retries


def delivered(store: Store) -> int:
    try:
        with store.db.read() as conn:
            return int(
                conn.execute(
                    select(func.count()).where(deliveries.c.status == "delivered")
                ).scalar_one()
            )
    except Exception:
        return -1  # the database is restarting


@pytest.mark.slow
@pytest.mark.skipif(not shutil.which("pg_ctlcluster"), reason="needs a local PostgreSQL cluster")
def test_scale_out_survives_worker_kill_and_database_restart(
    backend: str, db_url: str, tmp_path: Path
) -> None:
    if backend != "postgresql":
        pytest.skip("scale-out runs on PostgreSQL")
    if os.geteuid() != 0:
        pytest.skip("restarting PostgreSQL needs root")
    settings = Settings(data_dir=tmp_path, database_url=db_url)
    store = open_store(settings, Clock())
    env = worker_env(
        db_url,
        tmp_path,
        bootstrap_api_key=KEY,
        lease_seconds="20",
        poll_interval="1",
        max_in_flight=str(WORKER_IN_FLIGHT),
        circuit_failure_threshold="1000000",
    )
    procs = []
    log = tmp_path / "procs.log"
    with Receiver(max_recorded=100_000) as receiver:
        ports = [free_port(), free_port()]
        apis = [start_api(env, log, port) for port in ports]
        procs += apis
        bases = [f"http://127.0.0.1:{p}" for p in ports]
        deadline = time.monotonic() + 60
        for base in bases:
            wait_healthy(base, deadline)
        workers = [start_worker(env, log, f"scale-{i}") for i in range(3)]
        procs += workers
        try:
            headers = {"authorization": f"Bearer {KEY}"}
            with httpx.Client(base_url=bases[0] + "/api/v1", headers=headers, timeout=120) as c:
                ds = c.post("/datasets", json={"title": "scale"}).json()["dataset_hash"]
                for start in range(0, TASKS, 5000):
                    count = min(5000, TASKS - start)
                    c.post(
                        f"/datasets/{ds}/data-units",
                        json={"items": [{"title": f"u{start + i}"} for i in range(count)]},
                    ).raise_for_status()
                workflow = submit_to_complete_workflow(
                    annotate_webhook=receiver.url("/submitted"),
                    complete_webhook=receiver.url("/completed"),
                )
                project = c.post(
                    "/projects",
                    json={"title": "scale", "dataset_hashes": [ds], "workflow": workflow},
                ).json()
                project_hash = project["project_hash"]
                task_uuids: list[str] = []
                cursor = None
                while True:
                    params = {"limit": 500, **({"cursor": cursor} if cursor else {})}
                    page = c.get(f"/projects/{project_hash}/tasks", params=params).json()
                    task_uuids += [t["task_uuid"] for t in page["tasks"]]
                    cursor = page["next_cursor"]
                    if not cursor:
                        break
            assert len(task_uuids) == TASKS

            chaos_log: dict[str, int] = {}

            def chaos() -> None:
                while delivered(store) < EVENTS * 0.3:
                    time.sleep(0.1)
                kill(workers[0], signal.SIGKILL)
                with store.db.read() as conn:
                    chaos_log["victim_leased"] = int(
                        conn.execute(
                            select(func.count()).where(deliveries.c.lease_owner == "scale-0")
                        ).scalar_one()
                    )
                chaos_log["delivered_at_kill"] = delivered(store)
                while delivered(store) < EVENTS * 0.6:
                    time.sleep(0.1)
                restart_postgres()
                chaos_log["restarted_at"] = delivered(store)

            chaos_thread = threading.Thread(target=chaos, daemon=True)
            chaos_thread.start()
            t0 = time.monotonic()
            chaos_log["submit_retries"] = submit_all(bases, project_hash, task_uuids)
            chaos_log["submit_seconds"] = int(time.monotonic() - t0)
            finish = time.monotonic() + 300
            while delivered(store) < EVENTS and time.monotonic() < finish:
                time.sleep(0.5)
            chaos_thread.join(timeout=60)
            chaos_log["total_seconds"] = int(time.monotonic() - t0)
        finally:
            for proc in procs:
                kill(proc, signal.SIGTERM)
        counts = Counter(r.webhook_id for r in receiver.requests())

    assert "restarted_at" in chaos_log, chaos_log
    assert delivered(store) == EVENTS, (chaos_log, log.read_text()[-3000:])
    with store.db.read() as conn:
        uids = set(conn.execute(select(deliveries.c.event_uid)).scalars())
    assert len(uids) == EVENTS
    assert uids <= set(counts), "every event reached the receiver"
    twice = sum(1 for n in counts.values() if n > 1)
    assert twice <= chaos_log["victim_leased"], (twice, chaos_log)
    store.db.dispose()

"""Chaos: workers killed with SIGKILL mid-delivery lose nothing and lie about nothing."""

from __future__ import annotations

import random
import signal
import time
from collections import defaultdict
from pathlib import Path

import pytest
from sqlalchemy import select

from stagehook.clock import Clock
from stagehook.config import Settings
from stagehook.runtime import open_store
from stagehook.store import projects, tasks
from stagehook.store.access import Role
from stagehook.store.context import Store
from stagehook.store.datasets import add_data_units, create_dataset
from stagehook.store.tables import deliveries, events
from stagehook.store.users import bootstrap_admin, list_users
from stagehook.workflow.stages import Action, Workflow
from stagehook.workflow.task_machine import ActionRequest
from tests.support.processes import kill, start_worker, worker_env
from tests.support.receiver import Receiver, Response
from tests.support.workflows import ANNOTATE, basic_workflow


def make_events(store: Store, url: str, count: int) -> None:
    """``count`` task_submitted_events, one per single-task submit, straight in the store."""
    bootstrap_admin(store, "shk_chaos")
    admin = list_users(store)[0]
    dataset = create_dataset(store, admin, "chaos")
    add_data_units(store, admin, dataset["dataset_hash"], [{"title": f"{i}"} for i in range(count)])
    project = projects.create_project(
        store,
        admin,
        "chaos",
        [dataset["dataset_hash"]],
        Workflow.model_validate(basic_workflow(annotate_webhook=url)),
        None,
    )
    page, _ = tasks.list_tasks(
        store, project["project_hash"], stage_uuid=None, status=None, limit=count, cursor=None
    )
    for task in page:
        tasks.apply_stage_actions(
            store,
            project["project_hash"],
            ANNOTATE,
            [ActionRequest(task["task_uuid"], Action.SUBMIT)],
            admin,
            Role.ADMIN,
        )


def delivered_count(store: Store) -> int:
    with store.db.read() as conn:
        return len(
            conn.execute(select(deliveries.c.id).where(deliveries.c.status == "delivered")).all()
        )


@pytest.mark.slow
def test_sigkilled_workers_lose_nothing(db_url: str, tmp_path: Path) -> None:
    total = 2000
    settings = Settings(
        data_dir=tmp_path, database_url=db_url, allowed_target_networks=["127.0.0.0/8"]
    )
    store = open_store(settings, Clock())
    rng = random.Random(7)
    log = tmp_path / "workers.log"
    with Receiver(flaky_percent=30, max_recorded=50_000) as receiver:
        make_events(store, receiver.url("/hook"), total)
        env = worker_env(
            db_url,
            tmp_path,
            retry_schedule="0,0.1,0.2,0.3,0.5,1,1,1",
            retry_jitter="0",
            lease_seconds="2",
            circuit_failure_threshold="100000",
            poll_interval="0.5",
        )
        kills = 0
        progress_at_kills: list[int] = []
        deadline = time.monotonic() + 240
        worker = start_worker(env, log, "chaos-0")
        try:
            while kills < 6 and time.monotonic() < deadline:
                time.sleep(rng.uniform(0.3, 1.2))
                kill(worker)
                progress_at_kills.append(delivered_count(store))
                kills += 1
                worker = start_worker(env, log, f"chaos-{kills}")
            while delivered_count(store) < total and time.monotonic() < deadline:
                time.sleep(0.2)
        finally:
            code = kill(worker, signal.SIGTERM)
        assert code == 0, log.read_text()[-3000:]

        with store.db.read() as conn:
            rows = conn.execute(
                select(deliveries.c.event_uid, deliveries.c.status, events.c.body).join(
                    events, events.c.uid == deliveries.c.event_uid
                )
            ).all()
        received = defaultdict(list)
        for request in receiver.requests("/hook"):
            received[request.webhook_id].append(request)
    assert kills == 6
    # the kills really landed mid-run, not after the work was done
    assert sum(1 for n in progress_at_kills if n < total) >= 3, progress_at_kills
    assert len(rows) == total
    assert [r.event_uid for r in rows if r.status != "delivered"] == []
    for row in rows:
        got = received[row.event_uid]
        assert got, f"event {row.event_uid} marked delivered but never received"
        assert {bytes(r.body) for r in got} == {bytes(row.body)}
        assert any(r.answer.startswith("2") for r in got), (
            f"event {row.event_uid} marked delivered without a 2xx answer"
        )
    store.db.dispose()


def leased_by(store: Store, worker: str) -> int:
    with store.db.read() as conn:
        return len(
            conn.execute(select(deliveries.c.id).where(deliveries.c.lease_owner == worker)).all()
        )


@pytest.mark.slow
def test_a_silent_workers_leases_are_handed_back_without_waiting_for_expiry(
    db_url: str, tmp_path: Path
) -> None:
    """Leases last 10 minutes here; the heartbeat requeue moves the work within seconds."""
    settings = Settings(
        data_dir=tmp_path, database_url=db_url, allowed_target_networks=["127.0.0.0/8"]
    )
    store = open_store(settings, Clock())
    log = tmp_path / "workers.log"
    with Receiver() as receiver:
        receiver.script("/hook", [Response.slow(30)] * 3)
        make_events(store, receiver.url("/hook"), 3)
        env = worker_env(db_url, tmp_path, lease_seconds="600", heartbeat_seconds="0.5")
        doomed = start_worker(env, log, "doomed")
        try:
            deadline = time.monotonic() + 30
            while leased_by(store, "doomed") < 3 and time.monotonic() < deadline:
                time.sleep(0.1)
            assert leased_by(store, "doomed") == 3
            receiver.wait_for(3, "/hook")
        finally:
            kill(doomed)
        rescuer = start_worker(env, log, "rescuer")
        try:
            deadline = time.monotonic() + 30
            while delivered_count(store) < 3 and time.monotonic() < deadline:
                time.sleep(0.1)
        finally:
            assert kill(rescuer, signal.SIGTERM) == 0
    assert delivered_count(store) == 3, log.read_text()[-2000:]
    assert "requeued 3 deliveries of stopped workers" in log.read_text()
    store.db.dispose()

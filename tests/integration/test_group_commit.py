"""Group commit: concurrent writes share a transaction, yet each succeeds or fails alone,
and none is acknowledged before it is committed."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import Connection, event, func, insert, select

from stagehook.store.context import Store
from stagehook.store.db import Database
from stagehook.store.group_commit import MAX_BATCH
from stagehook.store.migrate import migrate
from stagehook.store.tables import events, tasks, workflow_templates
from tests.support.api import Api
from tests.support.waiting import wait_until
from tests.support.workflows import ANNOTATE, COMPLETE, submit_to_complete_workflow


def _template(conn: Connection, i: int) -> int:
    conn.execute(
        insert(workflow_templates).values(
            template_hash=f"t-{i}", title=f"t{i}", workflow={}, created_at=0.0
        )
    )
    if i == 3:
        raise ValueError("request 3 fails after writing")
    return i


def _titles(db: Database) -> set[str]:
    with db.read() as conn:
        return set(conn.execute(select(workflow_templates.c.title)).scalars())


def test_one_failure_in_a_batch_fails_alone_and_the_rest_is_durable(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'group.db'}"
    db = Database(url)
    migrate(db)
    commits = [0]
    event.listen(db.engine, "commit", lambda _conn: commits.__setitem__(0, commits[0] + 1))
    release = threading.Event()

    def first(conn: Connection) -> int:
        release.wait(timeout=30)  # hold the transaction until the others are queued
        return _template(conn, 0)

    with ThreadPoolExecutor(8) as pool:
        leader = pool.submit(db.write_grouped, first)
        wait_until(lambda: db._group.waiting == 0 and not leader.done(), what="a leader")
        followers = {
            i: pool.submit(db.write_grouped, lambda c, i=i: _template(c, i)) for i in range(1, 7)
        }
        wait_until(lambda: db._group.waiting == 6, what="six queued requests")
        release.set()
        assert leader.result(timeout=30) == 0
        for i, future in followers.items():
            if i == 3:
                with pytest.raises(ValueError, match="request 3"):
                    future.result(timeout=30)
            else:
                assert future.result(timeout=30) == i
    assert commits[0] == 2  # the leader's transaction, then one for all six
    db.dispose()
    reopened = Database(url)
    assert _titles(reopened) == {f"t{i}" for i in (0, 1, 2, 4, 5, 6)}
    reopened.dispose()


def test_a_backlog_commits_at_most_sixteen_requests_a_transaction(tmp_path: Path) -> None:
    """Requests that piled up commit at most ``MAX_BATCH`` to a transaction: the write
    lock is held for a whole batch, and a dispatcher (in this process or the worker
    child) waits behind it for its claim."""
    db = Database(f"sqlite:///{tmp_path / 'backlog.db'}")
    migrate(db)
    order: list[int | str] = []
    event.listen(db.engine, "commit", lambda _conn: order.append("commit"))
    release = threading.Event()

    def first(conn: Connection) -> int:
        release.wait(timeout=30)  # hold the transaction until the others are queued
        return _template(conn, 0)

    def job(i: int) -> Callable[[Connection], int]:
        def work(conn: Connection) -> int:
            order.append(i)
            return _template(conn, i)

        return work

    with ThreadPoolExecutor(48) as pool:
        leader = pool.submit(db.write_grouped, first)
        wait_until(lambda: db._group.waiting == 0 and not leader.done(), what="a leader")
        queued = [pool.submit(db.write_grouped, job(i)) for i in range(4, 44)]
        wait_until(lambda: db._group.waiting == 40, what="forty queued requests")
        release.set()
        assert [f.result(timeout=30) for f in queued] == list(range(4, 44))
    batches: list[int] = [0]
    for item in order:
        batches[-1:] = [batches[-1], 0] if item == "commit" else [batches[-1] + 1]
    assert MAX_BATCH == 16
    assert [n for n in batches if n] == [16, 16, 8], batches
    db.dispose()


def test_concurrent_submits_with_failures_commit_every_success(api: Api, store: Store) -> None:
    dataset_hash, _ = api.dataset_with_units(24)
    project_hash = api.create_project(
        "group",
        [dataset_hash],
        workflow=submit_to_complete_workflow(complete_webhook="http://127.0.0.1:9/x"),
    )["project_hash"]
    uuids = [t["task_uuid"] for t in api.tasks(project_hash)]
    path = f"/projects/{project_hash}/workflow/stages/{ANNOTATE}/actions"

    def submit(task_uuid: str) -> int:
        body: dict[str, Any] = {"actions": [{"task_uuid": task_uuid, "action": "SUBMIT"}]}
        return api.raw("POST", path, json=body).status_code

    # every task twice: one of each pair wins, the other finds it completed (a 4xx)
    with ThreadPoolExecutor(16) as pool:
        answers = list(pool.map(submit, uuids + uuids))
    assert answers.count(200) == 24
    assert all(400 <= a < 500 for a in answers if a != 200)
    with store.db.read() as conn:
        at_complete = conn.execute(
            select(func.count()).where(
                tasks.c.project_hash == project_hash, tasks.c.stage_uuid == COMPLETE
            )
        ).scalar_one()
        completed_events = conn.execute(
            select(func.count()).where(events.c.event_type == "task_completed_event")
        ).scalar_one()
    assert at_complete == 24
    assert completed_events == 24  # one event per transition, committed with it


def test_a_lone_request_that_fails_leaves_nothing(tmp_path: Path) -> None:
    """A batch of one runs without a savepoint: its failure rolls the transaction back."""
    db = Database(f"sqlite:///{tmp_path / 'lone.db'}")
    migrate(db)
    with pytest.raises(ValueError, match="request 3"):
        db.write_grouped(lambda c: _template(c, 3))
    assert db.write_grouped(lambda c: _template(c, 4)) == 4
    assert _titles(db) == {"t4"}
    db.dispose()


def test_async_requests_share_a_transaction_and_fail_alone(tmp_path: Path) -> None:
    """The event loop's path (``write_grouped_async``): no thread per request, same rules."""
    db = Database(f"sqlite:///{tmp_path / 'async.db'}")
    migrate(db)
    commits = [0]
    event.listen(db.engine, "commit", lambda _conn: commits.__setitem__(0, commits[0] + 1))
    release = threading.Event()

    def first(conn: Connection) -> int:
        release.wait(timeout=30)
        return _template(conn, 0)

    async def scenario() -> list[object]:
        lead = asyncio.ensure_future(db.write_grouped_async(first))
        await asyncio.sleep(0)  # the request is queued
        for _ in range(3000):  # bounded: 30 s until the writer has taken it
            if db._group.waiting == 0:
                break
            await asyncio.sleep(0.01)
        rest = [
            asyncio.ensure_future(db.write_grouped_async(lambda c, i=i: _template(c, i)))
            for i in range(1, 7)
        ]
        for _ in range(3000):  # bounded: 30 s
            if db._group.waiting == 6:
                break
            await asyncio.sleep(0.01)
        release.set()
        return await asyncio.gather(lead, *rest, return_exceptions=True)

    results = asyncio.run(scenario())
    assert results[:3] == [0, 1, 2] and results[4:] == [4, 5, 6]
    assert isinstance(results[3], ValueError)
    assert commits[0] == 2
    db.dispose()
    reopened = Database(f"sqlite:///{tmp_path / 'async.db'}")
    assert _titles(reopened) == {f"t{i}" for i in (0, 1, 2, 4, 5, 6)}
    reopened.dispose()

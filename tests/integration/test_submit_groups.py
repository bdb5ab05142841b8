"""PostgreSQL: single-task submits that arrive together share one read and one write.

``_submit_group`` gets the batches a group thread took at once
(store/statement_groups.py); each batch must come back exactly as it would alone: its
own outcome or its own error, its rows written only if its task moved.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator, Sequence
from typing import Any

import httpx
import psycopg
import pytest
from psycopg import errors as psycopg_errors
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

from stagehook.errors import InvalidTransition, NotFound
from stagehook.store import tasks as task_store
from stagehook.store.access import Principal, Role
from stagehook.store.context import Store
from stagehook.store.statement_groups import StatementGroups
from stagehook.store.tables import deliveries, events, task_history
from stagehook.store.tasks import StageBatch, TaskMoved, apply_stage_actions
from stagehook.workflow.stages import Action
from stagehook.workflow.task_machine import ActionRequest
from tests.support.api import ADMIN_KEY, Api
from tests.support.counts import counted, shown
from tests.support.statements import listening
from tests.support.workflows import ANNOTATE, COMPLETE, submit_to_complete_workflow

pytestmark = pytest.mark.parametrize("backend", ["postgresql"], indirect=True)

ADMIN = Principal("admin-id", "admin", is_admin=True)


def _project(api: Api, n: int, title: str = "group") -> tuple[str, list[str]]:
    dataset_hash, _ = api.dataset_with_units(n)
    flow = submit_to_complete_workflow(annotate_webhook="http://127.0.0.1:9/submitted")
    project_hash = api.create_project(title, [dataset_hash], workflow=flow)["project_hash"]
    return project_hash, [t["task_uuid"] for t in api.tasks(project_hash)]


def _submits(
    store: Store, project_hash: str, task_uuids: Sequence[str], stage: str = ANNOTATE
) -> list[tuple[Store, StageBatch]]:
    return [
        (
            store,
            StageBatch(project_hash, stage, [ActionRequest(t, Action.SUBMIT)], ADMIN, Role.ADMIN),
        )
        for t in task_uuids
    ]


def _group(store: Store, items: Sequence[tuple[Store, StageBatch]]) -> list[Any]:
    with store.db.statements() as conn:
        return list(task_store._submit_group(conn, items))


@contextlib.contextmanager
def _capture(store: Store) -> Iterator[list[str]]:
    """The statements this thread runs (not the dispatcher's) during the block."""
    seen: list[str] = []
    here = threading.current_thread()

    def capture(_c: Any, _cur: Any, statement: str, *_rest: Any) -> None:
        if threading.current_thread() is here:
            seen.append(" ".join(statement.split())[:40])

    with listening(store.db.engine, capture):
        yield seen


@contextlib.contextmanager
def _before_first(store: Store, marker: str, act: Any) -> Iterator[list[bool]]:
    """For the block: ``act(cursor)`` runs once, before the first statement containing
    ``marker``; the list yielded says whether it ran."""
    done: list[bool] = []

    def listener(_c: Any, cursor: Any, statement: str, *_rest: Any) -> None:
        if not done and marker in statement:
            done.append(True)
            act(cursor)

    with listening(store.db.engine, listener):
        yield done


def _written(store: Store, project_hash: str) -> tuple[dict[str, list[str]], int, int]:
    """Per task its history actions, the project's events and deliveries."""
    with store.db.read() as conn:
        rows = conn.execute(
            select(task_history.c.task_uuid, task_history.c.action)
            .where(task_history.c.project_hash == project_hash)
            .order_by(task_history.c.id)
        ).all()
        n_events = conn.execute(
            select(func.count()).where(events.c.project_hash == project_hash)
        ).scalar_one()
        n_deliveries = conn.execute(
            select(func.count()).where(deliveries.c.project_hash == project_hash)
        ).scalar_one()
    history: dict[str, list[str]] = {}
    for task_uuid, action in rows:
        history.setdefault(task_uuid, []).append(action)
    return history, n_events, n_deliveries


def test_batches_that_arrive_together_are_one_read_and_one_write(api: Api, store: Store) -> None:
    project_hash, task_uuids = _project(api, 6)
    with _capture(store) as seen:
        results = _group(store, _submits(store, project_hash, task_uuids))
    assert len(seen) == 2, seen
    assert seen[0].startswith("SELECT CAST(p.workflow") and seen[1].startswith("WITH moved AS")
    # each batch has its own outcome and its own event
    for task_uuid, (outcome, uids) in zip(task_uuids, results, strict=True):
        assert [t.after.task_uuid for t in outcome.transitions] == [task_uuid]
        assert outcome.transitions[0].after.stage_uuid == COMPLETE
        assert len(uids) == 1
    assert len({uid for _, uids in results for uid in uids}) == 6
    history, n_events, n_deliveries = _written(store, project_hash)
    assert all(history[t] == ["CREATE", "SUBMIT"] for t in task_uuids)
    assert (n_events, n_deliveries) == (6, 6)
    assert shown(api, project_hash) == counted(store, project_hash) == {COMPLETE: {"COMPLETED": 6}}


def test_each_batch_of_a_group_stands_alone(api: Api, store: Store) -> None:
    """A refused batch, a task twice, a task moved meanwhile and a second project, in one
    group: each batch gets what it would have got alone, and only what went through is
    written."""
    project_hash, (moving, fine, refused, twice, astray) = _project(api, 5)
    other_hash, (other,) = _project(api, 1, "other")
    api.act(project_hash, ANNOTATE, [{"task_uuid": refused, "action": "SUBMIT"}])
    items = [
        *_submits(store, project_hash, [moving, fine, refused, twice, twice]),
        *_submits(store, other_hash, [other]),
        *_submits(store, project_hash, [astray], stage="no-such-stage"),
    ]
    racer = Principal("racer-id", "racer", is_admin=True)

    def race(_cursor: Any) -> None:
        # another transaction assigns ``moving`` between the group's read and its write
        assign = [ActionRequest(moving, Action.ASSIGN)]
        apply_stage_actions(store, project_hash, ANNOTATE, assign, racer, Role.ADMIN)

    with _before_first(store, "WITH moved AS", race) as raced:
        results = _group(store, items)
    assert raced
    r_moving, r_fine, r_refused, r_twice, r_twice_again, r_other, r_stage = results
    assert isinstance(r_moving, TaskMoved)
    assert isinstance(r_refused, InvalidTransition)  # already submitted: as alone
    assert isinstance(r_twice_again, TaskMoved)  # read again, then it is a conflict
    assert isinstance(r_stage, NotFound)
    for ok in (r_fine, r_twice, r_other):
        assert not isinstance(ok, BaseException), ok
        assert ok[0].transitions[0].after.stage_uuid == COMPLETE
    history, n_events, n_deliveries = _written(store, project_hash)
    assert history[moving] == ["CREATE", "ASSIGN"]  # the racer's, and nothing of ours
    assert history[fine] == history[twice] == history[refused] == ["CREATE", "SUBMIT"]
    assert history[astray] == ["CREATE"]
    assert (n_events, n_deliveries) == (3, 3)  # refused (earlier), fine, twice
    assert _written(store, other_hash)[1:] == (1, 1)
    for p in (project_hash, other_hash):
        assert shown(api, p) == counted(store, p)


def test_a_deadlock_reads_the_group_again(api: Api, store: Store) -> None:
    """PostgreSQL aborts one of two statements that wait on each other: nothing of that
    group was written, so its batches are read again (``TaskMoved``), not failed."""
    project_hash, task_uuids = _project(api, 2)

    def deadlock(_c: Any, _cur: Any, statement: str, *_rest: Any) -> None:
        if statement.startswith("WITH moved AS"):
            orig = psycopg_errors.DeadlockDetected("deadlock detected")
            raise OperationalError(statement, None, orig)

    with listening(store.db.engine, deadlock):
        results = _group(store, _submits(store, project_hash, task_uuids))
    assert all(isinstance(r, TaskMoved) for r in results), results
    assert _written(store, project_hash)[1] == 0
    # through the API the same submit goes through on its next try
    answer = api.act(project_hash, ANNOTATE, [{"task_uuid": task_uuids[0], "action": "SUBMIT"}])
    assert answer["tasks"][0]["stage_uuid"] == COMPLETE


def test_concurrent_submits_through_the_api_all_land(
    api: Api, store: Store, server: tuple[str, Store]
) -> None:
    """Sixteen clients submit at once, two of them the same task: every distinct task
    goes through once, the doubled one is a 409 for one of its two, and the groups
    carried several submits per write."""
    project_hash, task_uuids = _project(api, 15)
    path = f"/api/v1/projects/{project_hash}/workflow/stages/{ANNOTATE}/actions"
    wanted = [*task_uuids, task_uuids[0]]
    start = threading.Barrier(len(wanted))
    answers: dict[int, int] = {}
    writes: list[str] = []

    def count(_c: Any, _cur: Any, statement: str, *_rest: Any) -> None:
        if statement.startswith("WITH moved AS"):
            writes.append(statement)

    def submit(i: int, task_uuid: str) -> None:
        with httpx.Client(base_url=server[0], timeout=30) as http:
            start.wait(timeout=10)
            body = {"actions": [{"task_uuid": task_uuid, "action": "SUBMIT"}]}
            headers = {"authorization": f"Bearer {ADMIN_KEY}"}
            answers[i] = http.post(path, json=body, headers=headers).status_code

    with listening(store.db.engine, count):
        threads = [threading.Thread(target=submit, args=(i, t)) for i, t in enumerate(wanted)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)
    assert sorted(answers.values()) == [200] * 15 + [409], answers
    history, n_events, _ = _written(store, project_hash)
    assert all(history[t] == ["CREATE", "SUBMIT"] for t in task_uuids)
    assert n_events == 15
    assert shown(api, project_hash) == counted(store, project_hash) == {COMPLETE: {"COMPLETED": 15}}
    assert len(writes) <= len(wanted)


def test_a_group_thread_takes_what_is_queued_at_once(store: Store) -> None:
    """The mechanics: items queued while a group runs go out together in the next one,
    each gets its own value or error, and a caller gets an error its item alone raised."""
    release = threading.Event()
    sizes: list[int] = []

    def work_many(_conn: Any, items: Sequence[int]) -> list[Any]:
        sizes.append(len(items))
        if items[0] == 0:
            release.wait(timeout=10)  # the first group holds on while the rest queue
        return [ValueError(f"no {i}") if i == 3 else i * 10 for i in items]

    groups: StatementGroups[int, int] = StatementGroups(
        store.db.statements, work_many, name="test-group", threads=1
    )

    async def main() -> list[Any]:
        first = asyncio.ensure_future(groups.run(0))
        await asyncio.sleep(0.05)  # the thread took item 0 and waits
        rest = [asyncio.ensure_future(groups.run(i)) for i in range(1, 6)]
        await asyncio.sleep(0.05)
        release.set()
        return await asyncio.gather(first, *rest, return_exceptions=True)

    try:
        values = asyncio.run(main())
    finally:
        groups.close()
    assert sizes == [1, 5]
    assert values[:3] == [0, 10, 20] and values[4:] == [40, 50]
    assert isinstance(values[3], ValueError) and str(values[3]) == "no 3"


def _assigns(
    store: Store, project_hash: str, task_uuid: str, assignee: str
) -> tuple[Store, StageBatch]:
    assign = [ActionRequest(task_uuid, Action.ASSIGN, assignee=assignee)]
    return store, StageBatch(project_hash, ANNOTATE, assign, ADMIN, Role.ADMIN)


def test_a_connection_lost_in_a_batchs_own_read_keeps_what_was_written(
    api: Api, store: Store, db_url: str
) -> None:
    """The connection dies in the read one batch makes for itself (whom it may assign):
    that batch, and every one not yet written, gets the connection's error (503
    through the API); a batch of another project written before it stays written, and
    says so."""
    first_hash, (first,) = _project(api, 1, "written first")
    then_hash, (then,) = _project(api, 1, "then lost")
    api.new_user("somebody")

    def cut(cursor: Any) -> None:
        with psycopg.connect(db_url.replace("+psycopg", ""), autocommit=True) as admin:
            admin.execute("SELECT pg_terminate_backend(%s)", (cursor.connection.info.backend_pid,))

    batches = [*_submits(store, first_hash, [first]), _assigns(store, then_hash, then, "somebody")]
    with _before_first(store, "FROM users", cut):
        written, lost = _group(store, batches)
    assert not isinstance(written, BaseException), written
    assert _written(store, first_hash)[1] == 1
    assert isinstance(lost, OperationalError), lost
    assert _written(store, then_hash)[0][then] == ["CREATE"]
    # through the API the same loss is a 503, and the next request works
    with _before_first(store, "FROM users", cut):
        answer = api.raw(
            "POST",
            f"/projects/{then_hash}/workflow/stages/{ANNOTATE}/actions",
            json={"actions": [{"task_uuid": then, "action": "ASSIGN", "assignee": "somebody"}]},
        )
    assert answer.status_code == 503, answer.text
    assert answer.json()["error"]["code"] == "unavailable"
    again = api.act(then_hash, ANNOTATE, [{"task_uuid": then, "action": "SUBMIT"}])
    assert again["tasks"][0]["stage_uuid"] == COMPLETE


def test_a_failed_read_of_one_batch_fails_that_batch_alone(api: Api, store: Store) -> None:
    """A batch's own read fails (here: cancelled by the server), the connection lives
    on: that batch gets the error, the others of its project are written."""
    project_hash, (fine, failing) = _project(api, 2)
    api.new_user("somebody")

    def cancel(_cursor: Any) -> None:
        orig = psycopg_errors.QueryCanceled("canceling statement due to statement timeout")
        raise OperationalError("SELECT ... FROM users", None, orig)

    batches = [
        *_submits(store, project_hash, [fine]),
        _assigns(store, project_hash, failing, "somebody"),
    ]
    with _before_first(store, "FROM users", cancel):
        r_fine, r_failing = _group(store, batches)
    assert isinstance(r_failing, OperationalError)
    assert not isinstance(r_fine, BaseException), r_fine
    history, n_events, _ = _written(store, project_hash)
    assert history[fine] == ["CREATE", "SUBMIT"] and history[failing] == ["CREATE"]
    assert n_events == 1


def test_a_group_locks_its_tasks_in_task_order(api: Api, store: Store, db_url: str) -> None:
    """A locked transaction holds the first task (in task order) and then wants the
    second while a group that arrived second-first waits for the first: the group locks
    in task order too, so it holds nothing the transaction wants; no deadlock."""
    project_hash, task_uuids = _project(api, 2)
    low, high = sorted(task_uuids)
    results: list[Any] = []
    url = db_url.replace("+psycopg", "")
    with psycopg.connect(url) as holder:
        holder.execute("SET lock_timeout = '10s'")
        holder.execute("SELECT 1 FROM tasks WHERE task_uuid = %s FOR UPDATE", (low,))
        group = threading.Thread(
            target=lambda: results.extend(_group(store, _submits(store, project_hash, [high, low])))
        )
        group.start()
        # wait until the group's write waits on the row this transaction holds
        with psycopg.connect(url, autocommit=True) as watch:
            for _ in range(200):
                waiting = watch.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock'"
                ).fetchone()
                if waiting and waiting[0]:
                    break
                threading.Event().wait(0.02)
        holder.execute("SELECT 1 FROM tasks WHERE task_uuid = %s FOR UPDATE", (high,))
        holder.commit()
    group.join(timeout=30)
    assert len(results) == 2 and not any(isinstance(r, BaseException) for r in results), results
    assert _written(store, project_hash)[1] == 2


def test_a_caller_whose_event_loop_closed_does_not_strand_the_others(store: Store) -> None:
    """A request given up on (its loop closed before its group ran) must not stop the
    group thread: the next caller, on another loop, still gets its answer."""
    release = threading.Event()

    def work_many(_conn: Any, items: Sequence[int]) -> list[Any]:
        release.wait(timeout=10)
        return [i * 10 for i in items]

    groups: StatementGroups[int, int] = StatementGroups(
        store.db.statements, work_many, name="test-group", threads=1
    )

    async def give_up() -> None:
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(groups.run(1), timeout=0.05)

    async def ask() -> int:
        return await asyncio.wait_for(groups.run(2), timeout=10)

    try:
        asyncio.run(give_up())  # its loop is closed once this returns
        release.set()
        assert asyncio.run(ask()) == 20
    finally:
        groups.close()


def test_a_submit_on_connections_the_server_dropped_reads_again_on_fresh_ones(
    undispatched: tuple[Api, Store], db_url: str
) -> None:
    """The server dropped every connection while they sat in the pool (a restart, a
    failover). A submit whose key and role are cached reads no epoch of its own (whose
    connection would have found the loss and renewed the pool first): its group's read
    finds the connection dead before anything is written, the pool starts afresh, and
    the submit reads again on a fresh connection, written once. (No dispatcher: its
    cycles would meet the dead connections first, and SQLAlchemy then retires the pool.)"""
    api, store = undispatched
    project_hash, (first, then) = _project(api, 2, "dropped")
    path = f"/projects/{project_hash}/workflow/stages/{ANNOTATE}/actions"
    body = {"actions": [{"task_uuid": first, "action": "SUBMIT"}]}
    assert api.raw("POST", path, json=body).status_code == 200  # the key and role cached
    with psycopg.connect(db_url.replace("+psycopg", ""), autocommit=True) as admin:
        dropped = admin.execute(
            "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        ).fetchall()
    assert dropped, "the pool's connections were found and dropped"
    body = {"actions": [{"task_uuid": then, "action": "SUBMIT"}]}
    answer = api.raw("POST", path, json=body)
    assert answer.status_code == 200, answer.text
    assert _written(store, project_hash)[0][then] == ["CREATE", "SUBMIT"]

"""A batch at a stage costs one read statement, and on PostgreSQL one write statement.

psycopg spends about 50 µs of CPU per statement here, more than PostgreSQL spends on
most of them, so the submit reads what it needs in one statement and writes the whole
transition (tasks, history, counts, events, deliveries) in one. SQLite's driver costs a
few µs a statement and SQLite has no ``INSERT`` inside ``WITH``: it writes table by
table. Either way every row lands, exactly as before.
"""

from __future__ import annotations

import threading
from typing import Any

import psycopg
import pytest
from sqlalchemy import event, func, select

from stagehook.store.access import Principal, Role
from stagehook.store.context import Store
from stagehook.store.tables import deliveries, events, task_history
from stagehook.store.tasks import OPTIMISTIC_TRIES, apply_stage_actions
from stagehook.workflow.stages import Action
from stagehook.workflow.task_machine import ActionRequest
from tests.support.api import Api
from tests.support.counts import counted, shown
from tests.support.plans import plan
from tests.support.statements import captured
from tests.support.workflows import ANNOTATE, COMPLETE, submit_to_complete_workflow

#: the threads a write transaction runs on (store/group_commit.py)
_WRITERS = ("stagehook-write", "stagehook-group-commit")


def test_a_submit_is_one_read_and_one_write(api: Api, store: Store) -> None:
    dataset_hash, _ = api.dataset_with_units(3)
    flow = submit_to_complete_workflow(
        annotate_webhook="http://127.0.0.1:9/submitted",
        complete_webhook="http://127.0.0.1:9/completed",
    )
    project_hash = api.create_project("one write", [dataset_hash], workflow=flow)["project_hash"]
    first, second, _third = api.tasks(project_hash)
    seen: list[str] = []

    def capture(_c: Any, _cur: Any, statement: str, *_rest: Any) -> None:
        if threading.current_thread().name.startswith(_WRITERS):
            seen.append(" ".join(statement.split())[:40])

    event.listen(store.db.engine, "before_cursor_execute", capture)
    try:
        submitted = api.act(
            project_hash, ANNOTATE, [{"task_uuid": first["task_uuid"], "action": "SUBMIT"}]
        )
    finally:
        event.remove(store.db.engine, "before_cursor_execute", capture)

    postgresql = store.db.engine.dialect.name == "postgresql"
    assert seen[0].startswith("SELECT CAST(p.workflow AS TEXT)"), seen
    if postgresql:
        assert len(seen) == 2 and seen[1].startswith("WITH moved AS (UPDATE tasks"), seen
    else:
        assert len(seen) == 6, seen  # tasks, history, counts, events, deliveries
    # ... and every row is there: the move, its history, both events, a delivery each
    assert submitted["tasks"][0]["stage_uuid"] == COMPLETE
    uids = submitted["event_uids"]
    assert len(uids) == 2
    with store.db.read() as conn:
        assert conn.execute(select(func.count()).where(events.c.uid.in_(uids))).scalar_one() == 2
        assert (
            conn.execute(select(func.count()).where(deliveries.c.event_uid.in_(uids))).scalar_one()
            == 2
        )
        actions = conn.execute(
            select(task_history.c.action, task_history.c.to_stage)
            .where(task_history.c.task_uuid == first["task_uuid"])
            .order_by(task_history.c.id)
        ).all()
    assert [tuple(a) for a in actions] == [("CREATE", ANNOTATE), ("SUBMIT", COMPLETE)]
    assert shown(api, project_hash) == counted(store, project_hash)
    # a batch of two in the same shape
    api.act(
        project_hash,
        ANNOTATE,
        [{"task_uuid": t["task_uuid"], "action": "SUBMIT"} for t in (second, _third)],
    )
    assert shown(api, project_hash) == counted(store, project_hash) == {COMPLETE: {"COMPLETED": 3}}


def _submit_racing(api: Api, store: Store, racing: Action) -> tuple[str, str, Any]:
    """A single-task SUBMIT through the API while another transaction (``racing`` on
    the same task, by user ``racer``, committed on another connection) runs just before
    the submit's write: the task moves between the optimistic read and the write.
    Returns the project, the task and the submit's answer."""
    dataset_hash, _ = api.dataset_with_units(1)
    flow = submit_to_complete_workflow(annotate_webhook="http://127.0.0.1:9/submitted")
    project_hash = api.create_project("race", [dataset_hash], workflow=flow)["project_hash"]
    task_uuid = api.tasks(project_hash)[0]["task_uuid"]
    racer = Principal("racer-id", "racer", is_admin=True)
    done: list[bool] = []

    def race(_c: Any, _cur: Any, statement: str, *_rest: Any) -> None:
        if not done and statement.startswith("WITH moved AS"):
            done.append(True)
            change = [ActionRequest(task_uuid, racing)]
            apply_stage_actions(store, project_hash, ANNOTATE, change, racer, Role.ADMIN)

    event.listen(store.db.engine, "before_cursor_execute", race)
    try:
        answer = api.raw(
            "POST",
            f"/projects/{project_hash}/workflow/stages/{ANNOTATE}/actions",
            json={"actions": [{"task_uuid": task_uuid, "action": "SUBMIT"}]},
        )
    finally:
        event.remove(store.db.engine, "before_cursor_execute", race)
    assert done, "the race did not run"
    return project_hash, task_uuid, answer


def _written(store: Store, project_hash: str, task_uuid: str) -> tuple[list[Any], int]:
    """The task's history (action, from_status, actor) and the project's event count."""
    with store.db.read() as conn:
        history = conn.execute(
            select(task_history.c.action, task_history.c.from_status, task_history.c.actor)
            .where(task_history.c.task_uuid == task_uuid)
            .order_by(task_history.c.id)
        ).all()
        events_written = conn.execute(
            select(func.count()).where(events.c.project_hash == project_hash)
        ).scalar_one()
    return [tuple(h) for h in history], events_written


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_a_task_moved_between_read_and_write_is_read_again(api: Api, store: Store) -> None:
    """PostgreSQL's single-task submit reads without a lock: if another transaction
    moves the task before the write, the write changes nothing and the submit reads
    again, and acts on what it finds (here: the task is now assigned; the admin's
    submit still goes through, from the new state)."""
    project_hash, task_uuid, answer = _submit_racing(api, store, Action.ASSIGN)
    assert answer.status_code == 200, answer.text
    assert answer.json()["tasks"][0]["stage_uuid"] == COMPLETE
    history, events_written = _written(store, project_hash, task_uuid)
    # the submit was computed again from the assigned state, not written over it
    assert [h[:2] for h in history] == [("CREATE", None), ("ASSIGN", "NEW"), ("SUBMIT", "ASSIGNED")]
    assert history[1][2] == "racer"
    assert events_written == 1  # the first try wrote nothing
    assert shown(api, project_hash) == counted(store, project_hash) == {COMPLETE: {"COMPLETED": 1}}


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_a_task_submitted_meanwhile_is_a_conflict_with_nothing_written(
    api: Api, store: Store
) -> None:
    project_hash, task_uuid, answer = _submit_racing(api, store, Action.SUBMIT)
    assert answer.status_code == 409, answer.text
    history, events_written = _written(store, project_hash, task_uuid)
    assert [(h[0], h[2]) for h in history if h[0] == "SUBMIT"] == [("SUBMIT", "racer")]
    assert events_written == 1
    assert shown(api, project_hash) == counted(store, project_hash) == {COMPLETE: {"COMPLETED": 1}}


def _single_task_project(api: Api) -> tuple[str, str]:
    dataset_hash, _ = api.dataset_with_units(1)
    flow = submit_to_complete_workflow(annotate_webhook="http://127.0.0.1:9/submitted")
    project_hash = api.create_project("one", [dataset_hash], workflow=flow)["project_hash"]
    return project_hash, api.tasks(project_hash)[0]["task_uuid"]


def _submit(api: Api, project_hash: str, task_uuid: str) -> Any:
    return api.raw(
        "POST",
        f"/projects/{project_hash}/workflow/stages/{ANNOTATE}/actions",
        json={"actions": [{"task_uuid": task_uuid, "action": "SUBMIT"}]},
    )


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_a_connection_lost_in_the_write_is_a_503_and_the_pool_recovers(
    api: Api, store: Store, db_url: str
) -> None:
    """The optimistic write's connection is cut by the server: the caller gets a 503
    (nothing was stored), and the next submit works on a fresh connection."""
    project_hash, task_uuid = _single_task_project(api)
    cut: list[int] = []

    def cut_connection(_c: Any, cursor: Any, statement: str, *_rest: Any) -> None:
        if not cut and statement.startswith("WITH moved AS"):
            cut.append(cursor.connection.info.backend_pid)
            with psycopg.connect(db_url.replace("+psycopg", ""), autocommit=True) as admin:
                admin.execute("SELECT pg_terminate_backend(%s)", (cut[0],))

    event.listen(store.db.engine, "before_cursor_execute", cut_connection)
    try:
        answer = _submit(api, project_hash, task_uuid)
    finally:
        event.remove(store.db.engine, "before_cursor_execute", cut_connection)
    assert cut and answer.status_code == 503, answer.text
    assert answer.json()["error"]["code"] == "unavailable"
    assert _written(store, project_hash, task_uuid)[1] == 0  # no event
    again = _submit(api, project_hash, task_uuid)
    assert again.status_code == 200, again.text
    assert _written(store, project_hash, task_uuid)[1] == 1


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_a_task_that_keeps_moving_is_taken_with_its_row_lock(api: Api, store: Store) -> None:
    """Every optimistic try loses (the task's assignee changes before each write, and
    only the assignee: the compare-and-set covers it): after ``OPTIMISTIC_TRIES`` the
    submit takes the row lock, as a batch of several tasks does, and goes through."""
    project_hash, task_uuid = _single_task_project(api)
    writes: list[str] = []
    people = iter(f"person{i}" for i in range(OPTIMISTIC_TRIES))

    racing: list[bool] = []

    def reassign(_c: Any, _cur: Any, statement: str, *_rest: Any) -> None:
        if racing or not statement.startswith("WITH moved AS"):
            return  # the racer's own write
        writes.append(statement)
        person = next(people, None)
        if person is not None:  # another user takes the task over, status ASSIGNED kept
            racer = Principal("racer-id", person, is_admin=True)
            take = [ActionRequest(task_uuid, Action.ASSIGN, assignee=person)]
            racing.append(True)
            try:
                apply_stage_actions(store, project_hash, ANNOTATE, take, racer, Role.ADMIN)
            finally:
                racing.clear()

    api.act(project_hash, ANNOTATE, [{"task_uuid": task_uuid, "action": "ASSIGN"}])
    event.listen(store.db.engine, "before_cursor_execute", reassign)
    try:
        answer = _submit(api, project_hash, task_uuid)
    finally:
        event.remove(store.db.engine, "before_cursor_execute", reassign)
    assert answer.status_code == 200, answer.text
    # the submit's writes: the tries that lost, then the locked one
    assert len(writes) == OPTIMISTIC_TRIES + 1
    history, events_written = _written(store, project_hash, task_uuid)
    assert [h[0] for h in history] == ["CREATE", "ASSIGN"] + ["ASSIGN"] * OPTIMISTIC_TRIES + [
        "SUBMIT"
    ]
    assert events_written == 1


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_the_write_finds_its_tasks_by_key_whatever_the_project_size(api: Api, store: Store) -> None:
    """The planner takes the write's JSON rows for 100; against a table of a few
    thousand tasks it then read every task to move one. The statement finds its
    tasks by key."""
    dataset_hash, _ = api.dataset_with_units(3000)
    flow = submit_to_complete_workflow(annotate_webhook="http://127.0.0.1:9/submitted")
    project_hash = api.create_project("by key", [dataset_hash], workflow=flow)["project_hash"]
    task = api.tasks(project_hash)[0]
    with captured(store.db.engine, "WITH moved AS") as seen:
        api.act(project_hash, ANNOTATE, [{"task_uuid": task["task_uuid"], "action": "SUBMIT"}])
    assert len(seen) == 1
    lines = plan(store.db.engine, *seen[0])
    assert not [line for line in lines if "Seq Scan on tasks" in line], lines
    assert any("uq_tasks_task_uuid" in line for line in lines), lines

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

from sqlalchemy import event, func, select

from stagehook.store.context import Store
from stagehook.store.tables import deliveries, events, task_history
from tests.support.api import Api
from tests.support.counts import counted, shown
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

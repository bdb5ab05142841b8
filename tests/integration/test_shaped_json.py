"""Routes that send the store's shape as it is (api/shaped_json.py) answer exactly the
bytes their declared ``response_model`` would have produced, on both backends."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import BaseModel
from sqlalchemy import literal, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.exc import CompileError

from stagehook.api.public import ProjectsPage, TasksPage
from stagehook.store import projects, tasks
from stagehook.store.access import Principal
from stagehook.store.context import Store
from stagehook.store.db import Database
from stagehook.store.json_rows import PAGES_JOIN_IN_SQL, as_utf8, joined, json_object
from stagehook.store.tables import tasks as tasks_table
from tests.support.api import Api
from tests.support.workflows import ANNOTATE, basic_workflow

#: Assignees the database must escape the way pydantic does (set straight in the table:
#: the API would refuse most of them as user names).
HOSTILE = [
    'quote " and back\\slash',
    "zoë 東京 😀",
    "control \x01\x1f new\nline\ttab\r",
    "</script><!-- / -->",
    "del \x7f",
]


def model_bytes(model: type[BaseModel], data: dict[str, Any]) -> bytes:
    """What FastAPI sends for ``data`` under ``response_model=model``."""
    return model.model_validate(data).model_dump_json().encode()


def test_task_pages_are_the_model_bytes(api: Api, store: Store) -> None:
    dataset_hash, _ = api.dataset_with_units(12)
    project_hash = api.create_project("shaped", [dataset_hash], workflow=basic_workflow())[
        "project_hash"
    ]
    uuids = [t["task_uuid"] for t in api.tasks(project_hash)]
    api.act(project_hash, ANNOTATE, [{"task_uuid": uuids[0], "action": "ASSIGN"}])
    with store.db.write() as conn:
        for uuid, name in zip(uuids[1:], HOSTILE, strict=False):
            conn.execute(
                update(tasks_table).where(tasks_table.c.task_uuid == uuid).values(assignee=name)
            )

    queries: list[dict[str, Any]] = [
        {"limit": 500},
        {"limit": 5},
        {"limit": 1, "status": "ASSIGNED"},
        {"limit": 3, "stage_uuid": ANNOTATE},
        {"limit": 2, "stage_uuid": ANNOTATE, "status": "NEW"},
        {"limit": 5, "stage_uuid": "no-such-stage"},
    ]
    seen = 0
    for query in queries:
        cursor: str | None = None
        while True:
            params = {**query, **({"cursor": cursor} if cursor else {})}
            response = api.raw("GET", f"/projects/{project_hash}/tasks", params=params)
            assert response.status_code == 200, response.text
            assert response.headers["content-type"] == "application/json"
            page, cursor = tasks.list_tasks(
                store,
                project_hash,
                stage_uuid=query.get("stage_uuid"),
                status=query.get("status"),
                limit=query["limit"],
                cursor=params.get("cursor"),
            )
            expected = model_bytes(TasksPage, {"tasks": page, "next_cursor": cursor})
            assert response.content == expected
            seen += len(page)
            if cursor is None:
                break
    assert seen > 12  # every query paged through something, the hostile names included
    assert {t.assignee for t in api.tasks(project_hash)} >= set(HOSTILE)


def test_project_pages_are_the_model_bytes(api: Api, store: Store) -> None:
    dataset_hash, _ = api.dataset_with_units(1)
    for title in ["one", 'two "quoted" ☃', "three"]:
        api.create_project(title, [dataset_hash], workflow=basic_workflow())
    admin = Principal(user_id="", username="admin", is_admin=True)
    cursor: str | None = None
    for _ in range(4):
        params = {"limit": 2, **({"cursor": cursor} if cursor else {})}
        response = api.raw("GET", "/projects", params=params)
        assert response.status_code == 200, response.text
        page, next_cursor = projects.list_projects(store, admin, 2, params.get("cursor"))
        assert response.content == model_bytes(
            ProjectsPage, {"projects": page, "next_cursor": next_cursor}
        )
        cursor = next_cursor
        if cursor is None:
            break
    else:
        pytest.fail("the project pages did not end")


def test_json_object_takes_text_and_integer_columns_only() -> None:
    with pytest.raises(TypeError, match="text and integer"):
        json_object(tasks_table.c.task_uuid, tasks_table.c.updated_at)


def test_rows_are_joined_in_sql_only_where_the_order_is_kept() -> None:
    query = select(joined(json_object(tasks_table.c.task_uuid), tasks_table.c.seq))
    assert "ORDER BY tasks.seq" in str(query.compile(dialect=postgresql.dialect()))
    assert "postgresql" in PAGES_JOIN_IN_SQL and "sqlite" not in PAGES_JOIN_IN_SQL
    with pytest.raises(CompileError, match="cannot join rows in order"):
        query.compile(dialect=sqlite.dialect())


def test_as_utf8_hands_text_over_as_its_utf8_bytes(migrated_db: Database) -> None:
    """The SQLite page's rows arrive as bytes to join (``list_tasks_json``); the same
    bytes as encoding the text in Python, hostile text included, on both backends."""
    texts = [*HOSTILE, "", "plain"]
    with migrated_db.read() as conn:
        for text in texts:
            got = conn.execute(select(as_utf8(literal(text)))).scalar_one()
            assert isinstance(got, bytes) and got == text.encode(), text

"""Prepared statements (store/prepared.py) behave as ``conn.execute`` would, on both backends."""

from __future__ import annotations

import base64
import contextlib
from collections.abc import Iterator

import pytest
from sqlalchemy import bindparam, event, insert, select, text
from sqlalchemy.exc import IntegrityError

from stagehook.store.db import Database
from stagehook.store.prepared import Prepared, json_param, json_rows
from stagehook.store.tables import auth_epoch, events, workflow_templates

_EVENT = Prepared(
    insert(events).values(
        {
            c: bindparam(c)
            for c in ("uid", "project_hash", "stage_uuid", "event_type", "body", "created_at")
        }
    )
)
_BODY = Prepared(select(events.c.body).where(events.c.uid == bindparam("uid")))
_TEMPLATE = Prepared(
    insert(workflow_templates).values(
        template_hash=bindparam("h"), title="t", workflow=bindparam("w"), created_at=0.0
    )
)
_WORKFLOW = Prepared(
    select(workflow_templates.c.workflow).where(workflow_templates.c.template_hash == "h1")
)


@pytest.fixture
def db(migrated_db: Database) -> Database:
    return migrated_db


@contextlib.contextmanager
def _statements(db: Database) -> Iterator[list[tuple[str, bool]]]:
    """What ``before_cursor_execute`` listeners see meanwhile: (SQL, executemany)."""
    seen: list[tuple[str, bool]] = []

    def listen(_c: object, _cur: object, sql: str, _p: object, _ctx: object, many: bool) -> None:
        seen.append((sql, many))

    event.listen(db.engine, "before_cursor_execute", listen)
    try:
        yield seen
    finally:
        event.remove(db.engine, "before_cursor_execute", listen)


def _event(uid: str) -> dict[str, object]:
    return {
        "uid": uid,
        "project_hash": "p",
        "stage_uuid": "s",
        "event_type": "task_submitted_event",
        "body": b'{"uid": "' + uid.encode() + b'"}',
        "created_at": 1.5,
    }


def test_rows_come_back_as_the_core_statement_reads_them(db: Database) -> None:
    with db.write() as conn:
        _EVENT.run_many(conn, [_event("a"), _event("b")])
        # a value the statement carries itself (auth_epoch.id == 1) is bound too
        epoch = Prepared(select(auth_epoch.c.value).where(auth_epoch.c.id == 1))
        assert epoch.first(conn, {}) == (0,)
        # a JSON column: the bind processor encodes, the result processor decodes
        _TEMPLATE.run(conn, {"h": "h1", "w": {"stages": [1, "x"]}})
        assert _WORKFLOW.rows(conn, {}) == [({"stages": [1, "x"]},)]
    with db.read() as conn:
        (body,) = _BODY.first(conn, {"uid": "b"}) or (None,)
        assert bytes(body) == b'{"uid": "b"}'
        assert conn.execute(select(events.c.body).where(events.c.uid == "a")).scalar_one()


def test_runs_inside_the_callers_transaction(db: Database) -> None:
    with pytest.raises(RuntimeError), db.write() as conn:
        _EVENT.run(conn, _event("gone"))
        raise RuntimeError("roll back")
    with db.read() as conn:
        assert _BODY.first(conn, {"uid": "gone"}) is None


def test_driver_errors_are_sqlalchemys(db: Database) -> None:
    with db.write() as conn:
        _EVENT.run(conn, _event("dup"))
    with pytest.raises(IntegrityError), db.write() as conn:
        _EVENT.run(conn, _event("dup"))


def test_an_in_list_is_refused_at_the_first_run(db: Database) -> None:
    statement = Prepared(
        select(events.c.uid).where(events.c.uid.in_(bindparam("u", expanding=True)))
    )
    with db.read() as conn, pytest.raises(TypeError, match="expanding"):
        statement.rows(conn, {"u": ["a"]})


_EVENTS_FROM_JSON = Prepared(
    text(
        "INSERT INTO events (uid, project_hash, stage_uuid, event_type, body, created_at) "
        "SELECT r.uid, r.project_hash, r.stage_uuid, r.event_type, decode(r.body, 'base64'), "
        "r.created_at FROM "
        + json_rows(
            "rows",
            [
                ("uid", "text"),
                ("project_hash", "text"),
                ("stage_uuid", "text"),
                ("event_type", "text"),
                ("body", "text"),
                ("created_at", "float8"),
            ],
        )
    )
)


@pytest.mark.parametrize("count", [0, 1, 3])
def test_rows_from_one_json_parameter_arrive_exactly(migrated_db: Database, count: int) -> None:
    """``json_rows`` (PostgreSQL): texts beyond ASCII, NULL-free bytes as base64 and
    float timestamps come out exactly as they went in, whatever the row count."""
    if not migrated_db.url.startswith("postgresql"):
        pytest.skip("SQLite writes a transition statement by statement")
    body = '{"name": "Zoë ✓ 🚀", "q": "\\u0000 \\"x\\""}'.encode()
    rows = [
        {
            "uid": f"j{i}",
            "project_hash": "p ✓",
            "stage_uuid": "s",
            "event_type": "e",
            "body": base64.b64encode(body + bytes([i, 255])).decode(),
            "created_at": 1796020716.0188575 + i / 3,
        }
        for i in range(count)
    ]
    with migrated_db.write() as conn:
        _EVENTS_FROM_JSON.run(conn, {"rows": json_param(rows)})
    with migrated_db.read() as conn:
        stored = conn.execute(
            select(events.c.uid, events.c.project_hash, events.c.body, events.c.created_at)
            .where(events.c.uid.like("j%"))
            .order_by(events.c.uid)
        ).all()
    assert [(r.uid, r.project_hash, bytes(r.body), r.created_at) for r in stored] == [
        (f"j{i}", "p ✓", body + bytes([i, 255]), 1796020716.0188575 + i / 3) for i in range(count)
    ]


def test_cursor_listeners_see_prepared_statements(db: Database) -> None:
    """Tracing and the query-plan test listen on ``before_cursor_execute``."""
    with _statements(db) as seen, db.read() as conn:
        _BODY.first(conn, {"uid": "x"})
    assert any("FROM events" in sql for sql, _many in seen)


def test_a_dialect_runs_its_own_spelling_of_a_statement(db: Database) -> None:
    """``Prepared(statement, postgresql=...)``: one plan per dialect, from its own text."""
    spelled = Prepared(
        text("SELECT :x || ' on sqlite'"), postgresql=text("SELECT :x || ' on postgresql'")
    )
    with db.read() as conn:
        assert spelled.first(conn, {"x": "runs"}) == (f"runs on {conn.dialect.name}",)


_UIDS = Prepared.sql("SELECT uid FROM events WHERE uid IN_LIST(uids) ORDER BY uid")
_BY_SIZE = Prepared.sql(
    "SELECT uid FROM events WHERE length(body) IN_LIST(sizes) AND uid IN_LIST(uids) ORDER BY uid"
)


def test_a_list_parameter_is_one_constant_text_on_both_backends(db: Database) -> None:
    """``IN_LIST(name)`` takes a plain list (strings or numbers), of any length, and the
    driver sees the same SQL text whatever the length (no expanding ``IN``)."""
    with db.write() as conn:
        _EVENT.run_many(conn, [_event(uid) for uid in ("l1", "l2", "l3")])
    with _statements(db) as seen, db.read() as conn:
        assert _UIDS.rows(conn, {"uids": ["l3", "l1", "none"]}) == [("l1",), ("l3",)]
        assert _UIDS.rows(conn, {"uids": ["l2"]}) == [("l2",)]
        assert _UIDS.rows(conn, {"uids": []}) == []
        size = len(b'{"uid": "l1"}')  # every body here is as long
        assert _BY_SIZE.rows(conn, {"sizes": [size, 1], "uids": ["l2", "l3"]}) == [
            ("l2",),
            ("l3",),
        ]
    texts = {sql for sql, _many in seen[:3]}
    assert len(texts) == 1
    assert "IN_LIST" not in texts.pop()


def test_a_hand_written_write_runs_many_rows_in_one_call(db: Database) -> None:
    """``run_many`` on ``Prepared.sql``: one executemany, in the caller's transaction."""
    insert_event = Prepared.sql(
        "INSERT INTO events (uid, project_hash, stage_uuid, event_type, body, created_at)"
        " VALUES (:uid, :project_hash, :stage_uuid, :event_type, :body, :created_at)"
    )
    with _statements(db) as seen, db.write() as conn:
        insert_event.run_many(conn, [_event("m1"), _event("m2"), _event("m3")])
    assert [many for _sql, many in seen] == [True]
    with db.read() as conn:
        assert _UIDS.rows(conn, {"uids": ["m1", "m2", "m3"]}) == [("m1",), ("m2",), ("m3",)]

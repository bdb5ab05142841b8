"""What PostgreSQL's planner does with a statement the code ran, as it would run it."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Engine, event


@contextlib.contextmanager
def captured(engine: Engine, starts: str) -> Iterator[list[tuple[str, Any]]]:
    """Every statement (with its parameters) run on ``engine`` meanwhile that starts
    with ``starts``."""
    seen: list[tuple[str, Any]] = []

    def capture(_c: Any, _cur: Any, statement: str, params: Any, *_rest: Any) -> None:
        if statement.lstrip().startswith(starts):
            seen.append((statement, params))

    event.listen(engine, "before_cursor_execute", capture)
    try:
        yield seen
    finally:
        event.remove(engine, "before_cursor_execute", capture)


def plan(engine: Engine, statement: str, params: Any) -> list[str]:
    """The lines of ``EXPLAIN`` for ``statement`` with ``params``, the planner's own
    choice (no setting changed); nothing of it runs."""
    with engine.connect() as conn, conn.begin():
        lines = [r[0] for r in conn.exec_driver_sql("EXPLAIN " + statement, params)]
        conn.rollback()
    return lines

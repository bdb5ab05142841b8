"""What PostgreSQL's planner does with a statement the code ran, as it would run it."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Engine


def plan(engine: Engine, statement: str, params: Any) -> list[str]:
    """The lines of ``EXPLAIN`` for ``statement`` with ``params``, the planner's own
    choice (no setting changed); nothing of it runs."""
    with engine.connect() as conn, conn.begin():
        lines = [r[0] for r in conn.exec_driver_sql("EXPLAIN " + statement, params)]
        conn.rollback()
    return lines

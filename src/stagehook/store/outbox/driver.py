"""The delivery queue's hot statements as constant strings, run on the driver directly.

The dispatcher runs the same few statements for every cycle of claims and results. As
SQLAlchemy expressions each execution paid for building the expression, walking it for
a cache key and processing parameters; a profile of a batched run showed more time
there than in the databases. Here a statement is written once, with ``:name``
parameters, rendered once per dialect and run with ``exec_driver_sql``: no compilation
per call, and psycopg prepares a statement on the server after a few executions of the
same text (``prepare_threshold``), so PostgreSQL plans it once per connection.

A list parameter keeps the text constant too: ``IN_LIST(name)`` renders as
``= ANY(%(name)s)`` (an array) on PostgreSQL and ``IN (SELECT value FROM
json_each(:name))`` (a JSON array) on SQLite; pass it through :func:`as_list`.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, CursorResult

_LIST = re.compile(r"IN_LIST\((\w+)\)")
_PARAM = re.compile(r"(?<![:\w]):(\w+)")


@functools.cache
def render(statement: str, postgresql: bool) -> str:
    """``statement`` in the driver's own parameter style (cached: texts are constant)."""
    if postgresql:
        text = _LIST.sub(r"= ANY(:\1)", statement)
        return _PARAM.sub(r"%(\1)s", text)
    return _LIST.sub(r"IN (SELECT value FROM json_each(:\1))", statement)


def is_postgresql(conn: Connection) -> bool:
    return conn.dialect.name == "postgresql"


def as_list(conn: Connection, values: Iterable[object]) -> object:
    """A value for an ``IN_LIST(...)`` parameter."""
    items = list(values)
    return items if is_postgresql(conn) else json.dumps(items)


def run(
    conn: Connection, statement: str, params: dict[str, Any] | list[dict[str, Any]]
) -> CursorResult[Any]:
    """Execute ``statement`` once (a dict) or once per dict of a list (executemany)."""
    return conn.exec_driver_sql(render(statement, is_postgresql(conn)), params)


def columns(rows: list[dict[str, Any]], **scalars: Any) -> dict[str, Any]:
    """Rows as one list per column (PostgreSQL ``unnest``); ``scalars`` are passed as is."""
    names = [name for name in rows[0] if name not in scalars] if rows else []
    return {**{name: [row[name] for row in rows] for name in names}, **scalars}

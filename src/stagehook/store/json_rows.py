"""Rows the database renders as JSON objects, for pages sent as they are.

``json_object(col, ...)`` is a column whose value is the row as compact JSON text,
``{"col":value,...}``, keys in the order given: SQLite's ``json_object``, and on
PostgreSQL the same text concatenated from ``to_json`` of each value
(``json_build_object`` would put spaces around every colon). A page of 500 rows then
reaches Python as 500 strings instead of 500 rows turned into dicts and then into JSON
(docs/performance.md). Only text and integer columns: the two databases write those
exactly as pydantic would, while floats are rounded by SQLite's ``json_object`` (15
digits) and booleans are 0/1 there.

``joined(item, order_by)`` is an aggregate joining a page's items with commas, in order,
so a page reaches Python as one string: PostgreSQL's ``string_agg(... ORDER BY ...)``.
SQLite before 3.44 has no ORDER BY inside an aggregate and documents ``group_concat``'s
order as arbitrary, so there the rows are joined in Python (``PAGES_JOIN_IN_SQL``):
``as_utf8(json_object(...))`` hands each row's text over as its UTF-8 bytes, so the
page is one ``b",".join`` and is never decoded or encoded again.
"""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import Column, ColumnElement, Integer, LargeBinary, String
from sqlalchemy.exc import CompileError
from sqlalchemy.ext.compiler import compiles
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.functions import FunctionElement

_KEY = re.compile(r"[a-z_][a-z0-9_]*")


class json_object(FunctionElement[str]):  # a SQL function, named like one
    """The row's ``columns`` as one compact JSON object (text), keys = column names."""

    type = String()
    name = "json_object"
    inherit_cache = True

    def __init__(self, *columns: Column[Any]) -> None:
        for column in columns:
            if not isinstance(column.type, String | Integer) or not _KEY.fullmatch(column.name):
                raise TypeError(f"json_object renders text and integer columns only: {column}")
        super().__init__(*columns)


def _key(name: str, first: bool) -> str:
    return "'" + ("{" if first else ",") + f'"{name}":' + "'"


@compiles(json_object, "sqlite")
def _sqlite(element: json_object, compiler: SQLCompiler, **kw: Any) -> str:
    pairs = (f"'{c.name}', {compiler.process(c, **kw)}" for c in element.clauses)
    return f"json_object({', '.join(pairs)})"


@compiles(json_object, "postgresql")
def _postgresql(element: json_object, compiler: SQLCompiler, **kw: Any) -> str:
    parts = [
        f"{_key(c.name, i == 0)} || coalesce(to_json({compiler.process(c, **kw)})::text, 'null')"
        for i, c in enumerate(element.clauses)
    ]
    return "(" + " || ".join([*parts, "'}'"]) + ")"


class as_utf8(FunctionElement[bytes]):  # a SQL function, named like one
    """``text`` as its UTF-8 bytes, which the driver returns as ``bytes``: SQLite's
    ``CAST(... AS BLOB)`` (the bytes as stored), PostgreSQL's ``convert_to`` (a cast to
    ``bytea`` there would read backslashes as escapes)."""

    type = LargeBinary()
    name = "as_utf8"
    inherit_cache = True

    def __init__(self, text: ColumnElement[str]) -> None:
        super().__init__(text)


@compiles(as_utf8, "sqlite")
def _as_utf8_sqlite(element: as_utf8, compiler: SQLCompiler, **kw: Any) -> str:
    return f"CAST({compiler.process(element.clauses, **kw)} AS BLOB)"


@compiles(as_utf8, "postgresql")
def _as_utf8_postgresql(element: as_utf8, compiler: SQLCompiler, **kw: Any) -> str:
    return f"convert_to({compiler.process(element.clauses, **kw)}, 'UTF8')"


#: Dialects whose ``joined`` keeps the order (the others join rows in Python).
PAGES_JOIN_IN_SQL = frozenset({"postgresql"})


class joined(FunctionElement[str]):  # an aggregate, named like one
    """``item`` of every row, ordered by ``order_by``, joined with commas (NULL: no rows)."""

    type = String()
    name = "joined"
    inherit_cache = True

    def __init__(self, item: ColumnElement[str], order_by: ColumnElement[Any]) -> None:
        super().__init__(item, order_by)


@compiles(joined)
def _joined_unordered(element: joined, compiler: SQLCompiler, **kw: Any) -> str:
    raise CompileError(f"{compiler.dialect.name} cannot join rows in order: join them in Python")


@compiles(joined, "postgresql")
def _joined_postgresql(element: joined, compiler: SQLCompiler, **kw: Any) -> str:
    item, order_by = (compiler.process(c, **kw) for c in element.clauses)
    return f"string_agg({item}, ',' ORDER BY {order_by})"

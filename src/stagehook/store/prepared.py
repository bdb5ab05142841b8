"""The hot path's statements, compiled once per dialect and run on the driver's cursor.

A cached Core statement still costs SQLAlchemy about 30 µs per execute on this machine
(cache key, execution context, result metadata) on top of SQLite's 3 µs for a primary-key
read; a submit runs a dozen of them, so SQLAlchemy was a quarter of a submit's CPU. A
``Prepared`` keeps the Core statement as the one definition (tables, columns, dialects
all come from SQLAlchemy), compiles it once per dialect, and then hands the SQL string
and parameters straight to the DBAPI cursor of the caller's connection, **inside the
caller's transaction**. psycopg prepares a statement on the server after a few runs of
the same SQL, so on PostgreSQL these are server-side prepared statements too.

What SQLAlchemy would do per execute is done here too: the compiled statement's bind
and result processors run (none of the hot statements needs one today, but a column
type that does is handled, not silently skipped), and driver errors come out as
SQLAlchemy's exception classes, so callers catch the same errors either way. Column
defaults are *not* applied: a prepared INSERT names every value it writes.

A statement may be spelled differently per dialect (the same parameters, one ``text()``
or Core statement per dialect name), and :meth:`Prepared.sql` takes hand-written SQL with
list parameters, ``IN_LIST(name)``: ``= ANY(:name)`` with an array on PostgreSQL,
``IN (SELECT value FROM json_each(:name))`` with the list as JSON on SQLite. The caller
passes a plain list on both; the text stays constant per dialect, whatever the length.

Only for statements whose cost matters (the request path, the dispatcher's cycle);
everything else uses ``conn.execute``.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import psycopg
from sqlalchemy import JSON, Connection, bindparam, text
from sqlalchemy.engine import Dialect
from sqlalchemy.exc import DBAPIError
from sqlalchemy.sql.compiler import SQLCompiler
from sqlalchemy.sql.expression import ClauseElement

Processor = Callable[[Any], Any]


@dataclass(frozen=True)
class _Plan:
    sql: str
    #: qmark (SQLite): parameter names in order; pyformat (psycopg): None, a dict is passed
    order: tuple[str, ...] | None
    binds: dict[str, Processor]
    #: values the statement carries itself (``column == 1`` compiles to a parameter)
    fixed: dict[str, Any]
    results: tuple[Processor | None, ...] | None

    def params(self, values: Mapping[str, Any]) -> Any:
        fixed, binds = self.fixed, self.binds
        if self.order is None:  # a dict for pyformat
            if fixed:
                values = {**fixed, **values}
            if binds:
                values = {k: (binds[k](v) if k in binds else v) for k, v in values.items()}
            return values
        if not fixed and not binds:  # most statements: the values in their order
            return tuple([values[name] for name in self.order])
        ordered = []
        for name in self.order:
            value = values[name] if name in values else fixed[name]
            process = binds.get(name)
            ordered.append(value if process is None else process(value))
        return tuple(ordered)

    def row(self, row: Sequence[Any]) -> tuple[Any, ...]:
        if self.results is None:
            return tuple(row)
        return tuple(p(v) if p else v for p, v in zip(self.results, row, strict=True))


def _plan_for(statement: ClauseElement, dialect: Dialect) -> _Plan:
    compiled = statement.compile(dialect=dialect)
    assert isinstance(compiled, SQLCompiler)
    if any(b.expanding for b in compiled.binds.values()):
        raise TypeError("a prepared statement takes no expanding IN parameter")
    binds: dict[str, Processor] = {}
    for name, proc in compiled._bind_processors.items():
        if not isinstance(name, str) or not callable(proc):
            raise TypeError(f"parameter {name!r} needs a processor a prepared statement lacks")
        binds[name] = proc
    results: tuple[Processor | None, ...] | None = None
    columns = compiled._result_columns
    if columns:
        procs = tuple(c.type._cached_result_processor(dialect, None) for c in columns)
        results = procs if any(procs) else None
    order = tuple(compiled.positiontup or ()) if dialect.positional else None
    fixed = {
        name: bind.value
        for name, bind in compiled.binds.items()
        if not bind.required and bind.callable is None
    }
    return _Plan(compiled.string, order, binds, fixed, results)


_IN_LIST = re.compile(r"IN_LIST\((\w+)\)")


def json_rows(param: str, columns: Sequence[tuple[str, str]], *, alias: str = "r") -> str:
    """PostgreSQL: the rows of JSON parameter ``:param`` (an array of objects, see
    ``json_param``) as ``r(<columns>)`` (or ``alias``), each column ``(name, type)``.

    One text parameter for any number of rows: psycopg dumps a Python list parameter
    in Python, element by element (7 µs a list here), and PostgreSQL costs an array
    parameter's generic plan for 100 rows but a custom plan for the rows it got, so it
    re-plans such a statement at every run. A JSON recordset is costed alike both ways."""
    typed = ", ".join(f"{name} {type_}" for name, type_ in columns)
    return f"json_to_recordset(CAST(:{param} AS json)) AS {alias}({typed})"


def json_keys(param: str, column: str, type_: str) -> str:
    """PostgreSQL: ``column`` of every row of JSON parameter ``:param`` as an array, to
    write ``table.key = ANY(<this>) AND table.key = r.key`` in an ``UPDATE ... FROM``
    ``json_rows``.

    The planner takes a JSON recordset for 100 rows; against a table of up to some
    50,000 rows it then joins by scanning the whole table rather than by 100 index
    lookups. A batch carries a few rows, so that scan was the statement's cost: 2.3 ms
    against 0.4 for recording 8 deliveries among 10,000 (docs/performance.md). An array
    computed in the statement is taken for 10 elements, so the table is read through
    its index unless it is tiny (a few thousand narrow rows), and the parameter stays
    one text (see ``json_rows``)."""
    return f"ARRAY(SELECT k.{column} FROM {json_rows(param, [(column, type_)], alias='k')})"


def json_param(rows: Sequence[Mapping[str, Any]]) -> str:
    """The value of ``json_rows``' parameter for ``rows`` (JSON values only: send
    ``bytea`` as base64 text and ``decode(r.name, 'base64')`` it in the statement)."""
    return json.dumps(rows, ensure_ascii=False)


class Prepared:
    """One Core or ``text()`` statement (named bind parameters only) as the driver runs it.

    ``dialects`` holds a dialect's own spelling of it (by dialect name, the same
    parameters); that dialect's plan is compiled from it instead of ``statement``.
    """

    def __init__(self, statement: ClauseElement, **dialects: ClauseElement) -> None:
        self.statement = statement
        self._dialects = dialects
        self._plans: dict[str, _Plan] = {}
        self._lock = threading.Lock()

    @classmethod
    def sql(cls, statement: str) -> Prepared:
        """Hand-written SQL: ``:name`` parameters, ``IN_LIST(name)`` for a list of values
        (write ``CAST(:name AS type)``, not ``:name::type``, which is no parameter)."""
        names = _IN_LIST.findall(statement)
        sqlite = text(_IN_LIST.sub(r"IN (SELECT value FROM json_each(:\1))", statement))
        if names:
            sqlite = sqlite.bindparams(*(bindparam(name, type_=JSON) for name in names))
        return cls(sqlite, postgresql=text(_IN_LIST.sub(r"= ANY(:\1)", statement)))

    def _plan(self, conn: Connection) -> _Plan:
        return self._plan_of(conn.dialect)

    def _plan_of(self, dialect: Dialect) -> _Plan:
        plan = self._plans.get(dialect.name)
        if plan is None:
            statement = self._dialects.get(dialect.name, self.statement)
            with self._lock:
                plan = self._plans.setdefault(dialect.name, _plan_for(statement, dialect))
        return plan

    def send(self, conn: Connection, values: Mapping[str, Any]) -> Rows:
        """Run the statement; its rows are read when asked for (``Rows``)."""
        plan = self._plan(conn)
        cursor = _run(conn, plan, plan.params(values), many=False)
        return Rows(plan, cursor, conn.dialect)

    def rows(self, conn: Connection, values: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Every row the statement returns, as tuples in its column order."""
        return self.send(conn, values).all()

    def first(self, conn: Connection, values: Mapping[str, Any]) -> tuple[Any, ...] | None:
        return self.send(conn, values).first()

    async def rows_async(
        self, conn: psycopg.AsyncConnection[Any], dialect: Dialect, values: Mapping[str, Any]
    ) -> list[tuple[Any, ...]]:
        """``rows`` on psycopg's async connection (store/async_statements.py), compiled
        for ``dialect`` (PostgreSQL's); driver errors come out as psycopg's."""
        plan = self._plan_of(dialect)
        async with conn.cursor() as cursor:
            await cursor.execute(plan.sql, plan.params(values))
            if cursor.description is None:
                return []
            return [plan.row(r) for r in await cursor.fetchall()]

    def run(self, conn: Connection, values: Mapping[str, Any]) -> None:
        """A write, or any statement whose rows are not wanted."""
        plan = self._plan(conn)
        _run(conn, plan, plan.params(values), many=False).close()

    def run_many(self, conn: Connection, rows: Sequence[Mapping[str, Any]]) -> None:
        """The same write once per row, in one driver call."""
        if len(rows) == 1:  # psycopg runs executemany as a pipeline: dearer for one row
            self.run(conn, rows[0])
            return
        if not rows:
            return
        plan = self._plan(conn)
        params = [plan.params(r) for r in rows]
        _run(conn, plan, params, many=True).close()


class Rows:
    """A sent statement's rows, read once."""

    def __init__(self, plan: _Plan, cursor: Any, dialect: Dialect) -> None:
        self._plan = plan
        self._cursor = cursor
        self._dialect = dialect

    def all(self) -> list[tuple[Any, ...]]:
        error = self._dialect.loaded_dbapi.Error
        try:
            return [self._plan.row(r) for r in self._cursor.fetchall()]
        except error as exc:  # as SQLAlchemy would have raised it
            raise DBAPIError.instance(
                self._plan.sql, None, exc, error, dialect=self._dialect
            ) from exc
        finally:
            self._cursor.close()

    def first(self) -> tuple[Any, ...] | None:
        rows = self.all()
        return rows[0] if rows else None


def _run(conn: Connection, plan: _Plan, params: Any, *, many: bool) -> Any:
    dbapi_conn = conn.connection.dbapi_connection
    assert dbapi_conn is not None
    cursor = dbapi_conn.cursor()
    if (conn._has_events or conn.engine._has_events) and conn.dispatch.before_cursor_execute:
        # ``before_cursor_execute`` listeners (tracing, the query-plan test) see these
        # statements as SQLAlchemy's own; with none registered this costs one check.
        conn.dispatch.before_cursor_execute(conn, cursor, plan.sql, params, None, many)
    try:
        if many:
            cursor.executemany(plan.sql, params)
        else:
            cursor.execute(plan.sql, params)
    except conn.dialect.loaded_dbapi.Error as exc:
        cursor.close()
        raise DBAPIError.instance(
            plan.sql, None, exc, conn.dialect.loaded_dbapi.Error, dialect=conn.dialect
        ) from exc
    return cursor

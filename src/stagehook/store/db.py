"""The database handle: one engine, write transactions, cross-process wake-ups.

SQLite has a single writer, so writes take an in-process lock, a lock shared with the
other processes on the file (store/sqlite_processes.py) and ``BEGIN IMMEDIATE`` (never a
deferred transaction that upgrades and deadlocks); reads run freely in WAL mode, and
other processes are woken through ``WakeBoard``. PostgreSQL gets a bounded pool and
LISTEN/NOTIFY for wake-ups.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, TypeVar

import psycopg
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.exc import DBAPIError, DisconnectionError, OperationalError
from sqlalchemy.pool import QueuePool

from stagehook.errors import Unavailable
from stagehook.store.async_statements import AsyncStatements
from stagehook.store.group_commit import GroupCommit
from stagehook.store.loop_reads import LoopReads
from stagehook.store.pg_notify import WAKE_CHANNEL, Notifier
from stagehook.store.sqlite_processes import (
    SHARED_WRITER_LOCK,
    WAKES_ACROSS_PROCESSES,
    WakeBoard,
    WriterLock,
)
from stagehook.store.statement_groups import StatementGroups, WorkMany

log = logging.getLogger(__name__)

#: A pooled PostgreSQL connection idle this long (seconds) is pinged before use.
PING_AFTER_IDLE = 1.0
T = TypeVar("T")
I = TypeVar("I")  # noqa: E741
R = TypeVar("R")


class _WriterLock:
    """SQLite's one writer, with a fast lane for the delivery dispatcher.

    Under API load many request threads queue for the write lock; a plain lock hands it
    to whoever wakes first, so the dispatcher's claims and result writes could wait
    behind dozens of submits and deliveries would lag seconds behind the events. Urgent
    holders (the dispatcher) go before every waiting normal one.
    """

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self._held = False
        self._urgent_waiting = 0

    @contextlib.contextmanager
    def hold(self, *, urgent: bool) -> Iterator[None]:
        with self._cond:
            if urgent:
                self._urgent_waiting += 1
                try:
                    while self._held:
                        self._cond.wait()
                finally:
                    self._urgent_waiting -= 1
            else:
                while self._held or self._urgent_waiting:
                    self._cond.wait()
            self._held = True
        try:
            yield
        finally:
            with self._cond:
                self._held = False
                self._cond.notify_all()


class Database:
    def __init__(self, url: str, *, pool_size: int = 10) -> None:
        self.url = url
        self.is_sqlite = url.startswith("sqlite")
        self._write_lock = _WriterLock()
        self._many_rows = threading.Lock()  # see read_many
        self.engine: Engine = self._make_engine(url, pool_size)
        self._wake_listeners: list[Callable[[], None]] = []
        self._group = GroupCommit(self.write, is_sqlite=self.is_sqlite, threads=pool_size)
        # other processes on the same SQLite file (store/sqlite_processes.py)
        self._file_lock: WriterLock | None = None
        self._board: WakeBoard | None = None
        database = self.engine.url.database
        if self.is_sqlite and database and database != ":memory:":
            path = Path(database).absolute()
            self._file_lock = WriterLock(path) if SHARED_WRITER_LOCK else None
            self._board = WakeBoard(path) if WAKES_ACROSS_PROCESSES else None
        self._notifier = None if self.is_sqlite else Notifier(self._libpq_url())
        self._loop_reads = LoopReads(self.engine)
        self._statement_groups: dict[Any, StatementGroups[Any, Any]] = {}
        self._statement_groups_lock = threading.Lock()

    def _make_engine(self, url: str, pool_size: int) -> Engine:
        if self.is_sqlite:
            engine = create_engine(
                url,
                poolclass=QueuePool,
                pool_size=pool_size,
                max_overflow=pool_size,
                connect_args={"check_same_thread": False, "timeout": 30},
            )

            @event.listens_for(engine, "connect")
            def _on_connect(dbapi_conn: Any, _record: Any) -> None:
                dbapi_conn.isolation_level = None  # we issue BEGIN ourselves
                cursor = dbapi_conn.cursor()
                cursor.execute("PRAGMA journal_mode=WAL")
                cursor.execute("PRAGMA synchronous=FULL")
                cursor.execute("PRAGMA busy_timeout=30000")
                cursor.execute("PRAGMA foreign_keys=ON")
                cursor.close()

            @event.listens_for(engine, "begin")
            def _on_begin(conn: Connection) -> None:
                mode = conn.info.get("begin_mode", "DEFERRED")
                # on the driver: SQLAlchemy's own execute costs ten times the BEGIN
                sql = f"BEGIN {mode}"
                try:
                    conn.connection.driver_connection.execute(sql)  # type: ignore[union-attr]
                except sqlite3.Error as exc:  # as SQLAlchemy would have raised it
                    raise DBAPIError.instance(sql, None, exc, sqlite3.Error) from exc

            return engine
        engine = create_engine(
            url,
            pool_size=pool_size,
            max_overflow=0,
            pool_timeout=10,
            connect_args={"connect_timeout": 5},
        )

        # Pessimistic disconnect handling, but only for a connection that sat idle: a
        # ping on every checkout was a round trip per request (0.16 ms of CPU and 0.3 ms
        # of a submit's 2.4). A server that went away while the pool was busy is caught
        # by the API's epoch read (``read_value``), which renews the pool, by a submit
        # group's first read (store/tasks.py ``_submit_group``: it renews the pool and
        # reads again), or else by the failing statement: SQLAlchemy then retires the
        # pool, that request answers 503 (nothing of it stored) and the next ones get
        # fresh connections.
        @event.listens_for(engine, "checkin")
        def _on_checkin(_dbapi_conn: Any, record: Any) -> None:
            record.info["idle_since"] = time.monotonic()

        @event.listens_for(engine, "checkout")
        def _on_checkout(dbapi_conn: Any, record: Any, _proxy: Any) -> None:
            idle_since = record.info.get("idle_since")
            if idle_since is None or time.monotonic() - idle_since < PING_AFTER_IDLE:
                return
            try:
                dbapi_conn.execute("SELECT 1")
                dbapi_conn.rollback()
            except psycopg.Error as exc:
                raise DisconnectionError(str(exc)) from exc  # the pool connects anew

        return engine

    @contextlib.contextmanager
    def _connect(self) -> Iterator[Connection]:
        try:
            conn = self.engine.connect()
        except (OperationalError, DBAPIError) as exc:
            raise Unavailable(f"the database is unreachable: {_reason(exc)}") from exc
        with conn:
            yield conn

    @contextlib.contextmanager
    def read(self) -> Iterator[Connection]:
        with self._connect() as conn, conn.begin():
            yield conn

    @contextlib.contextmanager
    def read_many(self) -> Iterator[Connection]:
        """``read`` for a statement that fetches many rows (a page of 500 tasks).

        SQLite's driver lets go of the GIL for every row it steps, so two threads
        fetching many rows at once hand the GIL back and forth row by row: at 16
        concurrent readers a 500-row page cost 1.9 ms of CPU instead of 0.9, and pages/s
        halved (docs/performance.md). On SQLite such reads take turns; PostgreSQL's
        driver reads a result whole, and its reads run side by side.
        """
        if not self.is_sqlite:
            with self.read() as conn:
                yield conn
            return
        with self._many_rows, self.read() as conn:
            yield conn

    @contextlib.contextmanager
    def write(self, *, urgent: bool = False) -> Iterator[Connection]:
        """One write transaction; commits on success, rolls back on any exception.

        ``urgent`` (the dispatcher) goes first when SQLite writers queue up.
        """
        woke = False
        if self.is_sqlite:
            with (
                self._write_lock.hold(urgent=urgent),
                self._file_lock.hold() if self._file_lock else contextlib.nullcontext(),
                self._connect() as conn,
            ):
                conn.info["begin_mode"] = "IMMEDIATE"
                try:
                    with conn.begin():
                        yield conn
                    woke = conn.info.get("wake", False)
                finally:
                    conn.info["begin_mode"] = "DEFERRED"
                    conn.info.pop("wake", None)  # a rollback must not mute the next commit
        else:
            with self._connect() as conn:
                try:
                    with conn.begin():
                        yield conn
                    woke = conn.info.get("wake", False)
                finally:
                    conn.info.pop("wake", None)
        if woke:
            self._wake_after_commit()

    @contextlib.contextmanager
    def statements(self) -> Iterator[Connection]:
        """PostgreSQL: a connection on which every statement is a transaction of its own
        (autocommit): for work that writes in one statement which checks its own
        preconditions (store/tasks.py ``apply_stage_batch``, a single task's submit;
        the dispatcher's such statements run on ``async_statements``). No BEGIN and no COMMIT
        round trip, no row lock held while Python works. Dispatchers are woken after
        (``notify``), as after a transaction.
        """
        if self.is_sqlite:
            raise TypeError("SQLite writes in transactions of its one writer (write)")
        with self._connect() as conn:
            # SQLAlchemy puts the connection back in its transactional mode when it
            # returns to the pool, and discards it if the server dropped it meanwhile
            conn.execution_options(isolation_level="AUTOCOMMIT")
            try:
                yield conn
            except BaseException:
                with contextlib.suppress(Exception):  # a dead connection: the error stands
                    conn.info.pop("wake", None)
                raise
            woke = False
            # a connection the work found dead (and caught) has no info left to read;
            # what was written before that still wakes the dispatchers
            with contextlib.suppress(Exception):
                woke = conn.info.pop("wake", False)
            if conn.invalidated:
                woke = True
        if woke:
            self._wake_after_commit()

    def _wake_after_commit(self) -> None:
        """Committed: tell the dispatchers. A wake-up is a hint (they also poll), so a
        failure here is logged, never raised: the caller's write is stored."""
        rings: list[Callable[[], None]] = list(self._wake_listeners)
        if self._board is not None:
            rings.append(self._board.ring)
        if self._notifier is not None:
            rings.append(self._notifier.ring)
        for ring in rings:
            try:
                ring()
            except Exception:
                log.exception("a wake-up after a commit failed; dispatchers poll meanwhile")

    async def read_value(self, sql: str) -> Any:
        """The first column of the first row of ``sql``, read by the event loop itself
        without a worker thread (store/loop_reads.py): for the auth epoch."""
        return await self._loop_reads.value(sql)

    def write_grouped(self, work: Callable[[Connection], T]) -> T:
        """``work(conn)`` in a write transaction it may share with concurrent requests.

        Returns once committed; a failure rolls back only this request's part (see
        store/group_commit.py). ``work`` must not open transactions of its own.
        """
        return self._group.run(work)

    async def write_grouped_async(self, work: Callable[[Connection], T]) -> T:
        """``write_grouped`` for a coroutine: awaits the commit without a thread of its own."""
        return await self._group.run_async(work)

    def statement_groups(self, work_many: WorkMany[I, R], *, name: str) -> StatementGroups[I, R]:
        """PostgreSQL: the ``StatementGroups`` (store/statement_groups.py) that run
        ``work_many`` over requests arriving together, on ``statements`` connections;
        one per function, made on first use, stopped by ``dispose``."""
        if self.is_sqlite:
            raise TypeError("SQLite writes in transactions of its one writer (write_grouped)")
        with self._statement_groups_lock:
            groups = self._statement_groups.get(work_many)
            if groups is None:
                groups = StatementGroups(self.statements, work_many, name=name)
                self._statement_groups[work_many] = groups
        return groups

    def notify(self, conn: Connection) -> None:
        """Inside a write transaction: wake dispatchers (here and elsewhere) once it
        commits (a rollback wakes nobody): this process's wake listeners, and other
        processes through ``WakeBoard`` (SQLite) or a ``NOTIFY`` sent after the commit
        (PostgreSQL, store/pg_notify.py)."""
        conn.info["wake"] = True

    def add_wake_listener(self, listener: Callable[[], None]) -> None:
        """Called (from the committing thread) after a transaction that made work."""
        self._wake_listeners.append(listener)

    def remove_wake_listener(self, listener: Callable[[], None]) -> None:
        if listener in self._wake_listeners:
            self._wake_listeners.remove(listener)

    async def listen(self, wake: Callable[[], None], stop: asyncio.Event) -> None:
        """Call ``wake`` on commits of other processes until ``stop``: PostgreSQL's
        LISTEN (reconnecting when cut off), SQLite's ``WakeBoard``."""
        if self.is_sqlite:
            if self._board is not None:
                await self._board.listen(wake, stop)
            else:
                await stop.wait()
            return
        url = self._libpq_url()
        backoff = 0.5
        while not stop.is_set():
            try:
                async with await psycopg.AsyncConnection.connect(
                    url, autocommit=True, connect_timeout=5
                ) as conn:
                    await conn.execute(f"LISTEN {WAKE_CHANNEL}")
                    backoff = 0.5
                    wake()  # anything committed while we were away
                    while not stop.is_set():  # looked at twice a second at least
                        async for _ in conn.notifies(timeout=0.5):
                            wake()
                    return
            except (psycopg.Error, OSError) as exc:
                log.warning("LISTEN connection lost (%s); retrying in %.1fs", exc, backoff)
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(stop.wait(), timeout=backoff)
                backoff = min(backoff * 2, 30.0)

    def async_statements(self) -> AsyncStatements:
        """PostgreSQL: statements on a connection of the calling event loop's own, each a
        transaction of its own (store/async_statements.py)."""
        if self.is_sqlite:
            raise TypeError("SQLite writes in transactions of its one writer (write)")
        return AsyncStatements(self._libpq_url(), self.engine.dialect)

    def _libpq_url(self) -> str:
        return self.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)

    def dispose(self) -> None:
        self._group.close()
        with self._statement_groups_lock:
            groups, self._statement_groups = list(self._statement_groups.values()), {}
        for each in groups:
            each.close()
        self._loop_reads.close()
        self.engine.dispose()
        if self._board is not None:
            self._board.close()
        if self._notifier is not None:
            self._notifier.close()
        if self._file_lock is not None:
            self._file_lock.close()


def _reason(exc: Exception) -> str:
    text_ = str(getattr(exc, "orig", exc)).strip().splitlines()
    return text_[0] if text_ else type(exc).__name__

"""Point reads the event loop makes itself: the auth epoch every request reads.

Handing a request to a worker thread for a one-row read and back cost a submit hundreds
of microseconds; the read itself costs a few. So:

- **SQLite**: the loop reads in place. A WAL read never waits for the writer; each
  thread that reads gets one read-only connection of its own, each statement reads one
  consistent snapshot.
- **PostgreSQL**: the loop awaits one autocommit connection of its own (psycopg's async
  API). Concurrent callers **share** a read, but only one that *started after they
  asked*: whoever arrives while a read is on the wire waits for the next one, which all
  of them then share. So a caller always sees every commit that finished before it
  asked (a revoked key is refused on the very next request), and under load the loop
  makes one read per round trip, not one per request.

If the server dropped the connection (a restart), the read is tried once more on a new
one, and the engine's pool, whose idle connections are as dead, is renewed; if the
server is still away, the caller gets ``Unavailable`` (503).
"""

from __future__ import annotations

import asyncio
import sqlite3
import threading
from typing import Any
from urllib.parse import quote

import psycopg
from sqlalchemy import Engine

from stagehook.errors import Unavailable


class LoopReads:
    def __init__(self, engine: Engine) -> None:
        self._engine = engine
        file = engine.url.database if engine.dialect.name == "sqlite" else None
        in_place = bool(file) and file != ":memory:" and not str(file).startswith("file:")
        self._uri = f"file:{quote(str(file))}?mode=ro" if in_place else None
        self._local = threading.local()
        self._opened: list[sqlite3.Connection] = []
        self._lock = threading.Lock()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._conn: psycopg.AsyncConnection[Any] | None = None
        #: per statement, the read that will start next, which every caller since awaits
        self._next: dict[str, asyncio.Future[Any]] = {}
        #: per statement, the task reading its rounds (kept, so it is not collected)
        self._reading: dict[str, asyncio.Task[None]] = {}

    async def value(self, sql: str) -> Any:
        """The first column of the first row of ``sql`` (None without a row)."""
        if self._uri is not None:
            row = self._in_place(self._uri).execute(sql).fetchone()
        elif self._engine.dialect.name == "sqlite":  # in memory: only the pool sees it
            row = await asyncio.to_thread(self._pooled, sql)
        else:
            row = await self._shared(sql)
        return None if row is None else row[0]

    def close(self) -> None:
        with self._lock:
            for conn in self._opened:
                conn.close()
            self._opened.clear()
            self._local = threading.local()
        self._drop()

    def _in_place(self, uri: str) -> sqlite3.Connection:
        conn: sqlite3.Connection | None = getattr(self._local, "conn", None)
        if conn is None:
            conn = sqlite3.connect(uri, uri=True, check_same_thread=False)
            self._local.conn = conn
            with self._lock:
                self._opened.append(conn)
        return conn

    def _pooled(self, sql: str) -> Any:
        with self._engine.connect() as conn:
            return conn.exec_driver_sql(sql).first()

    async def _shared(self, sql: str) -> Any:
        loop = asyncio.get_running_loop()
        if self._loop is not loop:  # a new event loop (tests start several): start afresh
            self._drop()
            self._loop, self._next, self._reading = loop, {}, {}
        waiting = self._next.get(sql)
        if waiting is None:
            waiting = self._next[sql] = loop.create_future()
            if sql not in self._reading:
                self._reading[sql] = loop.create_task(self._read_rounds(sql))
        return await asyncio.shield(waiting)

    async def _read_rounds(self, sql: str) -> None:
        try:
            while (current := self._next.pop(sql, None)) is not None:
                try:
                    current.set_result(await self._read(sql))
                except Exception as exc:  # handed to every waiter of this round
                    current.set_exception(exc)
        finally:
            self._reading.pop(sql, None)

    async def _read(self, sql: str) -> Any:
        for attempt in (1, 2):
            try:
                if self._conn is None:
                    url = self._engine.url.set(drivername="postgresql")
                    self._conn = await psycopg.AsyncConnection.connect(
                        url.render_as_string(hide_password=False),
                        autocommit=True,
                        connect_timeout=5,
                    )
                cursor = await self._conn.execute(sql)
                return await cursor.fetchone()
            except psycopg.OperationalError as exc:
                self._drop()
                self._engine.dispose(close=False)  # its idle connections are as dead
                if attempt == 2:
                    raise Unavailable(f"the database is unreachable: {exc}") from exc
        raise AssertionError("unreachable")

    def _drop(self) -> None:
        if self._conn is not None:
            self._conn.pgconn.finish()  # closes the socket; needs no event loop
            self._conn = None

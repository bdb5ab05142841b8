"""PostgreSQL: statements on a connection of the event loop's own, without a thread.

The dispatcher's hot cycles on PostgreSQL are one statement each (a claim,
store/outbox/claim.py ``claim_due_alone``; a batch of successes,
store/outbox/record.py ``record_successes``; the due-time read). On a worker thread
each cost a hop there and back (a fifth of the worker child's CPU under a steady submit
load); run with the pool's blocking driver on the loop itself, the loop stood still
while the statement was out, and every send and wake-up waited (a delivery's p99 at half
the submit capacity doubled). psycopg's ``AsyncConnection`` does neither: the loop
sends the statement and goes on until the answer is there.

An ``AsyncStatements`` holds one such connection in autocommit (every statement a
transaction of its own), opened on first use and opened again after a failure, which
it raises to the caller (psycopg's exception; nothing is retried here). One statement
runs at a time on it: a caller that must not wait behind another's gets its own. TCP
keepalives bound how long a statement waits on a server that vanished silently.
"""

from __future__ import annotations

import asyncio
from collections.abc import Mapping
from typing import Any

import psycopg
from psycopg import conninfo
from sqlalchemy.engine import Dialect

from stagehook.store.prepared import Prepared

#: seconds to wait for a connection before the call fails (as the pool's)
CONNECT_TIMEOUT = 5
#: libpq's TCP keepalives: a server that vanished without closing the connection (a
#: host gone, a cut network) fails the waiting statement within about 25 s, instead of
#: holding a loop of cycles for the kernel's default of hours
KEEPALIVES = {
    "keepalives": 1,
    "keepalives_idle": 10,
    "keepalives_interval": 5,
    "keepalives_count": 3,
}


class AsyncStatements:
    def __init__(self, url: str, dialect: Dialect) -> None:
        """``url``: libpq's (``postgresql://...``); ``dialect``: the engine's, which the
        statements are compiled for."""
        self._url = url
        self._dialect = dialect
        self._conn: psycopg.AsyncConnection[Any] | None = None
        self._lock = asyncio.Lock()
        self._closed = False

    async def rows(self, statement: Prepared, values: Mapping[str, Any]) -> list[tuple[Any, ...]]:
        """Every row ``statement`` returns (none for a write without RETURNING)."""
        async with self._lock:
            if self._closed:
                raise RuntimeError("these statements' connection is closed")
            conn = self._conn
            if conn is None or conn.closed:
                conn = self._conn = await psycopg.AsyncConnection.connect(
                    conninfo.make_conninfo(
                        self._url, connect_timeout=CONNECT_TIMEOUT, **KEEPALIVES
                    ),
                    autocommit=True,
                )
            try:
                return await statement.rows_async(conn, self._dialect, values)
            except BaseException:
                # whatever state it is in (a lost server, a cancelled wait): a new one next
                self._conn = None
                await conn.close()
                raise

    async def close(self) -> None:
        """Close the connection; the statements run no more (a late caller is refused
        rather than opening a connection nobody closes)."""
        async with self._lock:
            self._closed = True
            if self._conn is not None:
                await self._conn.close()
                self._conn = None

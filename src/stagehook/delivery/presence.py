"""Worker registry and cross-process wake-ups.

Workers heartbeat; the leases of a worker that stopped heartbeating are handed back by
the others, so a dead host's work moves on without an operator. On PostgreSQL a commit
anywhere NOTIFYs, and LISTEN wakes every dispatcher within milliseconds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import socket
from collections.abc import Callable

import psycopg
from sqlalchemy import Connection, delete, insert, select, update

from stagehook.store.context import Store
from stagehook.store.db import WAKE_CHANNEL
from stagehook.store.tables import deliveries, workers

log = logging.getLogger(__name__)


def _insert(conn: Connection, worker_id: str, now: float) -> None:
    conn.execute(
        insert(workers).values(
            worker_id=worker_id,
            hostname=socket.gethostname(),
            pid=os.getpid(),
            started_at=now,
            heartbeat_at=now,
        )
    )


def register(store: Store, worker_id: str) -> None:
    now = store.clock.now()
    with store.db.write() as conn:
        conn.execute(delete(workers).where(workers.c.worker_id == worker_id))
        _insert(conn, worker_id, now)


def heartbeat(store: Store, worker_id: str, stale_after: float, *, judge: bool) -> int:
    """Refresh our heartbeat; hand back the leases of workers gone quiet. Returns that.

    ``judge`` is False on the first beat after our own beat failed: after a database
    outage everyone's heartbeat is old, and the others deserve a beat to catch up
    before their live leases are taken from them.
    """
    now = store.clock.now()
    with store.db.write() as conn:
        beat = conn.execute(
            update(workers).where(workers.c.worker_id == worker_id).values(heartbeat_at=now)
        )
        if beat.rowcount == 0:  # others judged us dead while we were cut off: rejoin
            _insert(conn, worker_id, now)
        if not judge:
            return 0
        dead = list(
            conn.execute(
                select(workers.c.worker_id).where(workers.c.heartbeat_at < now - stale_after)
            ).scalars()
        )
        if not dead:
            return 0
        result = conn.execute(
            update(deliveries)
            .where(
                deliveries.c.lease_owner.in_(dead),
                deliveries.c.status.in_(("pending", "retrying")),
            )
            .values(lease_owner=None, lease_expires_at=None)
        )
        conn.execute(delete(workers).where(workers.c.worker_id.in_(dead)))
        store.db.notify(conn)
    if result.rowcount:
        log.warning("requeued %d deliveries of stopped workers %s", result.rowcount, dead)
    return int(result.rowcount or 0)


def deregister(store: Store, worker_id: str) -> None:
    with store.db.write() as conn:
        conn.execute(
            update(deliveries)
            .where(deliveries.c.lease_owner == worker_id)
            .values(lease_owner=None, lease_expires_at=None)
        )
        conn.execute(delete(workers).where(workers.c.worker_id == worker_id))


async def listen(store: Store, wake: Callable[[], None], stop: asyncio.Event) -> None:
    """LISTEN for commits from other processes; reconnect with backoff when cut off."""
    url = store.db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
    backoff = 0.5
    while not stop.is_set():
        try:
            async with await psycopg.AsyncConnection.connect(
                url, autocommit=True, connect_timeout=5
            ) as conn:
                await conn.execute(f"LISTEN {WAKE_CHANNEL}")
                backoff = 0.5
                wake()  # anything committed while we were away
                async for _ in conn.notifies():
                    wake()
                    if stop.is_set():
                        return
        except (psycopg.Error, OSError) as exc:
            log.warning("LISTEN connection lost (%s); retrying in %.1fs", exc, backoff)
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), timeout=backoff)
            backoff = min(backoff * 2, 30.0)

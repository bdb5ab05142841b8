"""The worker registry: workers heartbeat, and the leases of a silent one are handed back.

So a dead host's work moves on without an operator.
"""

from __future__ import annotations

import logging
import os
import socket

from sqlalchemy import Connection, delete, insert, select, update

from stagehook.store.context import Store
from stagehook.store.outbox.records import DUE_STATUSES
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
                deliveries.c.status.in_(DUE_STATUSES),
            )
            .values(lease_owner=None, lease_expires_at=None)
        )
        conn.execute(delete(workers).where(workers.c.worker_id.in_(dead)))
        store.db.notify(conn)
    if result.rowcount:
        log.warning("requeued %d deliveries of stopped workers %s", result.rowcount, dead)
    return int(result.rowcount or 0)


def deregister(store: Store, worker_id: str) -> None:
    """Leave: our leases go back, and the other workers are woken to take them."""
    with store.db.write() as conn:
        released = conn.execute(
            update(deliveries)
            .where(deliveries.c.lease_owner == worker_id)
            .values(lease_owner=None, lease_expires_at=None)
        )
        conn.execute(delete(workers).where(workers.c.worker_id == worker_id))
        if released.rowcount:
            store.db.notify(conn)

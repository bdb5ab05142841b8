"""Wake-ups on PostgreSQL: one ``NOTIFY`` after the commit, never inside it.

A ``NOTIFY`` inside a transaction serializes commits: at commit PostgreSQL takes one
database-wide lock for its notification queue and keeps it until the commit is durable
(the WAL flushed), so every submit's commit waited for every other one's fsync. Under
16 concurrent submits `pg_stat_activity` showed 1.6 backends on average waiting on that
lock (``Lock: object``). The wake-up is only a hint: dispatchers also poll, and they read
committed rows only. So :class:`Notifier` sends it after the commit, from a connection
of its own on a thread of its own, and rings that come while one is on its way fold
into the next: at any load a process sends at most one ``NOTIFY`` per round trip.

Listeners are ``Database.listen`` (``LISTEN``), in every process on the database.
"""

from __future__ import annotations

import logging
import threading
import time

import psycopg

log = logging.getLogger(__name__)

WAKE_CHANNEL = "stagehook_wake"


class Notifier:
    """``ring()`` after a commit that made work (any thread); a thread sends the NOTIFY."""

    def __init__(self, url: str) -> None:
        self._url = url  # libpq's URL (plain ``postgresql://``)
        self._cond = threading.Condition()
        self._pending = False
        self._closed = False
        self._thread: threading.Thread | None = None

    def ring(self) -> None:
        with self._cond:
            if self._closed:
                return
            self._pending = True
            if self._thread is None or not self._thread.is_alive():
                self._thread = threading.Thread(
                    target=self._send_rings, name="stagehook-notify", daemon=True
                )
                self._thread.start()
            self._cond.notify()

    def _send_rings(self) -> None:
        conn: psycopg.Connection[tuple[object, ...]] | None = None
        backoff, retry_at = 0.5, 0.0
        while True:
            with self._cond:
                while not self._closed and (not self._pending or time.monotonic() < retry_at):
                    wait = retry_at - time.monotonic() if self._pending else None
                    self._cond.wait(timeout=wait)
                if not self._pending or time.monotonic() < retry_at:
                    break  # closed: nothing left to send, or the database is away
                self._pending = False
            try:
                if conn is None or conn.closed:
                    conn = psycopg.connect(self._url, autocommit=True, connect_timeout=5)
                conn.execute(f"NOTIFY {WAKE_CHANNEL}")
                backoff = 0.5
            except Exception as exc:  # psycopg's errors, and anything unforeseen
                # the dispatchers' polling covers what this wake-up missed meanwhile
                log.warning("NOTIFY failed (%s); next try in %.1fs", exc, backoff)
                if conn is not None:
                    conn.close()
                conn = None
                with self._cond:
                    self._pending = True
                retry_at = time.monotonic() + backoff
                backoff = min(backoff * 2, 30.0)
        if conn is not None:
            conn.close()

    def close(self) -> None:
        """Send what is pending, then stop (bounded)."""
        with self._cond:
            self._closed = True
            self._cond.notify()
            thread = self._thread
        if thread is not None and thread is not threading.current_thread():
            thread.join(timeout=10)

"""Who a credential belongs to and what they may do, without re-reading it every request.

Looking up an API key (a join) and the caller's project role (two more reads) on every
request was a large share of a submit's cost. This cache keeps the answers in memory,
each stamped with the **access epoch** it was read under: a one-row counter that goes
up in the same transaction as anything that takes access away (revoking a key, changing
or removing a membership; sessions ending, once they live on the server). Each request
reads the counter once (one primary-key row, no join); a cached answer is used only if
its stamp equals the counter, so a revocation committed by *any* process, on SQLite or
PostgreSQL, is refused on the very next request. Revocations are rare; a bump simply
empties everyone's cache.

Each answer is loaded in the same transaction that read the epoch, epoch first: if a
bump commits meanwhile, the answer carries the older stamp and is reloaded next time.

A write can check the epoch itself instead: the submit uses the answers cached for its
key under their own stamp (``AuthCache.latest``) without reading the counter first, and
its task read reads the counter in the same statement; if the two differ, the write is
refused with ``StaleAccess`` before anything is written, and the request authenticates
the usual way and tries again. The read started after the request arrived, so it is as
fresh as the request's own epoch read would have been.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Hashable
from typing import Any, TypeVar

from sqlalchemy import Connection, text, update

from stagehook.store.db import Database
from stagehook.store.prepared import Prepared
from stagehook.store.tables import auth_epoch

T = TypeVar("T")

#: Entries kept at most; past that the cache starts over (a burst of distinct keys).
MAX_ENTRIES = 10_000

#: The epoch read, one text for both readers: a transaction's (``read_epoch``) and the
#: event loop's own (``Database.read_value``, which takes plain SQL).
EPOCH_SQL = "SELECT value FROM auth_epoch WHERE id = 1"
_READ_EPOCH = Prepared(text(EPOCH_SQL))
_BUMP = update(auth_epoch).where(auth_epoch.c.id == 1).values(value=auth_epoch.c.value + 1)


class StaleAccess(Exception):
    """Access changed since the cached answers a write was checked with: authenticate
    afresh and try again. Raised before the write wrote anything."""


def require_epoch(expected: int | None, read: int) -> None:
    """Inside a write that read the epoch (``read``) in its own statement: refuse it if
    the caller's answers were cached under another (``expected``; None: the caller read
    the epoch itself)."""
    if expected is not None and expected != read:
        raise StaleAccess(f"access changed (epoch {expected} -> {read})")


def read_epoch(conn: Connection) -> int:
    row = _READ_EPOCH.first(conn, {})
    assert row is not None, "migration 0005 inserts the one auth_epoch row"
    return int(row[0])


async def current_epoch(db: Database) -> int:
    """The epoch now, read from the event loop itself (see ``Database.read_value``)."""
    return int(await db.read_value(EPOCH_SQL))


def bump(conn: Connection) -> None:
    """Inside the transaction that takes access away: every cached answer is stale."""
    conn.execute(_BUMP)


class AuthCache:
    """Answers keyed by anything hashable (``("key", key_hash)``, ``("role", ...)``)."""

    def __init__(self) -> None:
        self._entries: dict[Hashable, tuple[int, Any]] = {}
        self._lock = threading.Lock()

    def peek(self, epoch: int, key: Hashable) -> Any:
        """The answer cached for ``key`` under ``epoch``, or None."""
        hit = self._entries.get(key)
        return hit[1] if hit is not None and hit[0] == epoch else None

    def latest(self, key: Hashable) -> tuple[int, Any] | None:
        """``(epoch, answer)`` cached for ``key`` under whichever epoch it was read, or
        None: for a write that checks the epoch itself (``require_epoch``)."""
        hit: tuple[int, Any] | None = self._entries.get(key)
        return hit

    def get(self, epoch: int, key: Hashable, load: Callable[[], T]) -> T:
        """The answer for ``key`` under ``epoch``, from ``load()`` when not cached.

        ``load`` must read after ``epoch`` was read; whatever it raises (unknown key,
        no access) is not cached.
        """
        hit = self._entries.get(key)
        if hit is not None and hit[0] == epoch:
            value: T = hit[1]
            return value
        value = load()
        with self._lock:
            if len(self._entries) >= MAX_ENTRIES:
                self._entries.clear()
            self._entries[key] = (epoch, value)
        return value

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

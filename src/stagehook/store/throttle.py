"""The sign-in throttle: failures counted in the database, per username and per address.

Counting in the database (not in process memory) makes the limit hold across several
API processes. A subject over its limit is refused before its password is even checked,
so a correct password during the lock-out does not get in either.
"""

from __future__ import annotations

import math

from sqlalchemy import delete, insert, select

from stagehook.errors import TooManyRequests
from stagehook.store.context import Store
from stagehook.store.tables import signin_failures


def _subjects(store: Store, username: str | None, address: str | None) -> list[tuple[str, int]]:
    """``(subject, limit)`` pairs that one attempt counts against (a key has no username)."""
    settings = store.settings
    found = []
    if username is not None:
        subject = f"user:{username.strip().lower()[:200]}"
        found.append((subject, settings.signin_max_failures_per_user))
    if address:
        found.append((f"address:{address[:64]}", settings.signin_max_failures_per_address))
    return found


def check(store: Store, username: str | None, address: str | None) -> None:
    """Refuse (429) while the username or the address is locked out."""
    now = store.clock.now()
    window = store.settings.signin_window_seconds
    wait = 0.0
    with store.db.read() as conn:
        for subject, limit in _subjects(store, username, address):
            recent = conn.execute(
                select(signin_failures.c.at)
                .where(signin_failures.c.subject == subject, signin_failures.c.at > now - window)
                .order_by(signin_failures.c.at.desc())
                .limit(limit)
            ).all()
            if len(recent) >= limit:
                # The lock lifts when the limit-th most recent failure leaves the window.
                wait = max(wait, recent[limit - 1].at + window - now)
    if wait > 0:
        raise TooManyRequests(
            "too many failed sign-ins for this account or address; try again later",
            retry_after=max(1, math.ceil(wait)),
        )


def record_failure(store: Store, username: str | None, address: str | None) -> None:
    now = store.clock.now()
    window = store.settings.signin_window_seconds
    subjects = [subject for subject, _ in _subjects(store, username, address)]
    if not subjects:
        return
    with store.db.write() as conn:
        conn.execute(insert(signin_failures), [{"subject": s, "at": now} for s in subjects])
        # Keep the table small: what left the window can no longer lock anyone out.
        conn.execute(
            delete(signin_failures).where(
                signin_failures.c.subject.in_(subjects), signin_failures.c.at <= now - window
            )
        )


def record_success(store: Store, username: str) -> None:
    """A successful sign-in clears the username's failures (not the address's)."""
    subject = _subjects(store, username, None)[0][0]
    with store.db.write() as conn:
        conn.execute(delete(signin_failures).where(signin_failures.c.subject == subject))

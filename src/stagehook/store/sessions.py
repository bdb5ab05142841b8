"""Browser sessions known to the server, so that each one can end at once.

The cookie holds only a random token; the server keeps ``sha256(token)`` in the
``sessions`` table. Every request resolves the token with one indexed lookup
(:func:`resolve_session`, the one place to cache it later), joined with the user so a
changed role or a deactivated account applies to the very next request. Sessions end on
sign-out, when the key they were opened with is revoked, when the password changes,
when the user is deactivated, and after an idle and an absolute timeout.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass

from sqlalchemy import Connection, insert, select, update

from stagehook.errors import NotFound
from stagehook.store.access import Principal
from stagehook.store.context import Store, new_hash
from stagehook.store.tables import sessions, users

#: ``last_seen_at`` is written at most this often per session (a write per request
#: would serialise every page view behind SQLite's single writer).
TOUCH_INTERVAL = 60.0


@dataclass(frozen=True)
class SessionInfo:
    session_id: str
    created_at: float
    last_seen_at: float
    address: str | None
    user_agent: str | None
    via_api_key: bool


@dataclass(frozen=True)
class Resolved:
    principal: Principal
    session_id: str


def _digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def start_session(
    store: Store,
    principal: Principal,
    *,
    key_id: str | None,
    address: str | None,
    user_agent: str | None,
) -> str:
    """Open a session; returns the token the cookie carries (shown nowhere else)."""
    token = secrets.token_urlsafe(32)
    now = store.clock.now()
    with store.db.write() as conn:
        conn.execute(
            insert(sessions).values(
                session_id=new_hash(),
                token_hash=_digest(token),
                user_id=principal.user_id,
                key_id=key_id,
                created_at=now,
                last_seen_at=now,
                address=(address or "")[:64] or None,
                user_agent=(user_agent or "")[:300] or None,
            )
        )
    return token


def resolve_session(store: Store, token: str) -> Resolved | None:
    """The live session's user, or None if the token is unknown, ended or expired."""
    now = store.clock.now()
    settings = store.settings
    with store.db.read() as conn:
        row = conn.execute(
            select(
                sessions.c.session_id,
                sessions.c.created_at,
                sessions.c.last_seen_at,
                users.c.user_id,
                users.c.username,
                users.c.is_admin,
            )
            .join(users, users.c.user_id == sessions.c.user_id)
            .where(
                sessions.c.token_hash == _digest(token),
                sessions.c.ended_at.is_(None),
                users.c.disabled_at.is_(None),
            )
        ).first()
    if row is None:
        return None
    expired = (
        now - row.last_seen_at > settings.session_idle_timeout
        or now - row.created_at > settings.session_absolute_timeout
    )
    if expired or now - row.last_seen_at > TOUCH_INTERVAL:
        with store.db.write() as conn:
            values = {"ended_at": now} if expired else {"last_seen_at": now}
            conn.execute(
                update(sessions)
                .where(sessions.c.session_id == row.session_id, sessions.c.ended_at.is_(None))
                .values(**values)
            )
    if expired:
        return None
    return Resolved(Principal(row.user_id, row.username, bool(row.is_admin)), row.session_id)


def end_session(store: Store, token: str) -> None:
    """Sign-out: the token is dead from now on, wherever it is replayed."""
    with store.db.write() as conn:
        conn.execute(
            update(sessions)
            .where(sessions.c.token_hash == _digest(token), sessions.c.ended_at.is_(None))
            .values(ended_at=store.clock.now())
        )


def end_user_sessions(
    conn: Connection, user_id: str, now: float, *, keep: str | None = None
) -> None:
    """Inside the transaction that changes a password or deactivates a user."""
    query = update(sessions).where(sessions.c.user_id == user_id, sessions.c.ended_at.is_(None))
    if keep is not None:
        query = query.where(sessions.c.session_id != keep)
    conn.execute(query.values(ended_at=now))


def end_key_sessions(conn: Connection, key_id: str, now: float) -> None:
    """Inside the transaction that revokes an API key."""
    conn.execute(
        update(sessions)
        .where(sessions.c.key_id == key_id, sessions.c.ended_at.is_(None))
        .values(ended_at=now)
    )


def list_sessions(store: Store, user_id: str) -> list[SessionInfo]:
    """The user's live sessions, newest first (expired ones are not shown)."""
    now = store.clock.now()
    settings = store.settings
    with store.db.read() as conn:
        rows = conn.execute(
            select(sessions)
            .where(
                sessions.c.user_id == user_id,
                sessions.c.ended_at.is_(None),
                sessions.c.last_seen_at >= now - settings.session_idle_timeout,
                sessions.c.created_at >= now - settings.session_absolute_timeout,
            )
            .order_by(sessions.c.created_at.desc())
        ).all()
    return [
        SessionInfo(
            r.session_id, r.created_at, r.last_seen_at, r.address, r.user_agent, bool(r.key_id)
        )
        for r in rows
    ]


def revoke_session(store: Store, user_id: str, session_id: str) -> None:
    """End one of the user's sessions (from their settings page or an admin's)."""
    with store.db.write() as conn:
        result = conn.execute(
            update(sessions)
            .where(
                sessions.c.session_id == session_id,
                sessions.c.user_id == user_id,
                sessions.c.ended_at.is_(None),
            )
            .values(ended_at=store.clock.now())
        )
    if result.rowcount == 0:
        raise NotFound(f"session {session_id} does not exist or has ended")

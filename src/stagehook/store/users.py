"""Users, API keys and project memberships (the rules of access are in ``access.py``)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update
from sqlalchemy.exc import IntegrityError

from stagehook.errors import Conflict, InvalidInput, NotFound, Unauthorized
from stagehook.store import auth_cache
from stagehook.store.access import Principal, Role
from stagehook.store.context import Store, new_hash
from stagehook.store.credentials import (
    check_password,
    hash_key,
    hash_password,
    new_api_key,
    require_password_rules,
)
from stagehook.store.sessions import end_key_sessions, end_user_sessions
from stagehook.store.tables import api_keys, memberships, projects, users


def _principal(row: object) -> Principal:
    return Principal(row.user_id, row.username, bool(row.is_admin))  # type: ignore[attr-defined]


def create_user(
    store: Store, username: str, *, is_admin: bool = False, password: str | None = None
) -> Principal:
    username = username.strip()
    if not username:
        raise InvalidInput("username must not be empty")
    if password is not None:
        require_password_rules(password)
    with store.db.write() as conn:
        if conn.execute(select(users.c.user_id).where(users.c.username == username)).first():
            raise Conflict(f"user {username!r} already exists")
        user_id = new_hash()
        conn.execute(
            insert(users).values(
                user_id=user_id,
                username=username,
                is_admin=is_admin,
                password_hash=hash_password(password) if password else None,
                created_at=store.clock.now(),
            )
        )
    return Principal(user_id, username, is_admin)


def list_users(store: Store) -> list[Principal]:
    with store.db.read() as conn:
        rows = conn.execute(select(users).order_by(users.c.username)).all()
    return [_principal(r) for r in rows]


def set_password(
    store: Store,
    user_id: str,
    password: str,
    *,
    current: str | None = None,
    keep_session: str | None = None,
) -> None:
    """Set a user's password; with ``current``, only if it matches the one set now.

    People changing their own password pass ``current``; admins resetting one do not.
    An account without a password (the bootstrap admin) accepts any ``current``.
    Every session of the user ends, except ``keep_session`` (the one making the change).
    """
    require_password_rules(password)
    with store.db.write() as conn:
        row = conn.execute(select(users).where(users.c.user_id == user_id)).first()
        if row is None:
            raise NotFound(f"user {user_id} does not exist")
        if (
            current is not None
            and row.password_hash
            and not check_password(current, row.password_hash)
        ):
            raise Unauthorized("the current password is wrong")
        conn.execute(
            update(users)
            .where(users.c.user_id == user_id)
            .values(password_hash=hash_password(password))
        )
        end_user_sessions(conn, user_id, store.clock.now(), keep=keep_session)


def set_active(store: Store, user_id: str, active: bool) -> Principal:
    """Deactivate (sessions end, keys stop working, history stays) or reactivate a user."""
    now = store.clock.now()
    with store.db.write() as conn:
        user = get_user(conn, user_id)
        conn.execute(
            update(users)
            .where(users.c.user_id == user_id)
            .values(disabled_at=None if active else now)
        )
        if not active:
            end_user_sessions(conn, user_id, now)
        auth_cache.bump(conn)  # the user's keys stop (or start) working everywhere at once
    return user


def list_api_keys(store: Store) -> list[dict[str, Any]]:
    """Every key's metadata (never the key: only its hash is stored)."""
    with store.db.read() as conn:
        rows = conn.execute(
            select(
                api_keys.c.key_id,
                api_keys.c.user_id,
                api_keys.c.name,
                api_keys.c.created_at,
                api_keys.c.revoked_at,
            ).order_by(api_keys.c.created_at)
        ).all()
    return [dict(r._mapping) for r in rows]


def revoke_api_key(store: Store, key_id: str) -> None:
    """The key stops working, and so does every browser session opened with it."""
    now = store.clock.now()
    with store.db.write() as conn:
        result = conn.execute(
            update(api_keys)
            .where(api_keys.c.key_id == key_id, api_keys.c.revoked_at.is_(None))
            .values(revoked_at=now)
        )
        end_key_sessions(conn, key_id, now)
        auth_cache.bump(conn)
    if result.rowcount == 0:
        raise NotFound(f"API key {key_id} does not exist or is already revoked")


def get_user(conn: Connection, user_id: str) -> Principal:
    row = conn.execute(select(users).where(users.c.user_id == user_id)).first()
    if row is None:
        raise NotFound(f"user {user_id} does not exist")
    return _principal(row)


def _insert_key(conn: Connection, store: Store, user_id: str, name: str, key: str) -> str:
    key_id = new_hash()
    conn.execute(
        insert(api_keys).values(
            key_id=key_id,
            key_hash=hash_key(key),
            user_id=user_id,
            name=name,
            created_at=store.clock.now(),
        )
    )
    return key_id


def create_api_key(store: Store, user_id: str, name: str) -> tuple[str, str]:
    """Returns ``(key_id, key)``; the key itself is stored only as a hash."""
    key = new_api_key()
    with store.db.write() as conn:
        get_user(conn, user_id)
        key_id = _insert_key(conn, store, user_id, name, key)
    return key_id, key


_KEY_OWNER = (
    select(users, api_keys.c.key_id)
    .join(api_keys, api_keys.c.user_id == users.c.user_id)
    .where(
        api_keys.c.key_hash == bindparam("key_hash"),
        api_keys.c.revoked_at.is_(None),
        users.c.disabled_at.is_(None),
    )
)


def key_owner(conn: Connection, key_hash: str) -> tuple[Principal, str]:
    """The active user holding the (unrevoked) key with this hash, and the key's id."""
    row = conn.execute(_KEY_OWNER, {"key_hash": key_hash}).first()
    if row is None:
        raise Unauthorized("the API key is not valid")
    return _principal(row), row.key_id


def authenticate_key(store: Store, key: str) -> tuple[Principal, str]:
    """The key's active user and the key's id (a session opened with it names it)."""
    with store.db.read() as conn:
        return key_owner(conn, hash_key(key))


def authenticate(store: Store, key: str) -> Principal:
    return authenticate_key(store, key)[0]


def authenticate_password(store: Store, username: str, password: str) -> Principal:
    with store.db.read() as conn:
        row = conn.execute(select(users).where(users.c.username == username)).first()
    if row is None or not check_password(password, row.password_hash):
        raise Unauthorized("wrong username or password")
    if row.disabled_at is not None:
        raise Unauthorized("this account is deactivated; ask an admin")
    return _principal(row)


def bootstrap_admin(store: Store, key: str | None) -> str | None:
    """On an empty database create the admin user and key; return the key if created.

    Several processes may start at once on one database: the unique username makes one
    of them win and the others find the admin already there.
    """
    key = key or new_api_key()
    try:
        with store.db.write() as conn:
            if conn.execute(select(users.c.user_id).limit(1)).first():
                return None
            user_id = new_hash()
            conn.execute(
                insert(users).values(
                    user_id=user_id,
                    username="admin",
                    is_admin=True,
                    created_at=store.clock.now(),
                )
            )
            _insert_key(conn, store, user_id, "bootstrap", key)
    except IntegrityError:
        return None
    return key


def set_membership(store: Store, project_hash: str, user_id: str, role: Role) -> None:
    with store.db.write() as conn:
        get_user(conn, user_id)
        if not conn.execute(
            select(projects.c.seq).where(projects.c.project_hash == project_hash)
        ).first():
            raise NotFound(f"project {project_hash} does not exist")
        conn.execute(
            memberships.delete().where(
                memberships.c.project_hash == project_hash, memberships.c.user_id == user_id
            )
        )
        conn.execute(
            insert(memberships).values(project_hash=project_hash, user_id=user_id, role=role)
        )
        auth_cache.bump(conn)


def list_memberships(store: Store, project_hash: str) -> list[dict[str, Any]]:
    with store.db.read() as conn:
        rows = conn.execute(
            select(users.c.user_id, users.c.username, memberships.c.role)
            .join(memberships, memberships.c.user_id == users.c.user_id)
            .where(memberships.c.project_hash == project_hash)
            .order_by(users.c.username)
        ).all()
    return [{"user_id": r.user_id, "username": r.username, "role": Role(r.role)} for r in rows]


def deactivated_ids(store: Store) -> set[str]:
    with store.db.read() as conn:
        rows = conn.execute(select(users.c.user_id).where(users.c.disabled_at.is_not(None)))
        return {r.user_id for r in rows}

"""Dependencies shared by the routes, as ``Annotated`` aliases.

Access checks are the rules of ``store/access.py``, the same ones the UI applies.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Query, Request
from starlette.concurrency import run_in_threadpool

from stagehook.errors import Forbidden, Unauthorized
from stagehook.store import sessions
from stagehook.store.access import (
    Principal,
    Role,
    require_admin,
    require_manager,
    require_project_admin,
    require_project_role,
)
from stagehook.store.auth_cache import current_epoch, read_epoch
from stagehook.store.context import Store
from stagehook.store.credentials import hash_key
from stagehook.store.users import key_owner

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


# The dependencies every request runs are ``async``: FastAPI runs a plain ``def`` dependency
# on a worker thread, and the hop there and back cost a submit as much as its SQL. Where a
# dependency must read the database it does so from the loop (``Database.read_value``) or
# in one hop.


async def get_store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


StoreDep = Annotated[Store, Depends(get_store)]


def carries_session_csrf(request: Request, sent: str | None) -> bool:
    """Whether ``sent`` is the session's CSRF token: the one check for UI forms (web/)
    and for the UI's own calls to this API."""
    expected = request.session.get("csrf")
    return isinstance(expected, str) and bool(sent) and hmac.compare_digest(expected, sent or "")


async def _session_principal(request: Request, store: Store) -> Principal | None:
    """The signed-in browser's user, so the UI's scripts call the same API as everyone.

    Only when the web UI's session middleware runs and no ``Authorization`` header is
    sent; the session is the server-side one the UI resolves (``store.sessions``), and
    unsafe methods must carry its CSRF token in ``X-CSRF-Token``.
    """
    if "session" not in request.scope or "authorization" in request.headers:
        return None
    token = request.session.get("sid")
    if not isinstance(token, str):
        return None
    if request.method not in SAFE_METHODS and not carries_session_csrf(
        request, request.headers.get("x-csrf-token")
    ):
        raise Forbidden("send the page's CSRF token as 'X-CSRF-Token' with a session")
    resolved = await run_in_threadpool(sessions.resolve_session, store, token)
    if resolved is None:
        raise Unauthorized("this session has ended; sign in again")
    return resolved.principal


async def current_principal(request: Request, store: StoreDep) -> Principal:
    """The session's or the key's user; a key's owner comes from the auth cache unless
    access changed since it was cached (store/auth_cache.py)."""
    signed_in = await _session_principal(request, store)
    if signed_in is not None:
        return signed_in
    key_hash = _bearer_key_hash(request)
    if key_hash is None:
        raise Unauthorized("send an API key as 'Authorization: Bearer <key>', or sign in")
    epoch = await current_epoch(store.db)
    cached: Principal | None = store.auth.peek(epoch, ("key", key_hash))
    if cached is not None:
        request.state.auth_epoch = epoch
        return cached
    request.state.auth_epoch, owner = await run_in_threadpool(_key_owner, store, key_hash)
    return owner


def _bearer_key_hash(request: Request) -> str | None:
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        return None
    return hash_key(key.strip())


def cached_key_access(
    request: Request, store: Store, project_hash: str
) -> tuple[Principal, Role, int] | None:
    """A key's owner, role in ``project_hash`` and the epoch both were cached under, from
    the auth cache alone (no read), or None: then authenticate with ``current_principal``
    and ``project_role``. Only for a write that checks the epoch in its own statement
    (``auth_cache.require_epoch``); a refusal is never cached, so it always takes the
    usual path and its usual error."""
    key_hash = _bearer_key_hash(request)  # None for a browser session: the usual path
    owner = None if key_hash is None else store.auth.latest(("key", key_hash))
    if owner is None:
        return None
    epoch, principal = owner
    role = store.auth.latest(_role_key(principal, project_hash))
    if role is None or role[0] != epoch:
        return None
    return principal, role[1], epoch


def _role_key(principal: Principal, project_hash: str) -> tuple[object, ...]:
    return ("role", principal.user_id, principal.is_admin, project_hash)


def _key_owner(store: Store, key_hash: str) -> tuple[int, Principal]:
    with store.db.read() as conn:
        epoch = read_epoch(conn)
        principal = store.auth.get(epoch, ("key", key_hash), lambda: key_owner(conn, key_hash)[0])
    return epoch, principal


CurrentUser = Annotated[Principal, Depends(current_principal)]


#: The browser's session works on every route (see ``_session_principal``); the name stays
#: for the media routes (``<img src>`` and uploads from the UI) that say so explicitly.
KeyOrSession = CurrentUser


async def admin_user(principal: CurrentUser) -> Principal:
    return require_admin(principal)


AdminUser = Annotated[Principal, Depends(admin_user)]


async def project_role(
    request: Request, project_hash: str, principal: CurrentUser, store: StoreDep
) -> Role:
    """Cached under the epoch a key's request authenticated with (store/auth_cache.py);
    a browser session's request reads it afresh."""
    epoch: int | None = getattr(request.state, "auth_epoch", None)
    if epoch is None:
        return await run_in_threadpool(require_project_role, store, principal, project_hash)
    key = _role_key(principal, project_hash)
    role: Role | None = store.auth.peek(epoch, key)
    if role is None:
        role = await run_in_threadpool(
            store.auth.get, epoch, key, lambda: require_project_role(store, principal, project_hash)
        )
    return role


ProjectRole = Annotated[Role, Depends(project_role)]


async def manager_role(role: ProjectRole) -> Role:
    return require_manager(role)


ManagerRole = Annotated[Role, Depends(manager_role)]


async def project_admin_role(role: ProjectRole) -> Role:
    return require_project_admin(role)


ProjectAdminRole = Annotated[Role, Depends(project_admin_role)]

Limit = Annotated[int, Query(ge=1, le=500, description="page size")]
Cursor = Annotated[str | None, Query(max_length=200, description="next_cursor of a previous page")]

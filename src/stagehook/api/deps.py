"""Dependencies shared by the routes, as ``Annotated`` aliases.

Access checks are the rules of ``store/access.py``, the same ones the UI applies.
"""

from __future__ import annotations

import hmac
from typing import Annotated

from fastapi import Depends, Query, Request

from stagehook.errors import Forbidden, NotFound, Unauthorized
from stagehook.store.access import (
    Principal,
    Role,
    require_admin,
    require_manager,
    require_project_admin,
    require_project_role,
)
from stagehook.store.context import Store
from stagehook.store.users import authenticate, get_user


def get_store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


StoreDep = Annotated[Store, Depends(get_store)]


def current_principal(request: Request, store: StoreDep) -> Principal:
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise Unauthorized("send an API key as 'Authorization: Bearer <key>'")
    return authenticate(store, key.strip())


CurrentUser = Annotated[Principal, Depends(current_principal)]


def key_or_session(request: Request, store: StoreDep) -> Principal:
    """An API key, or the browser's signed-in session (for ``<img src>`` and uploads from
    the UI); a session's unsafe requests must carry its CSRF token in ``X-CSRF-Token``."""
    if request.headers.get("authorization") or "session" not in request.scope:
        return current_principal(request, store)
    user_id = request.session.get("user_id")
    if not isinstance(user_id, str):
        raise Unauthorized("send an API key as 'Authorization: Bearer <key>', or sign in")
    if request.method not in ("GET", "HEAD", "OPTIONS"):
        expected = request.session.get("csrf")
        sent = request.headers.get("x-csrf-token", "")
        if not isinstance(expected, str) or not hmac.compare_digest(expected, sent):
            raise Forbidden("send the page's CSRF token in the X-CSRF-Token header")
    with store.db.read() as conn:
        try:
            return get_user(conn, user_id)
        except NotFound as exc:
            raise Unauthorized("your account no longer exists; sign in again") from exc


KeyOrSession = Annotated[Principal, Depends(key_or_session)]


def admin_user(principal: CurrentUser) -> Principal:
    return require_admin(principal)


AdminUser = Annotated[Principal, Depends(admin_user)]


def project_role(project_hash: str, principal: CurrentUser, store: StoreDep) -> Role:
    return require_project_role(store, principal, project_hash)


ProjectRole = Annotated[Role, Depends(project_role)]


def manager_role(role: ProjectRole) -> Role:
    return require_manager(role)


ManagerRole = Annotated[Role, Depends(manager_role)]


def project_admin_role(role: ProjectRole) -> Role:
    return require_project_admin(role)


ProjectAdminRole = Annotated[Role, Depends(project_admin_role)]

Limit = Annotated[int, Query(ge=1, le=500, description="page size")]
Cursor = Annotated[str | None, Query(max_length=200, description="next_cursor of a previous page")]

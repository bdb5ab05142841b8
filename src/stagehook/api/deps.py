"""Dependencies shared by the routes, as ``Annotated`` aliases."""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request

from stagehook.errors import Forbidden, Unauthorized
from stagehook.store.auth_cache import read_epoch
from stagehook.store.context import Store
from stagehook.store.projects import require_access
from stagehook.store.users import MANAGER_ROLES, Principal, Role, hash_key, key_owner


def get_store(request: Request) -> Store:
    store: Store = request.app.state.store
    return store


StoreDep = Annotated[Store, Depends(get_store)]


def current_principal(request: Request, store: StoreDep) -> Principal:
    """The key's owner, from the auth cache unless access changed since it was cached."""
    header = request.headers.get("authorization", "")
    scheme, _, key = header.partition(" ")
    if scheme.lower() != "bearer" or not key.strip():
        raise Unauthorized("send an API key as 'Authorization: Bearer <key>'")
    key_hash = hash_key(key.strip())
    with store.db.read() as conn:
        epoch = read_epoch(conn)
        principal = store.auth.get(epoch, ("key", key_hash), lambda: key_owner(conn, key_hash))
    request.state.auth_epoch = epoch
    return principal


CurrentUser = Annotated[Principal, Depends(current_principal)]


def admin_user(principal: CurrentUser) -> Principal:
    if not principal.is_admin:
        raise Forbidden("this needs an admin API key")
    return principal


AdminUser = Annotated[Principal, Depends(admin_user)]


def project_role(
    request: Request, project_hash: str, principal: CurrentUser, store: StoreDep
) -> Role:
    """Cached under the epoch this request authenticated with (see store/auth_cache.py)."""

    def load() -> Role:
        with store.db.read() as conn:
            return require_access(conn, principal, project_hash)

    key = ("role", principal.user_id, principal.is_admin, project_hash)
    return store.auth.get(request.state.auth_epoch, key, load)


ProjectRole = Annotated[Role, Depends(project_role)]


def manager_role(role: ProjectRole) -> Role:
    if role not in MANAGER_ROLES:
        raise Forbidden(f"a {role.value} cannot change this project's workflow or webhooks")
    return role


ManagerRole = Annotated[Role, Depends(manager_role)]


def admin_role(role: ProjectRole) -> Role:
    if role != Role.ADMIN:
        raise Forbidden("only a project admin can do this")
    return role


AdminRole = Annotated[Role, Depends(admin_role)]

Limit = Annotated[int, Query(ge=1, le=500, description="page size")]
Cursor = Annotated[str | None, Query(max_length=200, description="next_cursor of a previous page")]

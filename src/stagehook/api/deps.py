"""Dependencies shared by the routes, as ``Annotated`` aliases.

Access checks are the rules of ``store/access.py``, the same ones the UI applies.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import Depends, Query, Request

from stagehook.errors import Unauthorized
from stagehook.store.access import (
    Principal,
    Role,
    require_admin,
    require_manager,
    require_project_admin,
    require_project_role,
)
from stagehook.store.context import Store
from stagehook.store.users import authenticate


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

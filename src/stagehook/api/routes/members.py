"""A project's members and their roles."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from stagehook.api.deps import ProjectAdminRole, StoreDep
from stagehook.api.openapi import DocumentedRoute
from stagehook.api.public import MemberPublic
from stagehook.api.schemas import MembershipPut
from stagehook.store import users

router = APIRouter(prefix="/projects/{project_hash}", tags=["members"], route_class=DocumentedRoute)


@router.put("/members", status_code=200, response_model=MemberPublic)
def put_member(
    project_hash: str, body: MembershipPut, store: StoreDep, _: ProjectAdminRole
) -> dict[str, Any]:
    users.set_membership(store, project_hash, body.user_id, body.role)
    return {"project_hash": project_hash, "user_id": body.user_id, "role": body.role.value}

"""A project's members: who has which role (project admins change them)."""

from __future__ import annotations

from fastapi import Request, Response

from stagehook.errors import InvalidInput, StagehookError
from stagehook.store import users
from stagehook.store.access import Role, require_project_admin, require_project_role
from stagehook.web.common import StoreDep, Text, WebUser, back, flash, web_router

router = web_router()


@router.post("/projects/{project_hash}/members")
def set_member(
    request: Request,
    project_hash: str,
    store: StoreDep,
    user: WebUser,
    username: Text,
    role: Text,
) -> Response:
    try:
        require_project_admin(require_project_role(store, user, project_hash))
        match = next((u for u in users.list_users(store) if u.username == username.strip()), None)
        if match is None:
            raise InvalidInput(f"there is no user {username.strip()!r}")
        if role not in {r.value for r in Role}:
            raise InvalidInput(f"unknown role {role!r}")
        users.set_membership(store, project_hash, match.user_id, Role(role))
    except StagehookError as exc:
        flash(request, exc.message, "error")
    else:
        flash(request, f"{match.username} is now {Role(role).value} on this project.")
    return back(f"/projects/{project_hash}#members")

"""Users: your own password, and the admin's pages for users and API keys."""

from __future__ import annotations

from fastapi import Request, Response

from stagehook.errors import InvalidInput, StagehookError
from stagehook.store import sessions, users
from stagehook.web.common import (
    StoreDep,
    Text,
    WebAdmin,
    WebUser,
    back,
    flash,
    render,
    web_router,
)

router = web_router()


@router.post("/settings/password")
def change_password(
    request: Request,
    store: StoreDep,
    user: WebUser,
    password: Text,
    confirm: Text,
    current: Text = "",
) -> Response:
    if password != confirm:
        flash(request, "the two new passwords differ", "error")
        return back("/settings#password")
    try:
        users.set_password(
            store, user.user_id, password, current=current, keep_session=request.state.session_id
        )
    except StagehookError as exc:
        flash(request, exc.message, "error")
    else:
        flash(
            request,
            "Your password is set; use it to sign in next time. Your other sessions ended.",
        )
    return back("/settings#password")


def _users_page(request: Request, store: StoreDep, new_key: dict[str, str] | None) -> Response:
    everyone = users.list_users(store)
    names = {u.user_id: u.username for u in everyone}
    keys = [dict(k, username=names.get(k["user_id"], "?")) for k in users.list_api_keys(store)]
    live = {u.user_id: sessions.list_sessions(store, u.user_id) for u in everyone}
    return render(
        request,
        "users.html",
        users=everyone,
        keys=keys,
        new_key=new_key,
        sessions=live,
        deactivated=users.deactivated_ids(store),
    )


@router.get("/admin/users")
def users_page(request: Request, store: StoreDep, _: WebAdmin) -> Response:
    return _users_page(request, store, None)


@router.post("/admin/users")
def create_user(
    request: Request,
    store: StoreDep,
    _: WebAdmin,
    username: Text,
    password: Text = "",
    is_admin: Text = "",
) -> Response:
    try:
        user = users.create_user(
            store, username, is_admin=bool(is_admin), password=password or None
        )
    except StagehookError as exc:
        flash(request, exc.message, "error")
    else:
        flash(request, f"User {user.username} created.")
    return back("/admin/users")


@router.post("/admin/users/{user_id}/password")
def reset_password(
    request: Request, user_id: str, store: StoreDep, _: WebAdmin, password: Text
) -> Response:
    try:
        users.set_password(store, user_id, password)
    except StagehookError as exc:
        flash(request, exc.message, "error")
    else:
        flash(request, "Password set.")
    return back("/admin/users")


@router.post("/admin/users/{user_id}/active")
def set_user_active(
    request: Request, user_id: str, store: StoreDep, admin: WebAdmin, active: Text = ""
) -> Response:
    """Deactivating ends the user's sessions and stops their keys; history stays."""
    try:
        if user_id == admin.user_id and not active:
            raise InvalidInput("you cannot deactivate yourself")
        user = users.set_active(store, user_id, bool(active))
    except StagehookError as exc:
        flash(request, exc.message, "error")
    else:
        state = "reactivated" if active else "deactivated; their sessions ended"
        flash(request, f"User {user.username} {state}.")
    return back("/admin/users")


@router.post("/admin/api-keys")
def create_api_key(
    request: Request, store: StoreDep, _: WebAdmin, user_id: Text, name: Text = "api"
) -> Response:
    """The key is shown in this response only; it is stored as a hash."""
    try:
        _key_id, key = users.create_api_key(store, user_id, name.strip() or "api")
    except StagehookError as exc:
        flash(request, exc.message, "error")
        return back("/admin/users")
    return _users_page(request, store, {"name": name, "key": key})


@router.post("/admin/api-keys/{key_id}/revoke")
def revoke_api_key(request: Request, key_id: str, store: StoreDep, _: WebAdmin) -> Response:
    try:
        users.revoke_api_key(store, key_id)
    except StagehookError as exc:
        flash(request, exc.message, "error")
    else:
        flash(request, "API key revoked.")
    return back("/admin/users")

"""Signing in and out, the settings page, and the admin's users and API keys."""

from __future__ import annotations

from typing import Annotated

from fastapi import Form, Request, Response

from stagehook.api.routes.meta import meta_document
from stagehook.errors import InvalidInput, StagehookError, TooManyRequests, Unauthorized
from stagehook.store import sessions, throttle, users
from stagehook.web.common import (
    StoreDep,
    WebAdmin,
    WebUser,
    back,
    client_address,
    flash,
    render,
    sign_in,
    sign_out,
    web_router,
)

router = web_router()

Text = Annotated[str, Form(max_length=2048)]


def _local(target: str) -> str:
    """Only same-site paths: ``next`` must not become an open redirect."""
    if target.startswith("/") and not target.startswith(("//", "/\\")):
        return target
    return "/projects"


@router.get("/")
def home(_: WebUser) -> Response:
    return back("/projects")


@router.get("/signin")
def signin_page(request: Request, next: str = "/projects") -> Response:
    return render(request, "signin.html", next=_local(next), username="", error=None)


@router.post("/signin")
def signin(
    request: Request,
    store: StoreDep,
    username: Text = "",
    password: Text = "",
    api_key: Text = "",
    next: Text = "/projects",
) -> Response:
    address = client_address(request)
    key = api_key.strip()
    name = None if key else username.strip()
    try:
        throttle.check(store, name, address)
        try:
            if key:
                principal, key_id = users.authenticate_key(store, key)
            else:
                principal, key_id = users.authenticate_password(store, name or "", password), None
        except Unauthorized:
            throttle.record_failure(store, name, address)
            raise
    except StagehookError as exc:
        page = render(
            request,
            "signin.html",
            status=exc.status,
            next=_local(next),
            username=username,
            error=exc.message,
            key_error=bool(key),
        )
        if isinstance(exc, TooManyRequests):
            page.headers["retry-after"] = str(exc.retry_after)
        return page
    if name is not None:
        throttle.record_success(store, name)
    sign_in(request, store, principal, key_id)
    return back(_local(next))


@router.post("/signout")
def signout(request: Request, store: StoreDep) -> Response:
    sign_out(request, store)
    return back("/signin")


@router.get("/settings")
def settings_page(request: Request, store: StoreDep, user: WebUser) -> Response:
    return render(
        request,
        "settings.html",
        meta=meta_document(store),
        sessions=sessions.list_sessions(store, user.user_id),
        this_session=request.state.session_id,
        idle_hours=round(store.settings.session_idle_timeout / 3600, 1),
    )


@router.post("/settings/sessions/{session_id}/end")
def end_own_session(request: Request, session_id: str, store: StoreDep, user: WebUser) -> Response:
    sessions.revoke_session(store, user.user_id, session_id)
    flash(request, "Session ended.")
    return back("/settings#sessions")


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


@router.post("/admin/users/{user_id}/sessions/{session_id}/end")
def end_user_session(
    request: Request, user_id: str, session_id: str, store: StoreDep, _: WebAdmin
) -> Response:
    try:
        sessions.revoke_session(store, user_id, session_id)
    except StagehookError as exc:
        flash(request, exc.message, "error")
    else:
        flash(request, "Session ended.")
    return back("/admin/users")


@router.post("/admin/users/{user_id}/active")
def set_user_active(
    request: Request, user_id: str, store: StoreDep, admin: WebAdmin, active: Text = ""
) -> Response:
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

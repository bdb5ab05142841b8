"""Ending browser sessions by hand: your own (settings page) or any user's (admin)."""

from __future__ import annotations

from fastapi import Request, Response

from stagehook.errors import StagehookError
from stagehook.store import sessions
from stagehook.web.common import StoreDep, WebAdmin, WebUser, back, flash, web_router

router = web_router()


@router.post("/settings/sessions/{session_id}/end")
def end_own_session(request: Request, session_id: str, store: StoreDep, user: WebUser) -> Response:
    sessions.revoke_session(store, user.user_id, session_id)
    flash(request, "Session ended.")
    return back("/settings#sessions")


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

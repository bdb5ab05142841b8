"""The settings page: the deployment's facts (source addresses), as ``GET /meta`` gives them."""

from __future__ import annotations

from fastapi import Request, Response

from stagehook.api.routes.meta import meta_document
from stagehook.store import sessions
from stagehook.web.common import StoreDep, WebUser, render, web_router

router = web_router()


@router.get("/settings")
def settings_page(request: Request, store: StoreDep, user: WebUser) -> Response:
    """Also lists the user's browser sessions, each one revocable."""
    return render(
        request,
        "settings.html",
        meta=meta_document(store),
        sessions=sessions.list_sessions(store, user.user_id),
        this_session=request.state.session_id,
        idle_hours=round(store.settings.session_idle_timeout / 3600, 1),
    )

"""The settings page: the deployment's facts (source addresses), as ``GET /meta`` gives them."""

from __future__ import annotations

from fastapi import Request, Response

from stagehook.api.routes.meta import meta_document
from stagehook.web.common import StoreDep, WebUser, render, web_router

router = web_router()


@router.get("/settings")
def settings_page(request: Request, store: StoreDep, _: WebUser) -> Response:
    return render(request, "settings.html", meta=meta_document(store))

"""Signing in and out."""

from __future__ import annotations

from fastapi import Request, Response

from stagehook.errors import StagehookError
from stagehook.store import users
from stagehook.web.common import (
    StoreDep,
    Text,
    WebUser,
    back,
    render,
    same_site_path,
    sign_in,
    web_router,
)

router = web_router()
HOME = "/projects"


@router.get("/")
def home(_: WebUser) -> Response:
    return back(HOME)


@router.get("/signin")
def signin_page(request: Request, next: str = "/projects") -> Response:
    return render(request, "signin.html", next=same_site_path(next, HOME), username="", error=None)


@router.post("/signin")
def signin(
    request: Request,
    store: StoreDep,
    username: Text = "",
    password: Text = "",
    api_key: Text = "",
    next: Text = "/projects",
) -> Response:
    try:
        if api_key.strip():
            principal = users.authenticate(store, api_key.strip())
        else:
            principal = users.authenticate_password(store, username.strip(), password)
    except StagehookError as exc:
        return render(
            request,
            "signin.html",
            status=exc.status,
            next=same_site_path(next, HOME),
            username=username,
            error=exc.message,
            key_error=bool(api_key.strip()),
        )
    sign_in(request, principal)
    return back(same_site_path(next, HOME))


@router.post("/signout")
def signout(request: Request) -> Response:
    request.session.clear()
    return back("/signin")

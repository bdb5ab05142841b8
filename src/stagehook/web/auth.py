"""Signing in and out."""

from __future__ import annotations

from fastapi import Request, Response

from stagehook.errors import StagehookError, TooManyRequests, Unauthorized
from stagehook.store import throttle, users
from stagehook.web.common import (
    StoreDep,
    Text,
    WebUser,
    back,
    client_address,
    render,
    same_site_path,
    sign_in,
    sign_out,
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
    """Throttled per username and per client address (counted in the database)."""
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
            next=same_site_path(next, HOME),
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
    return back(same_site_path(next, HOME))


@router.post("/signout")
def signout(request: Request, store: StoreDep) -> Response:
    """The session ends on the server: a copy of the old cookie opens nothing."""
    sign_out(request, store)
    return back("/signin")

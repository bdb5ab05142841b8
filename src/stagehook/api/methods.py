"""HTTP method semantics the framework leaves out: HEAD wherever GET works, and an
``Allow`` header on every 405 that lists what the path does support.
"""

from __future__ import annotations

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from starlette.routing import Match, Mount
from starlette.types import ASGIApp, Message, Receive, Scope, Send

#: What the app may serve; each is tried against the routes (included routers nest).
METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


def allowed_methods(app: FastAPI, path: str) -> list[str]:
    """Every method some route serves at ``path`` (HEAD wherever GET is)."""
    methods = set()
    for method in METHODS:
        scope = {"type": "http", "path": path, "method": method, "root_path": ""}
        for route in app.router.routes:
            if isinstance(route, Mount):  # static files: GET and HEAD only
                if route.matches(scope)[0] == Match.FULL and method == "GET":
                    methods.add(method)
            elif route.matches(scope)[0] == Match.FULL:
                methods.add(method)
    if "GET" in methods:
        methods.add("HEAD")
    return sorted(methods)


def with_allow(app: FastAPI, request: Request, response: JSONResponse) -> JSONResponse:
    """Call on a 405: name the methods the path supports."""
    response.headers["allow"] = ", ".join(allowed_methods(app, request.url.path))
    return response


class HeadAsGet:
    """Answer HEAD as the GET would be answered, headers and all, without the body."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or scope["method"] != "HEAD":
            await self.app(scope, receive, send)
            return

        async def headers_only(message: Message) -> None:
            if message["type"] == "http.response.body":
                if not message.get("more_body", False):
                    await send({"type": "http.response.body", "body": b""})
                return
            await send(message)

        await self.app(dict(scope, method="GET"), receive, headers_only)

"""Routes answered without FastAPI's per-request machinery, for the hottest endpoint.

A single-task submit through FastAPI spent more CPU in the framework than in its own
work: matching the path against every included router (FastAPI re-derives each router's
route list per request), solving four dependencies through the generic resolver, and
validating the body and the answer through per-field wrappers. ``DirectRoute`` sits in
front of the declared route for the same path and answers the request the way FastAPI
would, from the same pieces: the same Pydantic models (body validated, answer validated
and serialized by the same ``TypeAdapter`` calls FastAPI makes), the same dependency
functions (``api/deps.py``), the same exception handlers (``api/errors.py``).

Only the common case is answered here: a JSON body that validates. Anything else (no or
another content type, a body that does not validate) is *declined*: the request goes on
to the declared FastAPI route with its body, and FastAPI answers it, errors and all. So
every error a client can see is FastAPI's own, byte for byte
(``tests/integration/test_direct_routes.py`` holds both paths to the same answers), and
the declared route stays what the OpenAPI schema documents.

Hand-written because the framework's generic path costs the speed issue 11 needs; one
route uses it, and adding one means adding its twin to that test.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

from starlette._exception_handler import wrap_app_handling_exceptions
from starlette._utils import get_route_path
from starlette.datastructures import URLPath
from starlette.requests import ClientDisconnect, Request
from starlette.responses import Response
from starlette.routing import BaseRoute, Match, NoMatchFound, compile_path
from starlette.types import Message, Receive, Scope, Send

#: Set on a request's scope once declined, so the declared route matches it instead.
DECLINED = "stagehook.direct_declined"


class Declined(Exception):
    """This request is the declared route's to answer (see the module docstring)."""


#: ``handler(request, body) -> Response``, or raise :class:`Declined`
Handler = Callable[[Request, bytes], Awaitable[Response]]


def json_body_sent(request: Request) -> bool:
    """Whether FastAPI would parse this request's body as JSON (strict content type:
    ``application/json`` or ``application/<anything>+json``, as FastAPI reads it)."""
    kind = request.headers.get("content-type", "").split(";", 1)[0].strip().lower()
    main, slash, sub = kind.partition("/")
    return main == "application" and bool(slash) and (sub == "json" or sub.endswith("+json"))


class DirectRoute(BaseRoute):
    """``method path`` answered by ``handler(request, body)``, or declined."""

    def __init__(self, method: str, path: str, handler: Handler) -> None:
        self.method = method
        self.path = path
        self.handler = handler
        self.path_regex, self.path_format, self.param_convertors = compile_path(path)

    def matches(self, scope: Scope) -> tuple[Match, Scope]:
        if scope["type"] != "http" or scope["method"] != self.method or DECLINED in scope:
            return Match.NONE, {}
        found = self.path_regex.match(get_route_path(scope))
        if found is None:
            return Match.NONE, {}
        params = {
            name: self.param_convertors[name].convert(value)
            for name, value in found.groupdict().items()
        }
        return Match.FULL, {"path_params": {**scope.get("path_params", {}), **params}}

    async def handle(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = Request(scope, receive, send)

        async def answer(scope: Scope, receive: Receive, send: Send) -> None:
            try:
                body = await request.body()
            except ClientDisconnect:  # the declared route finds the stream cut short too
                await _decline(request, None, send)
                return
            try:
                response = await self.handler(request, body)
            except Declined:
                await _decline(request, body, send)
                return
            await response(scope, receive, send)

        # exactly as Starlette runs an endpoint: the app's exception handlers answer errors
        await wrap_app_handling_exceptions(answer, request)(scope, receive, send)

    def url_path_for(self, name: str, /, **path_params: Any) -> URLPath:
        # nameless: url_for() finds the declared route of the same path
        raise NoMatchFound(name, path_params)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await self.handle(scope, receive, send)


async def _decline(request: Request, body: bytes | None, send: Send) -> None:
    """Route the request again, past this route, with the body read here (or, when the
    stream was cut short, with what is left of it)."""

    async def receive() -> Message:
        nonlocal body
        if body is not None:
            message: Message = {"type": "http.request", "body": body, "more_body": False}
            body = None
            return message
        return await request.receive()

    scope = request.scope
    scope[DECLINED] = True
    await scope["router"](scope, receive, send)

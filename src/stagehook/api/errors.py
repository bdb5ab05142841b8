"""Every failure leaves as ``{"error": {"code", "message"}}`` with a 4xx (or 503)."""

from __future__ import annotations

import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel
from sqlalchemy.exc import DataError, IntegrityError, InterfaceError, OperationalError
from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from stagehook.api.methods import with_allow
from stagehook.config import MAX_BODY_BYTES
from stagehook.errors import StagehookError

log = logging.getLogger(__name__)


class ErrorDetail(BaseModel):
    #: stable and machine-readable: ``not_found``, ``conflict``, ``invalid_input``, ...
    code: str
    #: says what is wrong, for a person
    message: str


class ErrorPublic(BaseModel):
    """The one shape every failure answers with."""

    error: ErrorDetail


ERROR_DESCRIPTIONS: dict[int, str] = {
    401: "No API key, or one that is not valid",
    403: "The key's user may not do this here",
    404: "Not found, or not visible to this key's user",
    409: "Conflicts with the current state (refetch and retry)",
    413: "The request body (or one uploaded file) is over its limit",
    415: "The file is not an image stagehook can use (PNG, JPEG, WebP or GIF)",
    422: "The input is not valid; the message names the field",
}


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """OpenAPI ``responses`` entries for these statuses, with the error schema."""
    return {
        status: {"model": ErrorPublic, "description": ERROR_DESCRIPTIONS[status]}
        for status in statuses
    }


def problem(status: int, code: str, message: str) -> JSONResponse:
    return JSONResponse({"error": {"code": code, "message": message}}, status_code=status)


def describe_validation(errors: Any) -> str:
    """One line naming each of the first few problems, for the API and the UI alike."""
    parts = []
    for err in list(errors)[:5]:
        loc = ".".join(str(p) for p in err.get("loc", ()) if p not in ("body",))
        if err.get("type") == "json_invalid":
            return "the request body is not valid JSON"
        parts.append(f"{loc}: {err.get('msg')}" if loc else str(err.get("msg")))
    return "; ".join(parts) or "invalid request"


def install(app: FastAPI) -> None:
    @app.exception_handler(StagehookError)
    async def _domain(_: Request, exc: StagehookError) -> JSONResponse:
        return problem(exc.status, exc.code, exc.message)

    @app.exception_handler(RequestValidationError)
    async def _validation(_: Request, exc: RequestValidationError) -> JSONResponse:
        return problem(422, "invalid_input", describe_validation(exc.errors()))

    @app.exception_handler(HTTPException)
    async def _http(request: Request, exc: HTTPException) -> JSONResponse:
        code = {404: "not_found", 405: "method_not_allowed"}.get(exc.status_code, "http_error")
        response = problem(exc.status_code, code, str(exc.detail))
        if exc.status_code == 405:
            return with_allow(app, request, response)
        return response

    @app.exception_handler(OperationalError)
    @app.exception_handler(InterfaceError)
    async def _database_down(_: Request, exc: Exception) -> JSONResponse:
        log.warning("database unavailable: %s", str(exc).splitlines()[0])
        return problem(503, "unavailable", "the database is unreachable; try again shortly")

    @app.exception_handler(DataError)
    async def _unstorable(_: Request, exc: DataError) -> JSONResponse:
        return problem(
            422,
            "invalid_input",
            "the request holds a value the database cannot store "
            "(a NUL character, a non-finite number or an out-of-range integer)",
        )

    @app.exception_handler(IntegrityError)
    async def _integrity(_: Request, exc: IntegrityError) -> JSONResponse:
        return problem(409, "conflict", "a concurrent change conflicted with this request")

    @app.exception_handler(Exception)
    async def _unexpected(request: Request, exc: Exception) -> JSONResponse:
        log.exception("unhandled error on %s %s", request.method, request.url.path)
        return problem(500, "internal", "internal error; the server log has the details")


#: Routes that stream binary bodies to disk under their own cap (image uploads).
_STREAMED = re.compile(r"^/api/v1/datasets/[^/]+/uploads$")


def _streams_its_body(scope: Scope) -> bool:
    return scope.get("method") == "POST" and bool(_STREAMED.match(scope.get("path", "")))


class BodyLimit:
    """Refuse bodies over 1 MiB (413) and NUL characters anywhere in the request (422).

    Bodies are checked while they stream in, whether or not they announce their length.
    """

    def __init__(self, app: ASGIApp, limit: int = MAX_BODY_BYTES) -> None:
        self.app = app
        self.limit = limit

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or _streams_its_body(scope):
            await self.app(scope, receive, send)
            return
        if "\x00" in scope.get("path", ""):
            response = problem(422, "invalid_input", "the URL path contains a NUL character")
            await response(scope, receive, send)
            return
        for name, value in scope.get("headers", []):
            if name == b"content-length" and value.isdigit() and int(value) > self.limit:
                await self._too_large(scope, receive, send)
                return
        seen = 0
        refused = False
        tail = b""

        async def limited() -> Message:
            # Answer 413 ourselves and tell the app the client left: the framework would
            # otherwise turn any exception raised while reading the body into a 400.
            nonlocal seen, refused, tail
            message = await receive()
            if message["type"] == "http.request" and not refused:
                chunk = message.get("body", b"")
                seen += len(chunk)
                if seen > self.limit:
                    refused = True
                    await self._too_large(scope, receive, send)
                    return {"type": "http.disconnect"}
                # PostgreSQL cannot store NUL in text; refuse it on every backend alike.
                window = tail + chunk
                if b"\x00" in window or b"\\u0000" in window:
                    refused = True
                    response = problem(
                        422, "invalid_input", "the request body contains a NUL character"
                    )
                    await response(scope, receive, send)
                    return {"type": "http.disconnect"}
                tail = window[-5:]
            return message

        async def guarded_send(message: Message) -> None:
            if not refused:
                await send(message)

        await self.app(scope, limited, guarded_send)

    async def _too_large(self, scope: Scope, receive: Receive, send: Send) -> None:
        response = problem(413, "too_large", f"request body is over {self.limit} bytes")
        await response(scope, receive, send)

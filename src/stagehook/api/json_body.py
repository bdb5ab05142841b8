"""Every JSON request body passes :mod:`stagehook.inputs` before a route reads it."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send

from stagehook.api.errors import problem
from stagehook.errors import InvalidInput
from stagehook.inputs import decode_json


def _is_json(scope: Scope) -> bool:
    """As FastAPI decides: a JSON content type, or none at all."""
    for name, value in scope.get("headers", []):
        if name == b"content-type":
            kind = bytes(value).split(b";", 1)[0].strip().lower()
            return kind == b"application/json" or kind.endswith(b"+json")
    return True


class JsonBodyGuard:
    """Check every JSON request body against the rules above before the app reads it.

    The body (already capped in size by the body limit) is read whole, checked, and
    handed on unchanged; a refusal is the API's 422 error shape.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http" or not _is_json(scope):
            await self.app(scope, receive, send)
            return
        chunks: list[bytes] = []
        while True:
            message = await receive()
            if message["type"] != "http.request":
                await self.app(scope, _replay([message], receive), send)
                return
            chunks.append(message.get("body", b""))
            if not message.get("more_body", False):
                break
        body = b"".join(chunks)
        if body.strip():
            try:
                decode_json(body)
            except InvalidInput as exc:
                await problem(422, exc.code, exc.message)(scope, receive, send)
                return
        replayed: Message = {"type": "http.request", "body": body, "more_body": False}
        await self.app(scope, _replay([replayed], receive), send)


def _replay(messages: list[Message], receive: Receive) -> Receive:
    async def replay() -> Message:
        if messages:
            return messages.pop(0)
        return await receive()

    return replay

"""A framework-free ASGI endpoint for receiving webhooks.

Delivery is at-least-once: a retry after a lost response carries the same event ``uid``,
so recently handled uids are remembered and acknowledged without running the handler
again. The memory is bounded and per process, which covers the common case (a retry
shortly after a timeout); handlers with side effects that must never repeat should still
de-duplicate on ``uid`` in their own storage.
"""

from __future__ import annotations

import asyncio
import inspect
import json
import logging
from collections import OrderedDict
from collections.abc import Awaitable, Callable, MutableMapping, Sequence
from typing import Any

from standardwebhooks import Webhook

from stagehook.events import TaskCompletedEvent, TaskSubmittedEvent
from stagehook.receiver.allowlist import Allowlist
from stagehook.receiver.verify import (
    InvalidEvent,
    VerificationError,
    check_signature,
    parse_body,
    webhooks_for,
)

Scope = MutableMapping[str, Any]
Message = MutableMapping[str, Any]
Receive = Callable[[], Awaitable[Message]]
Send = Callable[[Message], Awaitable[None]]
ASGIApp = Callable[[Scope, Receive, Send], Awaitable[None]]
ReceivedEvent = TaskSubmittedEvent | TaskCompletedEvent
Handler = Callable[[ReceivedEvent], Any]

MAX_BODY_BYTES = 1024 * 1024
REMEMBERED_UIDS = 10_000

logger = logging.getLogger(__name__)


class _TooLarge(Exception):
    pass


class _Disconnected(Exception):
    pass


async def _read_body(receive: Receive) -> bytes:
    chunks: list[bytes] = []
    size = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected
        chunk = message.get("body", b"")
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _TooLarge
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


async def _respond(send: Send, status: int, message: str | None = None) -> None:
    headers: list[tuple[bytes, bytes]] = []
    body = b""
    if message is not None:
        body = json.dumps({"error": message}).encode()
        headers = [(b"content-type", b"application/json")]
    headers.append((b"content-length", str(len(body)).encode()))
    await send({"type": "http.response.start", "status": status, "headers": headers})
    await send({"type": "http.response.body", "body": body})


async def _lifespan(receive: Receive, send: Send) -> None:
    while True:
        message = await receive()
        if message["type"] == "lifespan.startup":
            await send({"type": "lifespan.startup.complete"})
        elif message["type"] == "lifespan.shutdown":
            await send({"type": "lifespan.shutdown.complete"})
            return


def _is_async(handler: Handler) -> bool:
    # Callable objects with an ``async def __call__`` count as async too.
    return inspect.iscoroutinefunction(handler) or inspect.iscoroutinefunction(
        type(handler).__call__
    )


class _WebhookApp:
    def __init__(self, webhooks: list[Webhook], handler: Handler, allowlist: Allowlist | None):
        self._webhooks = webhooks
        self._handler = handler
        self._allowlist = allowlist
        self._seen: OrderedDict[str, None] = OrderedDict()
        self._in_flight: set[str] = set()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "lifespan":
            await _lifespan(receive, send)
            return
        if scope["type"] != "http":
            return
        if scope["method"] != "POST":
            await _respond(send, 405, "only POST is accepted")
            return
        client = scope.get("client")
        if self._allowlist is not None and (
            client is None or not self._allowlist.allows(client[0])
        ):
            await _respond(send, 403, "source address not allowed")
            return
        headers = {
            key.decode("latin-1").lower(): value.decode("latin-1")
            for key, value in scope.get("headers", [])
        }
        try:
            if int(headers.get("content-length", "0")) > MAX_BODY_BYTES:
                raise _TooLarge
            body = await _read_body(receive)
        except _Disconnected:
            return
        except (_TooLarge, ValueError):
            await _respond(send, 413, f"body larger than {MAX_BODY_BYTES} bytes")
            return
        try:
            check_signature(self._webhooks, headers, body)
            event = parse_body(body)
        except VerificationError as exc:
            await _respond(send, 401, str(exc))
            return
        except InvalidEvent as exc:
            await _respond(send, 400, str(exc))
            return
        await self._dispatch(event, send)

    async def _dispatch(self, event: ReceivedEvent, send: Send) -> None:
        if event.uid in self._seen:
            self._seen.move_to_end(event.uid)
            await _respond(send, 204)
            return
        if event.uid in self._in_flight:
            # The sender retries later; by then the first copy has been handled.
            await _respond(send, 409, "this event is being handled")
            return
        self._in_flight.add(event.uid)
        try:
            if _is_async(self._handler):
                await self._handler(event)
            else:
                result = await asyncio.to_thread(self._handler, event)
                if inspect.isawaitable(result):
                    await result
        except Exception:
            logger.exception("webhook handler failed for event %s", event.uid)
            await _respond(send, 500, "handler failed")
            return
        finally:
            self._in_flight.discard(event.uid)
        self._seen[event.uid] = None
        if len(self._seen) > REMEMBERED_UIDS:
            self._seen.popitem(last=False)
        await _respond(send, 204)


def webhook_app(
    secret: str | Sequence[str], handler: Handler, *, allowlist: Allowlist | None = None
) -> ASGIApp:
    """An ASGI app that answers 204 once ``handler(event)`` (sync or async) has returned.

    Sync handlers run in a worker thread so they can't stall the server's event loop.
    The allowlist is checked against the ASGI ``client`` address: behind a reverse proxy,
    run the server with its proxy-headers option so that is the real sender.
    Answers: 403 source not allowed, 401 bad signature, 400 not an event, 413 too large,
    500 handler raised (the sender will retry), 204 handled or already handled.
    """
    return _WebhookApp(webhooks_for(secret), handler, allowlist)

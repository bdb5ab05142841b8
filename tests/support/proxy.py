"""A tiny forward HTTP proxy on 127.0.0.1 that records what it relays (egress tests)."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from types import TracebackType

import aiohttp
from aiohttp import web


class ForwardProxy:
    """Relays absolute-form ``http://`` requests; only to loopback targets."""

    def __init__(self) -> None:
        self.relayed: list[str] = []
        self.port = 0
        self._loop = asyncio.new_event_loop()
        self._ready = threading.Event()
        self._stop: asyncio.Event | None = None
        self._thread = threading.Thread(target=self._run, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def __enter__(self) -> ForwardProxy:
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("proxy did not start")
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        if self._stop is not None:
            self._loop.call_soon_threadsafe(self._stop.set)
        self._thread.join(timeout=10)

    def _run(self) -> None:
        self._loop.run_until_complete(self._serve())

    async def _relay(self, request: web.Request) -> web.Response:
        target = str(request.url)
        if request.url.host not in ("127.0.0.1", "localhost"):
            return web.Response(status=403, text="this test proxy relays to loopback only")
        self.relayed.append(target)
        body = await request.read()
        # relay the Host header as sent, as forwarding proxies commonly do
        headers = dict(request.headers)
        async with (
            aiohttp.ClientSession() as session,
            session.request(request.method, target, data=body, headers=headers) as answer,
        ):
            return web.Response(status=answer.status, body=await answer.read())

    async def _serve(self) -> None:
        self._stop = asyncio.Event()
        app = web.Application()
        app.router.add_route("*", "/{tail:.*}", self._relay)
        runner = web.AppRunner(app)
        await runner.setup()
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        server = site._server
        assert server is not None
        self.port = server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
        self._ready.set()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._stop.wait(), timeout=600)
        await runner.cleanup()

"""Run ASGI apps with uvicorn: in the foreground (``serve``, ``listen``) or in a thread (``demo``).

Both say where they listen only once the socket is bound, so whoever waits for that line
(or for ``server.json``) can connect at once; ``--port 0`` picks a free port.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import sys
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import uvicorn

from stagehook.config import Settings
from stagehook.connection import public_url

#: uvloop and httptools: 1.5x the requests per second of asyncio + h11 (docs/benchmarks.md).
FAST: dict[str, Any] = {
    "loop": "asyncio" if sys.platform == "win32" else "uvloop",
    "http": "httptools",
}


def new_event_loop() -> asyncio.AbstractEventLoop:
    """The event loop ``serve`` runs on, for processes that run their own (``worker``):
    uvloop where uvicorn uses it."""
    if FAST["loop"] == "uvloop":
        import uvloop

        return uvloop.new_event_loop()
    return asyncio.new_event_loop()


class GracefulServer(uvicorn.Server):
    """Stop on SIGTERM/SIGINT after the app's shutdown ran, exit 0, report when bound.

    (uvicorn re-raises the signal after its shutdown, which ends the process with -15.)
    """

    def __init__(self, config: uvicorn.Config, on_ready: Callable[[str], None]) -> None:
        super().__init__(config)
        self.on_ready = on_ready

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                signal.signal(sig, self.handle_exit)
        yield

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets)
        if self.should_exit or not self.servers:
            return
        bound = self.servers[0].sockets[0].getsockname()
        self.on_ready(public_url(self.config.host, int(bound[1])))


def run(app: Any, host: str, port: int, on_ready: Callable[[str], None], **options: Any) -> None:
    """Serve ``app`` in this thread until a signal stops it."""
    config = uvicorn.Config(app, host=host, port=port, **{**FAST, **options})
    GracefulServer(config, on_ready).run()


def run_processes(
    settings: Settings, host: str, port: int, processes: int, *, dispatcher: bool
) -> None:
    """uvicorn's process manager: ``processes`` API processes accept on one socket.

    Each builds its app from the environment (``stagehook.server.app_with…``).
    """
    from uvicorn.supervisors import Multiprocess

    os.environ["STAGEHOOK_DATA_DIR"] = str(settings.data_dir)
    target = "app_with_dispatcher" if dispatcher else "app_without_dispatcher"
    config = uvicorn.Config(
        f"stagehook.server:{target}",
        factory=True,
        workers=processes,
        host=host,
        port=port,
        log_level="info",
        proxy_headers=False,
        **FAST,
    )
    Multiprocess(config, sockets=[config.bind_socket()]).run()


@contextlib.contextmanager
def in_thread(app: Any, host: str = "127.0.0.1", **options: Any) -> Iterator[str]:
    """Serve ``app`` on a free port in a background thread; yield its URL (bounded stop)."""
    ready: list[str] = []
    config = uvicorn.Config(app, host=host, port=0, log_level="warning", **options)
    server = GracefulServer(config, ready.append)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not ready:
        if time.monotonic() > deadline or not thread.is_alive():
            server.should_exit = True
            raise RuntimeError(f"could not start a server on {host}")
        time.sleep(0.02)
    try:
        yield ready[0]
    finally:
        server.should_exit = True
        thread.join(timeout=30)

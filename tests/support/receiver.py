"""A real HTTP webhook receiver on loopback, scriptable per path, for tests and benchmarks.

Tests must see what a real receiver would see (peer address, exact bytes, timeouts,
resets), so this is an aiohttp server on its own thread and event loop rather than a mock.
It works the same from sync and async tests::

    with Receiver() as r:
        r.script("/hook", [Response(status=500), Response.redirect("/elsewhere")])
        ... deliver to r.url("/hook") ...
        r.wait_for(2, path="/hook")
        assert r.requests("/elsewhere") == []   # redirects are never followed

It only binds loopback addresses, answers bounded sleeps, and stops itself after
``lifetime`` seconds so a forgotten receiver can't hang the suite.

Standalone (benchmarks, crash tests)::

    python -m tests.support.receiver --port 8765 --flaky 30 --out ids.txt

prints ``listening on http://...`` on stderr and writes one ``<webhook-id>\\t<status>``
line per request (status ``reset`` when the connection was reset).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import hashlib
import ipaddress
import signal
import socket
import struct
import sys
import threading
import time
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, TextIO

from aiohttp import web

MAX_SLEEP = 30.0
MAX_BODY = 16 * 1024 * 1024
HUGE_BODY = 10 * 1024 * 1024
_CHUNK = 64 * 1024


@dataclass(frozen=True)
class Response:
    """One scripted answer. Use the constructors for the unusual kinds."""

    status: int = 200
    headers: Mapping[str, str] = field(default_factory=dict)
    body: bytes = b""
    sleep: float = 0.0
    reset: bool = False
    body_size: int = 0

    @classmethod
    def retry_after(cls, status: int, value: str) -> Response:
        return cls(status=status, headers={"Retry-After": value})

    @classmethod
    def redirect(cls, location: str, status: int = 301) -> Response:
        return cls(status=status, headers={"Location": location})

    @classmethod
    def slow(cls, seconds: float, status: int = 200) -> Response:
        """Answer only after ``seconds`` (capped at MAX_SLEEP, cut short by stop())."""
        return cls(status=status, sleep=min(seconds, MAX_SLEEP))

    @classmethod
    def connection_reset(cls) -> Response:
        return cls(reset=True)

    @classmethod
    def huge(cls, size: int = HUGE_BODY, status: int = 200) -> Response:
        return cls(status=status, body_size=size)


@dataclass(frozen=True)
class Received:
    path: str
    query: str
    method: str
    headers: Mapping[str, str]
    body: bytes
    peer: str
    at: float
    wall: datetime
    answer: str

    @property
    def webhook_id(self) -> str | None:
        return self.headers.get("webhook-id")


def flaky_fails(webhook_id: str, percent: int) -> bool:
    """Whether flaky mode fails the first attempt of this id (stable across processes)."""
    digest = hashlib.sha256(webhook_id.encode()).digest()
    return int.from_bytes(digest[:8], "big") % 100 < percent


class Receiver:
    def __init__(
        self,
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        default: Response | None = None,
        flaky_percent: int = 0,
        lifetime: float | None = 600.0,
        max_recorded: int = 100_000,
        sink: Callable[[Received], None] | None = None,
    ) -> None:
        if not ipaddress.ip_address(host).is_loopback:
            raise ValueError(f"test receiver only binds loopback addresses, not {host}")
        self.host = host
        self.port = port
        self._default = default or Response()
        self._flaky_percent = flaky_percent
        self._lifetime = lifetime
        self._max_recorded = max_recorded
        self._sink = sink
        self._lock = threading.Condition()
        self._scripts: dict[str, list[Response]] = {}
        self._path_defaults: dict[str, Response] = {}
        self._records: list[Received] = []
        self._flaky_seen: set[tuple[str, str]] = set()
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stopping: asyncio.Event | None = None
        self._thread: threading.Thread | None = None
        self._ready = threading.Event()
        self._startup_error: BaseException | None = None

    # ----------------------------------------------------------------- scripting
    @property
    def base_url(self) -> str:
        host = f"[{self.host}]" if ":" in self.host else self.host
        return f"http://{host}:{self.port}"

    def url(self, path: str = "/") -> str:
        if not path.startswith("/"):
            raise ValueError("path must start with '/'")
        return self.base_url + path

    def script(
        self, path: str, responses: Iterable[Response], *, then: Response | None = None
    ) -> None:
        """Answer ``path`` with ``responses`` in order, then ``then`` (or the default)."""
        with self._lock:
            self._scripts.setdefault(path, []).extend(responses)
            if then is not None:
                self._path_defaults[path] = then

    def requests(self, path: str | None = None) -> list[Received]:
        with self._lock:
            return [r for r in self._records if path is None or r.path == path]

    def wait_for(
        self, count: int, path: str | None = None, timeout: float = 10.0
    ) -> list[Received]:
        """Block until ``count`` requests (to ``path``) arrived; AssertionError on timeout."""
        deadline = time.monotonic() + timeout
        with self._lock:
            while True:
                found = [r for r in self._records if path is None or r.path == path]
                if len(found) >= count:
                    return found
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    raise AssertionError(
                        f"expected {count} request(s) to {path or 'any path'} within "
                        f"{timeout}s, got {len(found)}"
                    )
                self._lock.wait(min(remaining, 0.05))

    async def wait_for_async(
        self, count: int, path: str | None = None, timeout: float = 10.0
    ) -> list[Received]:
        """As :meth:`wait_for`, without blocking the caller's event loop."""
        deadline = time.monotonic() + timeout
        while True:
            found = self.requests(path)
            if len(found) >= count:
                return found
            if time.monotonic() >= deadline:
                raise AssertionError(
                    f"expected {count} request(s) to {path or 'any path'} within "
                    f"{timeout}s, got {len(found)}"
                )
            await asyncio.sleep(0.01)

    # ----------------------------------------------------------------- lifecycle
    def start(self) -> Receiver:
        self._thread = threading.Thread(target=self._run, name="test-receiver", daemon=True)
        self._thread.start()
        if not self._ready.wait(10):
            raise RuntimeError("test receiver did not start within 10 s")
        if self._startup_error is not None:
            raise self._startup_error
        return self

    def stop(self) -> None:
        loop, stopping = self._loop, self._stopping
        if loop is not None and stopping is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(stopping.set)
        if self._thread is not None:
            self._thread.join(10)
            self._thread = None

    def __enter__(self) -> Receiver:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    async def __aenter__(self) -> Receiver:
        return await asyncio.to_thread(self.start)

    async def __aexit__(self, *exc: object) -> None:
        await asyncio.to_thread(self.stop)

    def _run(self) -> None:
        loop = asyncio.new_event_loop()
        self._loop = loop
        try:
            loop.run_until_complete(self._serve())
        except BaseException as exc:  # surfaced to start() if it happens while starting
            self._startup_error = exc
        finally:
            self._ready.set()
            loop.close()

    async def _serve(self) -> None:
        self._stopping = asyncio.Event()
        family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((self.host, self.port))
        self.port = sock.getsockname()[1]
        app = web.Application(client_max_size=MAX_BODY)
        app.router.add_route("*", "/{tail:.*}", self._handle)
        runner = web.AppRunner(app, access_log=None, shutdown_timeout=1.0)
        await runner.setup()
        await web.SockSite(runner, sock).start()
        self._ready.set()
        try:
            await asyncio.wait_for(self._stopping.wait(), self._lifetime)
        except TimeoutError:
            pass
        finally:
            self._stopping.set()
            await runner.cleanup()

    # ----------------------------------------------------------------- answering
    def _choose(self, path: str, webhook_id: str | None) -> Response:
        with self._lock:
            queue = self._scripts.get(path)
            if queue:
                return queue.pop(0)
            if self._flaky_percent and webhook_id is not None:
                key = (path, webhook_id)
                first = key not in self._flaky_seen
                self._flaky_seen.add(key)
                if first and flaky_fails(webhook_id, self._flaky_percent):
                    return Response(status=500)
            return self._path_defaults.get(path, self._default)

    def _record(self, received: Received) -> None:
        with self._lock:
            if len(self._records) < self._max_recorded:
                self._records.append(received)
            self._lock.notify_all()
        if self._sink is not None:
            self._sink(received)

    async def _handle(self, request: web.Request) -> web.StreamResponse:
        body = await request.read()
        headers = {key.lower(): value for key, value in request.headers.items()}
        response = self._choose(request.path, headers.get("webhook-id"))
        peer = request.transport.get_extra_info("peername") if request.transport else None
        self._record(
            Received(
                path=request.path,
                query=request.query_string,
                method=request.method,
                headers=headers,
                body=body,
                peer=str(peer[0]) if peer else "",
                at=time.monotonic(),
                wall=datetime.now(UTC),
                answer="reset" if response.reset else str(response.status),
            )
        )
        if response.sleep:
            assert self._stopping is not None
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._stopping.wait(), response.sleep)
        if response.reset or (self._stopping is not None and self._stopping.is_set()):
            return self._reset(request)
        if response.body_size:
            return await self._stream(request, response)
        return web.Response(status=response.status, headers=response.headers, body=response.body)

    @staticmethod
    def _reset(request: web.Request) -> web.StreamResponse:
        transport = request.transport
        if transport is not None:
            sock = transport.get_extra_info("socket")
            if sock is not None:  # linger 0 turns close() into a TCP RST
                sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
            transport.abort()
        raise asyncio.CancelledError

    @staticmethod
    async def _stream(request: web.Request, response: Response) -> web.StreamResponse:
        stream = web.StreamResponse(status=response.status, headers=response.headers)
        stream.content_length = response.body_size
        await stream.prepare(request)
        chunk = b"x" * _CHUNK
        remaining = response.body_size
        with contextlib.suppress(ConnectionError):
            while remaining > 0:
                await stream.write(chunk[: min(remaining, _CHUNK)])
                remaining -= _CHUNK
            await stream.write_eof()
        return stream


def _main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--flaky", type=int, default=0, help="percent of ids failing once")
    parser.add_argument("--status", type=int, default=200, help="default answer")
    parser.add_argument("--out", help="file for received webhook-ids (default stdout)")
    parser.add_argument("--lifetime", type=float, default=None, help="stop after N seconds")
    parser.add_argument(
        "--timestamps", action="store_true", help="add a third column: epoch seconds received"
    )
    args = parser.parse_args(argv)

    out: TextIO = open(args.out, "a", buffering=1) if args.out else sys.stdout  # noqa: SIM115
    out_lock = threading.Lock()

    def sink(received: Received) -> None:
        with out_lock:
            stamp = f"\t{received.wall.timestamp():.6f}" if args.timestamps else ""
            out.write(f"{received.webhook_id or '-'}\t{received.answer}{stamp}\n")
            out.flush()

    receiver = Receiver(
        args.host,
        args.port,
        default=Response(status=args.status),
        flaky_percent=args.flaky,
        lifetime=args.lifetime,
        max_recorded=0,
        sink=sink,
    )
    done = threading.Event()

    def on_signal(*_: Any) -> None:
        done.set()

    signal.signal(signal.SIGTERM, on_signal)
    signal.signal(signal.SIGINT, on_signal)
    with receiver:
        print(f"listening on {receiver.base_url}", file=sys.stderr, flush=True)
        while not done.wait(0.2):
            if receiver._thread is None or not receiver._thread.is_alive():
                break
    if out is not sys.stdout:
        out.close()


if __name__ == "__main__":
    _main()

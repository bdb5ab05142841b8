"""A small HTTP/1.1 client for webhook POSTs: kept-alive connections, guarded connects.

Profiles of bulk delivery put aiohttp's per-request machinery (a task to write each body,
timer handles, header multidicts, request and response objects) at most of the
dispatcher's CPU per delivery. A webhook POST needs little of it: one request we write in
one call, and of the answer the status, a few headers and at most ``read_limit`` bytes.
This client does that over connections kept alive per origin and parses answers with
httptools (the parser uvicorn uses).

The SSRF guard holds as before: the caller vets literal-IP hosts before each request
(``webhook_targets.VettedUrls``), and every new connection to a name goes only to the
addresses :class:`~stagehook.delivery.guard.GuardedResolver` returns, which are the
resolved addresses the guard allows. Connections leave from the configured source
address. Redirects are never followed: a 3xx is just an answer.
"""

from __future__ import annotations

import asyncio
import socket
import ssl
import time
from dataclasses import dataclass
from typing import Any, cast

import httptools
from yarl import URL

from stagehook.delivery.guard import GuardedResolver, egress_family
from stagehook.webhook_targets import IPAddress, TargetGuard, parse_ip_host

#: Idle connections older than this are closed rather than reused (aiohttp's default).
KEEPALIVE_SECONDS = 15.0


class DnsError(OSError):
    """The target's name did not resolve."""


class ConnectError(OSError):
    """No connection could be made to any of the target's vetted addresses."""


class Disconnected(ConnectionError):
    """The connection closed before an answer arrived."""


class ProtocolError(Exception):
    """The answer was not valid HTTP/1.1."""


@dataclass(frozen=True)
class Answer:
    status: int
    #: lower-case names; the first value of a repeated header
    headers: dict[str, str]
    #: at most ``read_limit`` bytes of the body
    body: bytes


@dataclass(frozen=True)
class _Target:
    """What a URL means for sending, parsed once per URL."""

    origin: tuple[str, str, int]
    host: str
    port: int
    address: IPAddress | None  # the host, when it is an IP address in any spelling
    tls: bool
    head: bytes  # request line and Host header


class _Connection(asyncio.Protocol):
    """One connection; answers one request at a time."""

    def __init__(self, read_limit: int) -> None:
        self._read_limit = read_limit
        self.transport: asyncio.Transport | None = None
        self.reusable = False
        self.closed = False
        self.idle_since = 0.0
        self._waiter: asyncio.Future[Answer] | None = None
        self._parser: httptools.HttpResponseParser | None = None
        self._status = 0
        self._headers: dict[str, str] = {}
        self._body = bytearray()

    # asyncio.Protocol
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = cast(asyncio.Transport, transport)  # uvloop's is no subclass

    def data_received(self, data: bytes) -> None:
        if self._parser is None:
            self.close()  # nothing was asked: a receiver talking out of turn
            return
        try:
            self._parser.feed_data(data)
        except httptools.HttpParserError as exc:
            self._fail(ProtocolError(f"invalid HTTP answer: {exc}"))
            return
        if self._parser is not None and len(self._body) >= self._read_limit:
            self._finish(reusable=False)  # enough read; the rest is not wanted

    def connection_lost(self, exc: Exception | None) -> None:
        self.closed = True
        self.reusable = False
        if self._status:  # an answer without a length ends when the connection does
            self._finish(reusable=False)
        else:
            self._fail(Disconnected("the receiver closed the connection without answering"))

    # httptools callbacks
    def on_header(self, name: bytes, value: bytes) -> None:
        self._headers.setdefault(name.decode("latin-1").lower(), value.decode("latin-1"))

    def on_headers_complete(self) -> None:
        assert self._parser is not None
        self._status = self._parser.get_status_code()

    def on_body(self, body: bytes) -> None:
        room = self._read_limit - len(self._body)
        if room > 0:
            self._body += body[:room]

    def on_message_complete(self) -> None:
        assert self._parser is not None
        if 100 <= self._status < 200:  # an interim answer (100 Continue): the real one follows
            self._status, self._headers, self._body = 0, {}, bytearray()
            return
        self._finish(reusable=self._parser.should_keep_alive())

    # requests
    async def request(self, data: bytes) -> Answer:
        assert self.transport is not None
        loop = asyncio.get_running_loop()
        self._waiter = loop.create_future()
        self._parser = httptools.HttpResponseParser(self)
        self._status, self._headers, self._body = 0, {}, bytearray()
        self.reusable = False
        self.transport.write(data)
        return await self._waiter

    def _finish(self, *, reusable: bool) -> None:
        waiter, self._waiter, self._parser = self._waiter, None, None
        self.reusable = reusable and not self.closed
        if not self.reusable:
            self.close()
        if waiter is not None and not waiter.done():
            waiter.set_result(Answer(self._status, self._headers, bytes(self._body)))

    def _fail(self, exc: Exception) -> None:
        waiter, self._waiter, self._parser = self._waiter, None, None
        self.close()
        if waiter is not None and not waiter.done():
            waiter.set_exception(exc)

    def close(self) -> None:
        self.reusable = False
        if self.transport is not None and not self.transport.is_closing():
            self.transport.close()


class Http1Client:
    """POSTs over kept-alive connections; create and close inside one event loop."""

    def __init__(
        self,
        guard: TargetGuard,
        *,
        source_address: str | None,
        connect_timeout: float,
        read_limit: int,
        max_idle: int,
    ) -> None:
        self._guard = guard
        self._resolver = GuardedResolver(guard)
        self._family, self._local_addr = egress_family(source_address)
        self._connect_timeout = connect_timeout
        self._read_limit = read_limit
        self._max_idle = max_idle
        self._idle: dict[tuple[str, str, int], list[_Connection]] = {}
        self._targets: dict[str, _Target] = {}
        self._tls: ssl.SSLContext | None = None

    async def close(self) -> None:
        for pool in self._idle.values():
            for conn in pool:
                conn.close()
        self._idle.clear()
        await self._resolver.close()

    async def post(self, url: str, headers: dict[str, str], body: bytes) -> Answer:
        """One POST; raises TimeoutError only through the caller's own timeout."""
        target = self._target(url)
        data = _request(target, headers, body)
        # A kept-alive connection the receiver closed is seen closed (and dropped) here;
        # one it closes while our request is on the way fails that attempt, which is
        # retried on schedule (a POST is not resent blindly, as with aiohttp).
        conn = self._take(target.origin) or await self._connect(target)
        try:
            answer = await conn.request(data)
        except BaseException:
            conn.close()
            raise
        if conn.reusable:
            self._put(target.origin, conn)
        return answer

    def _target(self, url: str) -> _Target:
        target = self._targets.get(url)
        if target is None:
            parsed = URL(url)
            host = parsed.raw_host or ""
            port = parsed.port or (443 if parsed.scheme == "https" else 80)
            path, authority = parsed.raw_path_qs or "/", parsed.host_port_subcomponent
            _refuse_line_breaks(path + (authority or ""))
            line = f"POST {path} HTTP/1.1\r\nhost: {authority}\r\n"
            target = _Target(
                origin=(parsed.scheme, host, port),
                host=host,
                port=port,
                address=parse_ip_host(host),
                tls=parsed.scheme == "https",
                head=line.encode("latin-1"),
            )
            if len(self._targets) >= 4096:
                self._targets.clear()
            self._targets[url] = target
        return target

    def _take(self, origin: tuple[str, str, int]) -> _Connection | None:
        pool = self._idle.get(origin)
        now = time.monotonic()
        while pool:
            conn = pool.pop()
            if conn.closed or now - conn.idle_since > KEEPALIVE_SECONDS:
                conn.close()
                continue
            return conn
        return None

    def _put(self, origin: tuple[str, str, int], conn: _Connection) -> None:
        pool = self._idle.setdefault(origin, [])
        if len(pool) >= self._max_idle:
            conn.close()
            return
        conn.idle_since = time.monotonic()
        pool.append(conn)

    async def _connect(self, target: _Target) -> _Connection:
        if target.address is not None:
            # The sender vets literal addresses before every request; checked here too,
            # so no connection reaches a refused address whoever calls. Names are vetted
            # by the resolver, address by address.
            self._guard.check(target.address, target=target.host)
            family = socket.AF_INET6 if target.address.version == 6 else socket.AF_INET
            addresses = [(str(target.address), family)]
        else:
            try:
                resolved = await self._resolver.resolve(target.host, target.port, self._family)
            except socket.gaierror as exc:
                raise DnsError(f"cannot resolve {target.host}: {exc}") from exc
            addresses = [(r["host"], socket.AddressFamily(r["family"])) for r in resolved]
        tls: dict[str, Any] = {}
        if target.tls:
            if self._tls is None:
                self._tls = ssl.create_default_context()
            tls = {"ssl": self._tls, "server_hostname": target.host.strip("[]")}
        loop = asyncio.get_running_loop()
        failure: OSError | None = None
        for address, family in addresses:
            try:
                async with asyncio.timeout(self._connect_timeout):
                    _, conn = await loop.create_connection(
                        lambda: _Connection(self._read_limit),
                        address,
                        target.port,
                        family=family,
                        local_addr=self._local_addr,
                        **tls,
                    )
                return conn
            except TimeoutError:
                raise  # a connect timeout is a timeout, as the request's own
            except OSError as exc:
                failure = exc
        raise ConnectError(f"cannot connect to {target.host}:{target.port}: {failure}") from failure


def _refuse_line_breaks(text: str) -> None:
    if "\r" in text or "\n" in text:
        raise ValueError("a request line or header must not contain a line break")


def _request(target: _Target, headers: dict[str, str], body: bytes) -> bytes:
    _refuse_line_breaks("".join(headers) + "".join(headers.values()))
    lines = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    return b"".join(
        (target.head, f"{lines}content-length: {len(body)}\r\n\r\n".encode("latin-1"), body)
    )

"""One HTTP attempt: POST the stored bytes, signed, through the SSRF guard.

Redirects are never followed (a 3xx is a failure), at most 64 KiB of the answer is read
and 4 KiB kept, and every failure becomes an ``AttemptResult`` instead of an exception.
"""

from __future__ import annotations

import asyncio
import socket
import time
from collections.abc import Mapping
from datetime import UTC, datetime

import aiohttp
from yarl import URL

from stagehook import __version__
from stagehook.config import Settings
from stagehook.delivery import http1
from stagehook.delivery.guard import GuardedResolver
from stagehook.delivery.http1 import Http1Client
from stagehook.delivery.outcome import AttemptResult
from stagehook.delivery.retry import parse_retry_after
from stagehook.delivery.signing import build_headers
from stagehook.webhook_targets import TargetGuard, TargetRefused, VettedUrls, parse_ip_host

READ_LIMIT = 64 * 1024
KEEP_LIMIT = 4 * 1024
USER_AGENT = f"stagehook/{__version__}"


def _refusal(exc: BaseException) -> TargetRefused | None:
    seen: BaseException | None = exc
    for _ in range(6):
        if seen is None:
            return None
        if isinstance(seen, TargetRefused):
            return seen
        seen = seen.__cause__ or seen.__context__
    return None


class Sender:
    """Sends deliveries; create inside a running event loop, close when done.

    Directly, requests go through :class:`Http1Client` (kept-alive connections, every new
    connection through the guarded resolver). Through an egress proxy they go through
    aiohttp, which speaks to proxies; targets are then vetted and pinned before each
    request (see ``_pin_for_proxy``).
    """

    def __init__(self, settings: Settings) -> None:
        self.settings = settings
        self.guard = TargetGuard(settings.allowed_target_networks)
        self._vetted = VettedUrls(self.guard)
        self._resolver = GuardedResolver(self.guard)
        self.session: aiohttp.ClientSession | None = None
        self.client: Http1Client | None = None
        if settings.egress_proxy:
            # The proxy is ours and may sit on a private address.
            self.session = aiohttp.ClientSession(
                connector=aiohttp.TCPConnector(limit=settings.max_in_flight),
                timeout=aiohttp.ClientTimeout(
                    total=settings.request_timeout, sock_connect=settings.connect_timeout
                ),
                auto_decompress=False,
            )
        else:
            # No per-host cap: the dispatcher caps requests per *URL* when it claims, and
            # several URLs on one host (paths of one receiver) may each have their share.
            self.client = Http1Client(
                self.guard,
                source_address=settings.egress_source_address,
                connect_timeout=settings.connect_timeout,
                read_limit=READ_LIMIT,
                max_idle=settings.max_in_flight,
            )

    async def close(self) -> None:
        if self.session is not None:
            await self.session.close()
        if self.client is not None:
            await self.client.close()
        await self._resolver.close()

    def headers(
        self, secrets: tuple[str, ...] | list[str], msg_id: str, body: bytes
    ) -> dict[str, str]:
        return build_headers(secrets, msg_id, datetime.now(UTC), body, USER_AGENT)

    async def _pin_for_proxy(
        self, url: str, headers: dict[str, str]
    ) -> tuple[URL, dict[str, str], str | None]:
        """Through a proxy, name the vetted address, not the host name.

        The proxy would otherwise resolve the name again, and a DNS-rebinding target
        could answer differently the second time. The request keeps its ``Host`` header,
        and TLS keeps the name for SNI and certificate checks (``server_hostname``).
        """
        parsed = URL(url)
        host = parsed.raw_host or ""
        if parse_ip_host(host) is not None:
            return parsed, headers, None  # a literal address, vetted already
        vetted = await self._resolver.resolve(host, parsed.port or 0, socket.AF_UNSPEC)
        chosen = next((r for r in vetted if r["family"] == socket.AF_INET), vetted[0])
        pinned = parsed.with_host(chosen["host"])
        authority = host if parsed.is_default_port() else f"{host}:{parsed.port}"
        tls_name = host if parsed.scheme == "https" else None
        return pinned, {**headers, "host": authority}, tls_name

    async def send(self, url: str, headers: dict[str, str], body: bytes) -> AttemptResult:
        started = time.perf_counter()

        def took() -> float:
            return (time.perf_counter() - started) * 1000

        answer_headers: Mapping[str, str]
        try:
            self._vetted.check(url)
            if self.client is not None:
                async with asyncio.timeout(self.settings.request_timeout):
                    answer = await self.client.post(url, headers, body)
                status, answer_headers, excerpt = answer.status, answer.headers, answer.body
            else:
                status, answer_headers, excerpt = await self._send_through_proxy(url, headers, body)
        except Exception as exc:  # every failure is a recorded attempt, never a crash
            refused = _refusal(exc)
            if refused is not None:
                return AttemptResult(None, took(), "ssrf_refused", str(refused))
            return AttemptResult(None, took(), _error_class(exc), _message(exc))
        ok = 200 <= status < 300
        error = None if ok else f"receiver answered HTTP {status}"
        if 300 <= status < 400:
            location = answer_headers.get("location", "")
            error = f"redirects are not followed (HTTP {status} to {location})"
        return AttemptResult(
            status_code=status,
            duration_ms=took(),
            error_class=None if ok else "http_status",
            error=error,
            # PostgreSQL's text cannot hold NUL: a reply with one must still be recorded
            response_excerpt=excerpt[:KEEP_LIMIT]
            .decode("utf-8", errors="replace")
            .replace("\x00", "\ufffd"),
            retry_after=parse_retry_after(answer_headers.get("retry-after"), datetime.now(UTC)),
        )

    async def _send_through_proxy(
        self, url: str, headers: dict[str, str], body: bytes
    ) -> tuple[int, Mapping[str, str], bytes]:
        assert self.session is not None
        target, headers, tls_name = await self._pin_for_proxy(url, headers)
        async with self.session.post(
            target,
            data=body,
            headers=headers,
            allow_redirects=False,
            proxy=self.settings.egress_proxy,
            server_hostname=tls_name,
        ) as response:
            return response.status, response.headers, await self._read(response)

    async def _read(self, response: aiohttp.ClientResponse) -> bytes:
        chunks: list[bytes] = []
        size = 0
        try:
            async for chunk in response.content.iter_chunked(16 * 1024):
                chunks.append(chunk)
                size += len(chunk)
                if size >= READ_LIMIT:
                    break
        except (TimeoutError, aiohttp.ClientError):
            pass
        return b"".join(chunks)[:READ_LIMIT]


def _error_class(exc: BaseException) -> str:
    if isinstance(exc, asyncio.TimeoutError | aiohttp.ServerTimeoutError):
        return "timeout"
    if isinstance(exc, aiohttp.ClientConnectorDNSError | http1.DnsError):
        return "dns"
    if isinstance(exc, aiohttp.ClientConnectorError | http1.ConnectError):
        return "connect"
    if isinstance(exc, aiohttp.ServerDisconnectedError | aiohttp.ClientOSError | ConnectionError):
        return "connection_reset"
    if isinstance(exc, aiohttp.ClientError | http1.ProtocolError):
        return "http_protocol"
    return type(exc).__name__


def _message(exc: BaseException) -> str:
    text = str(exc).strip()
    return (f"{type(exc).__name__}: {text}" if text else type(exc).__name__)[:1000]

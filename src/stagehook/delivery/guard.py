"""SSRF guard at send time: resolve every target ourselves and connect only to vetted IPs.

aiohttp connects to exactly the addresses :class:`GuardedResolver` hands it, so DNS
rebinding between "check" and "connect" cannot happen. The rules for which addresses
are refused live in ``webhook_targets.py``, shared with the save-time checks.
"""

from __future__ import annotations

import ipaddress
import socket

import aiohttp
from aiohttp.abc import AbstractResolver, ResolveResult
from aiohttp.resolver import ThreadedResolver

from stagehook.webhook_targets import TargetGuard, TargetRefused


class GuardedResolver(AbstractResolver):
    """Resolves with the system resolver and hands aiohttp only vetted addresses."""

    def __init__(self, guard: TargetGuard) -> None:
        self._guard = guard
        self._inner: ThreadedResolver | None = None

    async def resolve(
        self, host: str, port: int = 0, family: socket.AddressFamily = socket.AF_INET
    ) -> list[ResolveResult]:
        if self._inner is None:
            self._inner = ThreadedResolver()
        results = await self._inner.resolve(host, port, family)
        vetted: list[ResolveResult] = []
        first_refusal: TargetRefused | None = None
        for result in results:
            try:
                self._guard.check(result["host"], target=host)
            except TargetRefused as exc:
                first_refusal = first_refusal or exc
            else:
                vetted.append(result)
        if not vetted:
            if first_refusal is None:
                raise OSError(f"{host} did not resolve to any address")
            raise first_refusal
        return vetted

    async def close(self) -> None:
        if self._inner is not None:
            await self._inner.close()


def egress_family(
    source_address: str | None,
) -> tuple[socket.AddressFamily, tuple[str, int] | None]:
    """The address family and local address of connections leaving from ``source_address``.

    Binding to an IPv4 source address can only reach IPv4 targets (and vice versa), so the
    address family follows the source address instead of failing per connection.
    """
    if not source_address:
        return socket.AF_UNSPEC, None
    source = ipaddress.ip_address(source_address)
    family = socket.AF_INET if source.version == 4 else socket.AF_INET6
    return family, (str(source), 0)


def make_connector(
    guard: TargetGuard, *, source_address: str | None, limit: int, limit_per_host: int
) -> aiohttp.TCPConnector:
    """An aiohttp connector reaching only vetted addresses, leaving from the egress address."""
    family, local_addr = egress_family(source_address)
    return aiohttp.TCPConnector(
        resolver=GuardedResolver(guard),
        local_addr=local_addr,
        family=family,
        limit=limit,
        limit_per_host=limit_per_host,
    )

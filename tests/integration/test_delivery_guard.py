"""The guard against a live receiver on loopback: refused requests never arrive."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import aiohttp
import pytest

from stagehook.delivery.guard import GuardedResolver, make_connector
from stagehook.delivery.http1 import ConnectError, Http1Client
from stagehook.webhook_targets import TargetGuard, TargetRefused, VettedUrls, vet_url_target
from tests.support.receiver import Receiver

TIMEOUT = aiohttp.ClientTimeout(total=5)


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with Receiver() as r:
        yield r


@pytest.fixture(params=["http1", "aiohttp"])
def client(request: pytest.FixtureRequest) -> str:
    """Each check runs through both clients: the sender's own, and aiohttp (proxies)."""
    return str(request.param)


async def guarded_post(
    url: str,
    guard: TargetGuard,
    client: str,
    *,
    source_address: str | None = None,
    vet: bool = True,
) -> int:
    """What the sender does: vet literal IPs, then POST through the guarded client."""
    if client == "http1":
        if vet:
            VettedUrls(guard).check(url)
        http = Http1Client(
            guard, source_address=source_address, connect_timeout=5, read_limit=1024, max_idle=2
        )
        try:
            async with asyncio.timeout(5):
                return (await http.post(url, {"content-type": "application/json"}, b"{}")).status
        finally:
            await http.close()
    if vet:
        vet_url_target(url, guard)
    connector = make_connector(guard, source_address=source_address, limit=4, limit_per_host=2)
    async with (
        aiohttp.ClientSession(connector=connector, timeout=TIMEOUT) as session,
        session.post(url, data=b"{}", allow_redirects=False) as response,
    ):
        return response.status


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1", "2130706433", "0x7f.0.0.1"])
async def test_empty_allow_list_refuses_loopback(
    receiver: Receiver, host: str, client: str
) -> None:
    url = f"http://{host}:{receiver.port}/hook"
    with pytest.raises(TargetRefused) as refused:
        await guarded_post(url, TargetGuard([]), client)
    assert refused.value.reason == "loopback"
    assert "STAGEHOOK_ALLOWED_TARGET_NETWORKS" in str(refused.value)
    assert receiver.requests() == []


async def test_resolver_refuses_odd_spellings_even_without_vetting(
    receiver: Receiver, client: str
) -> None:
    # A hex host is not an IP to aiohttp, so it reaches the resolver, which vets the answer.
    with pytest.raises(TargetRefused):
        await guarded_post(f"http://0x7f.1:{receiver.port}/", TargetGuard([]), client, vet=False)
    # Decimal and short forms are refused by aiohttp itself before any connection.
    for host in ("2130706433", "127.1"):
        with pytest.raises((TargetRefused, aiohttp.InvalidURL)):
            url = f"http://{host}:{receiver.port}/"
            await guarded_post(url, TargetGuard([]), client, vet=False)
    assert receiver.requests() == []


@pytest.mark.parametrize("host", ["localhost", "127.0.0.1"])
async def test_allowed_network_lets_requests_through(
    receiver: Receiver, host: str, client: str
) -> None:
    url = f"http://{host}:{receiver.port}/hook"
    status = await guarded_post(url, TargetGuard(["127.0.0.0/8"]), client)
    assert status == 200
    [request] = await receiver.wait_for_async(1, path="/hook")
    assert request.peer == "127.0.0.1"


async def test_source_address_is_the_peer_the_receiver_sees(
    receiver: Receiver, client: str
) -> None:
    status = await guarded_post(
        receiver.url("/hook"), TargetGuard(["127.0.0.0/8"]), client, source_address="127.0.0.2"
    )
    assert status == 200
    [request] = await receiver.wait_for_async(1, path="/hook")
    assert request.peer == "127.0.0.2"


async def test_receiver_on_another_loopback_address(client: str) -> None:
    async with Receiver(host="127.0.0.3") as other:
        assert await guarded_post(other.url("/x"), TargetGuard(["127.0.0.3/32"]), client) == 200
        with pytest.raises(TargetRefused):
            await guarded_post(other.url("/x"), TargetGuard(["127.0.0.1/32"]), client)
        assert len(other.requests()) == 1


async def test_resolver_returns_only_vetted_addresses() -> None:
    resolver = GuardedResolver(TargetGuard(["127.0.0.0/8"]))
    results = await resolver.resolve("localhost", 80, socket.AF_UNSPEC)
    assert results
    assert {r["host"] for r in results} <= {f"127.0.0.{n}" for n in range(256)}
    with pytest.raises(TargetRefused) as refused:
        await GuardedResolver(TargetGuard([])).resolve("localhost", 80, socket.AF_UNSPEC)
    assert str(refused.value).startswith("refused target localhost (")


async def test_connection_goes_only_to_the_vetted_address(receiver: Receiver, client: str) -> None:
    """localhost also names 127.0.0.1, where the receiver listens; only ::1 is allowed."""
    families = {info[0] for info in socket.getaddrinfo("localhost", 80)}
    if socket.AF_INET6 not in families:
        pytest.skip("localhost does not resolve to ::1 here")
    with pytest.raises((aiohttp.ClientConnectionError, ConnectError, TargetRefused)):
        await guarded_post(f"http://localhost:{receiver.port}/", TargetGuard(["::1/128"]), client)
    assert receiver.requests() == []

"""The sender's HTTP/1.1 client against real loopback servers that answer in every shape."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest

from stagehook.delivery.http1 import Answer, Disconnected, Http1Client, ProtocolError
from stagehook.webhook_targets import TargetGuard

LOOPBACK = TargetGuard(["127.0.0.0/8"])


class RawServer:
    """A TCP server on 127.0.0.1 that reads one request at a time and writes ``answer``."""

    def __init__(self, answer: Callable[[bytes], bytes | None], *, close: bool = False) -> None:
        self.answer = answer
        self.close = close  # close the connection after each answer
        self.connections = 0
        self.requests: list[bytes] = []
        self.server: asyncio.Server | None = None

    async def __aenter__(self) -> RawServer:
        self.server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        return self

    async def __aexit__(self, *exc: object) -> None:
        assert self.server is not None
        self.server.close()
        await self.server.wait_closed()

    @property
    def url(self) -> str:
        assert self.server is not None
        return f"http://127.0.0.1:{self.server.sockets[0].getsockname()[1]}/hook?x=1"

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.connections += 1
        try:
            while True:
                head = await reader.readuntil(b"\r\n\r\n")
                length = next(
                    int(line.split(b":", 1)[1])
                    for line in head.split(b"\r\n")
                    if line.lower().startswith(b"content-length:")
                )
                request = head + await reader.readexactly(length)
                self.requests.append(request)
                answer = self.answer(request)
                if answer is None:
                    break
                writer.write(answer)
                await writer.drain()
                if self.close:
                    break
        except (asyncio.IncompleteReadError, ConnectionError):
            pass
        finally:
            writer.close()


@pytest.fixture
async def http() -> AsyncIterator[Http1Client]:
    client = Http1Client(
        LOOPBACK, source_address=None, connect_timeout=5, read_limit=1024, max_idle=4
    )
    yield client
    await client.close()


async def post(http: Http1Client, url: str) -> Answer:
    async with asyncio.timeout(5):
        return await http.post(url, {"content-type": "application/json", "webhook-id": "m"}, b"{}")


OK = b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nRetry-After: 7\r\n\r\nok"


async def test_requests_are_exact_and_share_one_kept_alive_connection(http: Http1Client) -> None:
    async with RawServer(lambda _: OK) as server:
        for _ in range(3):
            answer = await post(http, server.url)
            assert (answer.status, answer.body, answer.headers["retry-after"]) == (200, b"ok", "7")
    assert server.connections == 1
    first = server.requests[0]
    assert first.startswith(b"POST /hook?x=1 HTTP/1.1\r\nhost: 127.0.0.1:")
    assert b"\r\nwebhook-id: m\r\n" in first and first.endswith(b"content-length: 2\r\n\r\n{}")


@pytest.mark.parametrize(
    "answer",
    [
        b"HTTP/1.1 201 Created\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"3\r\nabc\r\n2\r\nde\r\n0\r\n\r\n",
        b"HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 201 Created\r\nContent-Length: 5\r\n\r\nabcde",
    ],
)
async def test_chunked_and_interim_answers(http: Http1Client, answer: bytes) -> None:
    async with RawServer(lambda _: answer) as server:
        for _ in range(2):
            got = await post(http, server.url)
            assert (got.status, got.body) == (201, b"abcde")
    assert server.connections == 1


async def test_an_answer_without_length_ends_with_the_connection(http: Http1Client) -> None:
    answer = b"HTTP/1.0 202 Accepted\r\n\r\nuntil close"
    async with RawServer(lambda _: answer, close=True) as server:
        for _ in range(2):
            got = await post(http, server.url)
            assert (got.status, got.body) == (202, b"until close")
    assert server.connections == 2


async def test_a_huge_answer_is_cut_at_the_read_limit(http: Http1Client) -> None:
    size = 10 * 1024 * 1024  # arrives in many reads: reading stops after the first
    huge = b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n" % size + b"x" * size
    async with RawServer(lambda _: huge) as server:
        for _ in range(2):
            got = await post(http, server.url)
            assert (got.status, len(got.body)) == (200, 1024)
    assert server.connections == 2  # the rest is not read, so the connection is not reused


async def test_garbage_and_silence_are_errors(http: Http1Client) -> None:
    async with RawServer(lambda _: b"SMTP ready\r\n\r\n") as server:
        with pytest.raises(ProtocolError):
            await post(http, server.url)
    async with RawServer(lambda _: None) as server:
        with pytest.raises(Disconnected):
            await post(http, server.url)


async def test_line_breaks_cannot_reach_the_request(http: Http1Client) -> None:
    async with RawServer(lambda _: OK) as server:
        with pytest.raises(ValueError):
            await http.post(server.url, {"webhook-id": "m\r\nx-injected: 1"}, b"{}")
    assert server.requests == []

"""The test receiver really does what tests script it to do (over real loopback HTTP)."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import time
import urllib.error
import urllib.request
import uuid
from collections.abc import AsyncIterator
from pathlib import Path

import aiohttp
import pytest

from tests.support.receiver import HUGE_BODY, MAX_SLEEP, Receiver, Response, flaky_fails

ROOT = Path(__file__).resolve().parents[2]


@pytest.fixture
async def receiver() -> AsyncIterator[Receiver]:
    async with Receiver() as r:
        yield r


@pytest.fixture
async def session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10)) as s:
        yield s


async def post(
    session: aiohttp.ClientSession, url: str, headers: dict[str, str] | None = None
) -> tuple[int, dict[str, str], bytes]:
    async with session.post(url, data=b'{"a":1}', headers=headers, allow_redirects=False) as r:
        return r.status, dict(r.headers), await r.read()


async def test_records_every_detail_of_a_request(
    receiver: Receiver, session: aiohttp.ClientSession
) -> None:
    before = time.monotonic()
    status, _, _ = await post(session, receiver.url("/hook?x=1"), {"webhook-id": "msg_1"})
    assert status == 200
    [request] = receiver.requests("/hook")
    assert request.method == "POST"
    assert request.query == "x=1"
    assert request.body == b'{"a":1}'
    assert request.webhook_id == "msg_1"
    assert request.peer == "127.0.0.1"
    assert before <= request.at <= time.monotonic()
    assert request.answer == "200"


async def test_script_is_consumed_in_order_then_default(
    receiver: Receiver, session: aiohttp.ClientSession
) -> None:
    receiver.script("/a", [Response(status=500), Response(status=201), Response(status=410)])
    receiver.script("/gone", [], then=Response(status=410))
    statuses = [(await post(session, receiver.url("/a")))[0] for _ in range(5)]
    assert statuses == [500, 201, 410, 200, 200]
    assert [(await post(session, receiver.url("/gone")))[0] for _ in range(2)] == [410, 410]
    assert [r.answer for r in receiver.requests("/a")] == ["500", "201", "410", "200", "200"]


@pytest.mark.parametrize("status", [429, 503])
async def test_retry_after_header_is_sent(
    receiver: Receiver, session: aiohttp.ClientSession, status: int
) -> None:
    receiver.script("/busy", [Response.retry_after(status, "7")])
    answer, headers, _ = await post(session, receiver.url("/busy"))
    assert (answer, headers["Retry-After"]) == (status, "7")


async def test_redirect_target_records_if_followed(
    receiver: Receiver, session: aiohttp.ClientSession
) -> None:
    receiver.script("/old", [Response.redirect("/new"), Response.redirect("/new")])
    status, headers, _ = await post(session, receiver.url("/old"))
    assert (status, headers["Location"]) == (301, "/new")
    assert receiver.requests("/new") == []
    async with session.post(receiver.url("/old"), data=b"{}") as followed:
        assert followed.status == 200
    assert len(receiver.requests("/new")) == 1


async def test_connection_reset_without_answer(
    receiver: Receiver, session: aiohttp.ClientSession
) -> None:
    receiver.script("/reset", [Response.connection_reset()])
    with pytest.raises(aiohttp.ClientConnectionError):
        await post(session, receiver.url("/reset"))
    assert [r.answer for r in receiver.requests("/reset")] == ["reset"]
    assert (await post(session, receiver.url("/reset")))[0] == 200


async def test_huge_response_body(receiver: Receiver, session: aiohttp.ClientSession) -> None:
    receiver.script("/huge", [Response.huge()])
    status, headers, body = await post(session, receiver.url("/huge"))
    assert status == 200
    assert int(headers["Content-Length"]) == len(body) == HUGE_BODY == 10 * 1024 * 1024


async def test_slow_answer_outlasts_client_timeout_and_stop_cuts_it_short() -> None:
    assert Response.slow(10_000).sleep == MAX_SLEEP
    receiver = Receiver()
    await asyncio.to_thread(receiver.start)
    receiver.script("/slow", [Response.slow(25)])
    timeout = aiohttp.ClientTimeout(total=0.5)
    async with aiohttp.ClientSession(timeout=timeout) as session:
        with pytest.raises(asyncio.TimeoutError):
            await post(session, receiver.url("/slow"))
    assert len(receiver.requests("/slow")) == 1
    started = time.monotonic()
    await asyncio.to_thread(receiver.stop)
    assert time.monotonic() - started < 5


async def test_flaky_mode_fails_first_attempt_of_a_stable_fraction(
    session: aiohttp.ClientSession,
) -> None:
    ids = [str(uuid.UUID(int=n)) for n in range(200)]
    expected = {i for i in ids if flaky_fails(i, 30)}
    assert 30 < len(expected) < 90
    async with Receiver(flaky_percent=30) as receiver:
        first = {i: (await post(session, receiver.url("/f"), {"webhook-id": i}))[0] for i in ids}
        second = {i: (await post(session, receiver.url("/f"), {"webhook-id": i}))[0] for i in ids}
    assert {i for i, status in first.items() if status == 500} == expected
    assert set(second.values()) == {200}


async def test_wait_for_is_bounded(receiver: Receiver) -> None:
    with pytest.raises(AssertionError, match="expected 1 request"):
        await receiver.wait_for_async(1, timeout=0.1)
    with pytest.raises(AssertionError, match="got 0"):
        receiver.wait_for(1, path="/never", timeout=0.1)


def test_sync_use_with_urllib() -> None:
    with Receiver() as receiver:
        receiver.script("/s", [Response(status=500)])
        request = urllib.request.Request(receiver.url("/s"), data=b"{}", method="POST")
        with pytest.raises(urllib.error.HTTPError) as failed:
            urllib.request.urlopen(request, timeout=5)
        assert failed.value.code == 500
        failed.value.close()
        with urllib.request.urlopen(request, timeout=5) as ok:
            assert ok.status == 200
        assert [r.answer for r in receiver.wait_for(2, path="/s")] == ["500", "200"]


async def test_binds_other_loopback_addresses_only(session: aiohttp.ClientSession) -> None:
    async with Receiver(host="127.0.0.2") as receiver:
        assert receiver.url("/").startswith("http://127.0.0.2:")
        assert (await post(session, receiver.url("/")))[0] == 200
    with pytest.raises(ValueError, match="loopback"):
        Receiver(host="10.0.0.1")


async def test_stops_itself_after_its_lifetime(session: aiohttp.ClientSession) -> None:
    receiver = Receiver(lifetime=0.3)
    await asyncio.to_thread(receiver.start)
    await asyncio.sleep(0.8)
    with pytest.raises(aiohttp.ClientConnectionError):
        await post(session, receiver.url("/"))
    await asyncio.to_thread(receiver.stop)


def test_standalone_command_writes_webhook_ids(tmp_path: Path) -> None:
    out = tmp_path / "ids.txt"
    command = [sys.executable, "-m", "tests.support.receiver", "--flaky", "100", "--out", str(out)]
    process = subprocess.Popen(command, cwd=ROOT, stderr=subprocess.PIPE, text=True)
    try:
        assert process.stderr is not None
        line = process.stderr.readline()
        assert line.startswith("listening on http://127.0.0.1:")
        url = line.split()[-1] + "/hook"
        for _ in range(2):
            request = urllib.request.Request(
                url, data=b"{}", method="POST", headers={"webhook-id": "msg_9"}
            )
            try:
                urllib.request.urlopen(request, timeout=5).close()
            except urllib.error.HTTPError as failed:
                assert failed.code == 500
                failed.close()
    finally:
        process.terminate()
        assert process.wait(10) == 0
        assert process.stderr is not None
        process.stderr.close()
    assert out.read_text().splitlines() == ["msg_9\t500", "msg_9\t200"]

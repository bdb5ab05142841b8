"""The receiver SDK: what people receiving stagehook webhooks import."""

from __future__ import annotations

import asyncio
import socket
import threading
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta

import httpx
import pytest
import uvicorn

from stagehook.delivery.signing import build_headers
from stagehook.events import (
    TASK_COMPLETED,
    TASK_SUBMITTED,
    TaskCompletedEvent,
    TaskSubmittedEvent,
    encode_event,
)
from stagehook.receiver import (
    Allowlist,
    InvalidEvent,
    VerificationError,
    verify,
    webhook_app,
)
from stagehook.receiver.asgi import MAX_BODY_BYTES, ReceivedEvent
from stagehook.webhook_secret import generate_secret

SECRET = generate_secret()
PROJECT = str(uuid.uuid4())


def submitted(uid: str | None = None) -> tuple[str, bytes]:
    payload = {"project_hash": PROJECT, "data_hashes": ["d1", "d2"], "label_hashes": ["l1", "l2"]}
    return encode_event(
        event_type=TASK_SUBMITTED,
        payload=payload,
        source="stagehook",
        created=datetime.now(UTC),
        uid=uid,
    )


def signed(
    body: bytes, uid: str, *, secrets: list[str] | None = None, age: float = 0
) -> dict[str, str]:
    moment = datetime.now(UTC) - timedelta(seconds=age)
    return build_headers(secrets or [SECRET], uid, moment, body, "stagehook-test")


# ------------------------------------------------------------------------------ verify
def test_verify_returns_typed_events() -> None:
    uid, body = submitted()
    event = verify(SECRET, signed(body, uid), body)
    assert isinstance(event, TaskSubmittedEvent)
    assert event.uid == uid
    assert event.payload.data_hashes == ["d1", "d2"]

    payload = {"label_hash": "l", "project_hash": PROJECT, "data_hash": "d"}
    uid, body = encode_event(
        event_type=TASK_COMPLETED, payload=payload, source="Encord", created=datetime.now(UTC)
    )
    event = verify([SECRET], signed(body, uid), body)
    assert isinstance(event, TaskCompletedEvent)
    assert event.source == "Encord"


def test_header_names_are_case_insensitive() -> None:
    uid, body = submitted()
    headers = {key.title(): value for key, value in signed(body, uid).items()}
    assert verify(SECRET, headers, body).uid == uid


def test_any_one_of_several_secrets_verifies() -> None:
    old, new = generate_secret(), generate_secret()
    uid, body = submitted()
    assert verify([old, new], signed(body, uid, secrets=[new]), body).uid == uid
    assert verify([old, new], signed(body, uid, secrets=[old]), body).uid == uid
    assert verify(new, signed(body, uid, secrets=[old, new]), body).uid == uid


@pytest.mark.parametrize(
    ("mangle", "message"),
    [
        (lambda h: h.pop("webhook-signature"), "missing header(s): webhook-signature"),
        (lambda h: h.pop("webhook-id"), "missing header(s): webhook-id"),
        (lambda h: h.update({"webhook-timestamp": "soon"}), "not an integer"),
        (lambda h: h.update({"webhook-signature": "v1,AAAA"}), "no matching signature"),
        (lambda h: h.update({"webhook-signature": "garbage v1,!!! v2"}), "no matching"),
        (lambda h: h.update({"webhook-id": "other"}), "no matching signature"),
    ],
)
def test_tampered_headers_are_refused(
    mangle: Callable[[dict[str, str]], object], message: str
) -> None:
    uid, body = submitted()
    headers = signed(body, uid)
    mangle(headers)
    with pytest.raises(VerificationError) as refused:
        verify(SECRET, headers, body)
    assert message in str(refused.value)


def test_wrong_secret_and_changed_body_are_refused() -> None:
    uid, body = submitted()
    with pytest.raises(VerificationError):
        verify(generate_secret(), signed(body, uid), body)
    with pytest.raises(VerificationError):
        verify(SECRET, signed(body, uid), body.replace(b"d1", b"d9"))


def test_timestamps_outside_tolerance_are_refused() -> None:
    uid, body = submitted()
    with pytest.raises(VerificationError, match="too old"):
        verify(SECRET, signed(body, uid, age=400), body)
    with pytest.raises(VerificationError, match="future"):
        verify(SECRET, signed(body, uid, age=-400), body)
    assert verify(SECRET, signed(body, uid, age=400), body, tolerance=600).uid == uid


def test_authentic_but_unknown_body_is_invalid_event() -> None:
    body = b'{"hello": "world"}'
    with pytest.raises(InvalidEvent):
        verify(SECRET, signed(body, "x"), body)


def test_non_utf8_body_is_refused() -> None:
    with pytest.raises(VerificationError, match="UTF-8"):
        verify(
            SECRET,
            {"webhook-id": "x", "webhook-timestamp": "1", "webhook-signature": "v1,a"},
            b"\xff",
            tolerance=10**12,
        )


# --------------------------------------------------------------------------- allowlist
def test_allowlist_matches_cidrs_and_mapped_ipv4() -> None:
    allow = Allowlist(["203.0.113.0/24", "2001:db8:1::/48"])
    assert allow.allows("203.0.113.7")
    assert allow.allows("::ffff:203.0.113.7")
    assert allow.allows("2001:db8:1::5")
    assert not allow.allows("203.0.114.1")
    assert not allow.allows("2001:db8:2::5")
    assert not allow.allows("not an ip")
    assert not allow.allows("")


def test_allowlist_from_meta() -> None:
    allow = Allowlist.from_meta({"deployment": "emea", "egress_cidrs": ["198.51.100.0/28"]})
    assert allow.deployment == "emea"
    assert allow.allows("198.51.100.15")
    assert not allow.allows("198.51.100.16")


@pytest.mark.parametrize("meta", [{"deployment": "x"}, {"egress_cidrs": "1.2.3.4"}])
def test_allowlist_from_meta_refuses_malformed_meta(meta: dict[str, object]) -> None:
    with pytest.raises(ValueError):
        Allowlist.from_meta(meta)


def test_allowlist_from_a_default_deployment_lets_every_sender_through() -> None:
    """No published egress addresses: the signature alone decides (or fail closed)."""
    meta = {"deployment": "default", "egress_cidrs": []}
    allow = Allowlist.from_meta(meta)
    assert not allow.enforcing and "enforcing=False" in repr(allow)
    assert allow.allows("127.0.0.1") and allow.allows("2001:db8::1")
    assert not allow.allows("not an address")
    with pytest.raises(ValueError, match="STAGEHOOK_EGRESS_CIDRS"):
        Allowlist.from_meta(meta, required=True)


# -------------------------------------------------------------------------------- ASGI
class Recorder:
    def __init__(self, fail_times: int = 0) -> None:
        self.events: list[ReceivedEvent] = []
        self.fail_times = fail_times

    def __call__(self, event: ReceivedEvent) -> None:
        if self.fail_times:
            self.fail_times -= 1
            raise RuntimeError("receiver's own bug")
        self.events.append(event)


def client_for(app: object, ip: str = "127.0.0.1") -> httpx.AsyncClient:
    transport = httpx.ASGITransport(app=app, client=(ip, 40000))  # type: ignore[arg-type]
    return httpx.AsyncClient(transport=transport, base_url="http://receiver.test")


async def test_app_handles_event_once_and_acknowledges_duplicates() -> None:
    handler = Recorder()
    uid, body = submitted()
    async with client_for(webhook_app(SECRET, handler)) as client:
        first = await client.post("/hook", content=body, headers=signed(body, uid))
        again = await client.post("/hook", content=body, headers=signed(body, uid))
    assert (first.status_code, again.status_code) == (204, 204)
    assert [event.uid for event in handler.events] == [uid]


async def test_app_runs_async_handlers() -> None:
    seen: list[str] = []

    async def handler(event: ReceivedEvent) -> None:
        await asyncio.sleep(0)
        seen.append(event.uid)

    uid, body = submitted()
    async with client_for(webhook_app(SECRET, handler)) as client:
        assert (await client.post("/", content=body, headers=signed(body, uid))).status_code == 204
    assert seen == [uid]


async def test_sync_handlers_run_off_the_event_loop() -> None:
    threads: list[threading.Thread] = []
    uid, body = submitted()
    app = webhook_app(SECRET, lambda event: threads.append(threading.current_thread()))
    async with client_for(app) as client:
        await client.post("/", content=body, headers=signed(body, uid))
    assert threads and threads[0] is not threading.main_thread()


async def test_bad_signature_is_401_and_handler_not_called() -> None:
    handler = Recorder()
    uid, body = submitted()
    async with client_for(webhook_app(SECRET, handler)) as client:
        response = await client.post(
            "/", content=body, headers=signed(body, uid, secrets=[generate_secret()])
        )
        unsigned = await client.post("/", content=body)
    assert (response.status_code, unsigned.status_code) == (401, 401)
    assert response.json() == {"error": "no matching signature"}
    assert handler.events == []


async def test_source_outside_allowlist_is_403() -> None:
    handler = Recorder()
    app = webhook_app(SECRET, handler, allowlist=Allowlist(["198.51.100.0/24"]))
    uid, body = submitted()
    async with client_for(app, ip="203.0.113.9") as outsider:
        refused = await outsider.post("/", content=body, headers=signed(body, uid))
    async with client_for(app, ip="198.51.100.4") as insider:
        allowed = await insider.post("/", content=body, headers=signed(body, uid))
    assert (refused.status_code, allowed.status_code) == (403, 204)
    assert len(handler.events) == 1


async def test_handler_failure_is_500_and_the_retry_runs_it_again() -> None:
    handler = Recorder(fail_times=1)
    uid, body = submitted()
    async with client_for(webhook_app(SECRET, handler)) as client:
        failed = await client.post("/", content=body, headers=signed(body, uid))
        retried = await client.post("/", content=body, headers=signed(body, uid))
    assert (failed.status_code, retried.status_code) == (500, 204)
    assert [event.uid for event in handler.events] == [uid]


async def test_oversized_bodies_wrong_methods_and_non_events() -> None:
    async with client_for(webhook_app(SECRET, Recorder())) as client:
        huge = b"x" * (MAX_BODY_BYTES + 1)
        assert (await client.post("/", content=huge)).status_code == 413
        assert (await client.get("/")).status_code == 405
        body = b'{"not": "an event"}'
        assert (await client.post("/", content=body, headers=signed(body, "x"))).status_code == 400


# --------------------------------------------------------------- real server on loopback
@pytest.fixture
async def served_app() -> AsyncIterator[tuple[str, Recorder]]:
    handler = Recorder()
    app = webhook_app(SECRET, handler, allowlist=Allowlist(["127.0.0.0/8"]))
    sock = socket.socket()
    sock.bind(("127.0.0.1", 0))
    server = uvicorn.Server(uvicorn.Config(app, log_level="warning", lifespan="on"))
    task = asyncio.create_task(server.serve(sockets=[sock]))
    while not server.started:
        await asyncio.sleep(0.01)
    try:
        yield f"http://127.0.0.1:{sock.getsockname()[1]}/hook", handler
    finally:
        server.should_exit = True
        await asyncio.wait_for(task, 10)
        sock.close()


async def test_app_under_uvicorn_on_loopback(served_app: tuple[str, Recorder]) -> None:
    url, handler = served_app
    uid, body = submitted()
    async with httpx.AsyncClient() as client:
        ok = await client.post(url, content=body, headers=signed(body, uid))
        dup = await client.post(url, content=body, headers=signed(body, uid))
        bad = await client.post(url, content=body, headers={"webhook-id": uid})
    assert (ok.status_code, dup.status_code, bad.status_code) == (204, 204, 401)
    assert [event.uid for event in handler.events] == [uid]

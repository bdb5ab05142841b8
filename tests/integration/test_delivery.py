"""Delivery over real HTTP to a real receiver on 127.0.0.1, on SQLite and PostgreSQL."""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
import time
from collections.abc import Iterator
from typing import Any

import pytest
from sqlalchemy import select, text, update
from standardwebhooks import Webhook

from stagehook.delivery import dispatcher
from stagehook.store.context import Store
from stagehook.store.outbox import claim, workers
from stagehook.store.tables import endpoints, events
from tests.support.api import Api
from tests.support.deliveries import (
    deliveries,
    project_with_hook,
    submit,
    wait_status,
)
from tests.support.receiver import Receiver, Response
from tests.support.waiting import wait_until
from tests.support.workflows import ANNOTATE, COMPLETE, REVIEW


def test_submit_reaches_receiver_signed_with_stored_bytes(api: Api, store: Store) -> None:
    with Receiver() as receiver:
        project_hash, tasks, secret = project_with_hook(
            api, receiver.url("/submitted"), 2, complete_url=receiver.url("/completed")
        )
        uid = submit(api, project_hash, tasks)
        got = receiver.wait_for(1, "/submitted")[0]
        with store.db.read() as conn:
            stored = conn.execute(select(events.c.body).where(events.c.uid == uid)).scalar_one()
        assert got.body == bytes(stored)
        assert got.headers["webhook-id"] == uid
        assert got.headers["content-type"] == "application/json"
        assert got.headers["user-agent"].startswith("stagehook/")
        Webhook(secret).verify(got.body, dict(got.headers))
        event = json.loads(got.body)
        assert event["event_type"] == "task_submitted_event"
        assert event["payload"]["data_hashes"] == [t["data_hash"] for t in tasks]

        api.act(project_hash, REVIEW, [{"task_uuid": tasks[0]["task_uuid"], "action": "APPROVE"}])
        completed = json.loads(receiver.wait_for(1, "/completed")[0].body)
        assert completed["payload"]["label_hash"] == tasks[0]["label_hash"]
        row = wait_status(api, project_hash, "delivered")
        assert row["attempts_log"][0]["status_code"] == 200
        metrics = api.raw("GET", "/../../metrics").text
        assert 'stagehook_deliveries_total{outcome="delivered"}' in metrics
        assert 'stagehook_queue_depth{status="delivered"}' in metrics
        assert "stagehook_event_to_delivery_seconds_count" in metrics
        assert "stagehook_attempt_duration_seconds_count" in metrics


def test_500_then_success_is_retried_with_same_uid_and_body(api: Api) -> None:
    with Receiver() as receiver:
        receiver.script("/h", [Response(500), Response(500)])
        project_hash, tasks, _ = project_with_hook(api, receiver.url("/h"))
        uid = submit(api, project_hash, tasks)
        got = receiver.wait_for(3, "/h")
        assert {r.webhook_id for r in got} == {uid}
        assert len({r.body for r in got}) == 1
        row = wait_status(api, project_hash, "delivered")
        assert [a["status_code"] for a in row["attempts_log"]] == [500, 500, 200]
        assert row["attempts"] == 3


def test_schedule_exhausted_is_failed_then_retry_now_delivers(api: Api) -> None:
    with Receiver() as receiver:
        receiver.script("/h", [Response(503)] * 3)
        project_hash, tasks, _ = project_with_hook(api, receiver.url("/h"))
        submit(api, project_hash, tasks)
        failed = wait_status(api, project_hash, "failed")
        assert failed["attempts"] == 3
        assert "503" in failed["last_error"]
        api.request("POST", f"/projects/{project_hash}/deliveries/{failed['id']}/retry")
        delivered = wait_status(api, project_hash, "delivered")
        assert delivered["attempts"] == 4
        assert len(receiver.requests("/h")) == 4


def test_410_gone_disables_the_webhook(api: Api) -> None:
    with Receiver() as receiver:
        receiver.script("/h", [Response(410)])
        project_hash, tasks, _ = project_with_hook(api, receiver.url("/h"))
        submit(api, project_hash, tasks)
        failed = wait_status(api, project_hash, "failed")
        assert failed["attempts"] == 1
        hooks = api.request("GET", f"/projects/{project_hash}/webhooks")["webhooks"]
        assert hooks[0]["enabled"] is False
        assert "410" in hooks[0]["disabled_reason"]
        api.request("POST", f"/projects/{project_hash}/workflow/stages/{ANNOTATE}/webhook/enable")
        assert api.request("GET", f"/projects/{project_hash}/webhooks")["webhooks"][0]["enabled"]


def test_retry_after_is_honoured_within_bounds(api: Api) -> None:
    with Receiver() as receiver:
        receiver.script("/h", [Response.retry_after(429, "30")])
        project_hash, tasks, _ = project_with_hook(api, receiver.url("/h"))
        submit(api, project_hash, tasks)
        first, second = receiver.wait_for(2, "/h")
        gap = second.at - first.at
        # schedule step 0.2 s: Retry-After 30 s is honoured (more than 0.2 s) but clamped
        # to 2x = 0.4 s; unclamped it would wait 30 s
        assert 0.35 <= gap < 5.0


def test_redirect_is_not_followed(api: Api) -> None:
    with Receiver() as receiver:
        receiver.script("/h", [Response.redirect(receiver.url("/elsewhere"))] * 3)
        project_hash, tasks, _ = project_with_hook(api, receiver.url("/h"))
        submit(api, project_hash, tasks)
        failed = wait_status(api, project_hash, "failed")
        assert failed["attempts_log"][0]["status_code"] == 301
        assert "redirect" in failed["attempts_log"][0]["error"]
        assert receiver.requests("/elsewhere") == []


@pytest.mark.settings(request_timeout=1.0)
def test_timeout_reset_and_huge_body(api: Api) -> None:
    with Receiver() as receiver:
        receiver.script("/slow", [Response.slow(5)])
        receiver.script("/reset", [Response.connection_reset()])
        receiver.script("/huge", [Response.huge()])
        results = {}
        for path in ("/slow", "/reset", "/huge"):
            project_hash, tasks, _ = project_with_hook(api, receiver.url(path))
            submit(api, project_hash, tasks)
            results[path] = wait_status(api, project_hash, "delivered")
        assert results["/slow"]["attempts_log"][0]["error_class"] == "timeout"
        assert results["/reset"]["attempts_log"][0]["error_class"] == "connection_reset"
        huge = results["/huge"]["attempts_log"][0]
        assert huge["status_code"] == 200
        assert 0 < len(huge["response_excerpt"]) <= 4096


def test_a_reply_with_a_nul_byte_is_recorded(api: Api) -> None:
    """PostgreSQL's text cannot hold NUL: the excerpt keeps a replacement character, and
    the attempt (with every later one of the batch) is recorded, not retried forever."""
    with Receiver() as receiver:
        receiver.script("/h", [Response(body=b"ok\x00then \xff bytes")])
        project_hash, tasks, _ = project_with_hook(api, receiver.url("/h"))
        submit(api, project_hash, tasks)
        delivered = wait_status(api, project_hash, "delivered")
        assert delivered["attempts_log"][0]["response_excerpt"] == "ok\ufffdthen \ufffd bytes"


@pytest.mark.settings(circuit_failure_threshold=100)
def test_recover_failed_since(api: Api) -> None:
    with Receiver() as receiver:
        receiver.script("/h", [Response(500)] * 6)
        project_hash, tasks, _ = project_with_hook(api, receiver.url("/h"), 2)
        for task in tasks:
            submit(api, project_hash, [task])
        wait_until(
            lambda: [d["status"] for d in deliveries(api, project_hash)] == ["failed", "failed"],
            what="both deliveries failed",
        )
        recovered = api.request(
            "POST",
            f"/projects/{project_hash}/workflow/stages/{ANNOTATE}/webhook/recover",
            json={"since": "2000-01-01T00:00:00Z"},
        )
        assert recovered == {"requeued": 2}
        wait_until(
            lambda: (
                [d["status"] for d in deliveries(api, project_hash)] == ["delivered", "delivered"]
            ),
            what="both delivered",
        )


def test_send_test_event_answers_synchronously(api: Api) -> None:
    with Receiver() as receiver:
        project_hash, _, secret = project_with_hook(
            api, receiver.url("/h"), complete_url=receiver.url("/c")
        )
        result = api.request(
            "POST", f"/projects/{project_hash}/workflow/stages/{ANNOTATE}/webhook/test"
        )
        assert result["success"] is True and result["status_code"] == 200
        got = receiver.requests("/h")[0]
        Webhook(secret).verify(got.body, dict(got.headers))
        assert json.loads(got.body)["event_type"] == "task_submitted_event"
        done = api.request(
            "POST", f"/projects/{project_hash}/workflow/stages/{COMPLETE}/webhook/test"
        )
        assert done["event_type"] == "task_completed_event"
        assert deliveries(api, project_hash) == []


def test_secret_rotation_sends_both_signatures(api: Api) -> None:
    with Receiver() as receiver:
        project_hash, tasks, old_secret = project_with_hook(api, receiver.url("/h"), 2)
        rotated = api.request(
            "POST", f"/projects/{project_hash}/workflow/stages/{ANNOTATE}/webhook/rotate-secret"
        )
        new_secret = rotated["signing_secret"]
        assert new_secret != old_secret
        submit(api, project_hash, tasks[:1])
        got = receiver.wait_for(1, "/h")[0]
        assert len(got.headers["webhook-signature"].split(" ")) == 2
        Webhook(old_secret).verify(got.body, dict(got.headers))
        Webhook(new_secret).verify(got.body, dict(got.headers))


@pytest.mark.settings(retry_schedule=[0] + [0.05] * 7, circuit_probe_interval=60)
def test_circuit_opens_after_five_failures_and_is_visible(api: Api) -> None:
    with Receiver(default=Response(500)) as receiver:
        project_hash, tasks, _ = project_with_hook(api, receiver.url("/h"), 3)
        for task in tasks:
            submit(api, project_hash, [task])

        def opened() -> bool:
            hooks = api.request("GET", f"/projects/{project_hash}/webhooks")["webhooks"]
            return bool(hooks[0]["circuit_open"])

        wait_until(opened, what="the circuit to open")
        count = len(receiver.requests("/h"))
        assert count >= 5
        metrics = api.raw("GET", "/../../metrics").text
        assert "stagehook_open_circuits 1.0" in metrics
        # paused: no attempts while the circuit is open and no probe is due
        time.sleep(0.5)
        assert len(receiver.requests("/h")) == count


@pytest.mark.settings(
    retry_schedule=[0] + [0.1] * 20,
    circuit_failure_threshold=1000,
    disable_after_failing_seconds=0.5,
)
def test_a_webhook_failing_continuously_is_disabled(api: Api) -> None:
    with Receiver(default=Response(500)) as receiver:
        project_hash, tasks, _ = project_with_hook(api, receiver.url("/h"))
        submit(api, project_hash, tasks)

        def disabled() -> dict[str, object] | None:
            hook = api.request("GET", f"/projects/{project_hash}/webhooks")["webhooks"][0]
            return hook if not hook["enabled"] else None

        hook = wait_until(disabled, what="the webhook to be disabled")
        assert "failing continuously" in str(hook["disabled_reason"])
        failed = wait_status(api, project_hash, "failed")
        assert failed["last_error"] == "webhook is disabled or deleted"


@pytest.mark.settings(circuit_failure_threshold=100)
def test_retry_after_fixing_the_url_goes_to_the_new_url(api: Api) -> None:
    with Receiver() as old, Receiver() as new:
        old.script("/h", [Response(500)] * 3)
        project_hash, tasks, _ = project_with_hook(api, old.url("/h"))
        submit(api, project_hash, tasks)
        failed = wait_status(api, project_hash, "failed")
        api.set_webhook(project_hash, ANNOTATE, new.url("/fixed"))
        api.request("POST", f"/projects/{project_hash}/deliveries/{failed['id']}/retry")
        delivered = wait_status(api, project_hash, "delivered")
        assert delivered["url"] == new.url("/fixed")
        assert len(new.requests("/fixed")) == 1
        assert len(old.requests("/h")) == 3


def test_a_deleted_webhook_sends_nothing_more(api: Api) -> None:
    with Receiver() as receiver:
        receiver.script("/h", [Response(500)])
        project_hash, tasks, _ = project_with_hook(api, receiver.url("/h"))
        submit(api, project_hash, tasks)
        receiver.wait_for(1, "/h")
        api.delete_webhook(project_hash, ANNOTATE)
        failed = wait_status(api, project_hash, "failed")
        assert failed["last_error"] == "webhook is disabled or deleted"
        assert len(receiver.requests("/h")) == 1


@pytest.mark.settings(max_in_flight_per_url=3)
def test_requests_to_one_url_never_exceed_its_cap(api: Api) -> None:
    """Claimed rows wait for a slot; a URL never has more than its cap in flight."""
    with Receiver() as receiver:
        receiver.script("/h", [Response.slow(0.4)] * 12)
        project_hash, tasks, _ = project_with_hook(api, receiver.url("/h"), n=12)
        for task in tasks:
            submit(api, project_hash, [task])
        arrivals = sorted(r.at for r in receiver.wait_for(12, "/h", timeout=30))
    # The 4th request can only start once one of the 3 before it was answered (0.4 s).
    assert all(later - first >= 0.4 for first, later in zip(arrivals, arrivals[3:], strict=False))


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_a_drained_queue_is_not_claimed_again_when_its_deliveries_finish(
    api: Api, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """PostgreSQL (where claims have a loop of their own): a claim that took every due
    row leaves nothing for its deliveries' completions to claim, so they do not wake
    another claim (under a steady submit load, four claims in ten had found nothing)."""
    monkeypatch.setattr(dispatcher, "DUE_RECHECK", 30.0)  # no timed look meanwhile
    picks: list[float] = []
    claim_due_alone = claim.claim_due_alone

    async def spy(*args: Any, **kwargs: Any) -> Any:
        picks.append(time.monotonic())
        return await claim_due_alone(*args, **kwargs)

    monkeypatch.setattr(claim, "claim_due_alone", spy)
    with Receiver() as receiver:
        receiver.script("/h", [Response.slow(0.6)])
        project_hash, tasks, _ = project_with_hook(api, receiver.url("/h"))
        submit(api, project_hash, tasks)
        arrived = receiver.wait_for(1, "/h")[0].at
        wait_status(api, project_hash, "delivered")
        time.sleep(0.3)  # a claim woken by the completion has run by now
    assert picks, "no claim ran"
    # the completion came 0.6 s after the request arrived: no claim after it
    assert all(at < arrived + 0.5 for at in picks), [at - arrived for at in picks]


@pytest.mark.settings(
    retry_schedule=[0] + [0.05] * 7, circuit_failure_threshold=1, circuit_probe_interval=30
)
def test_rows_behind_a_circuit_go_out_once_its_probe_succeeded(api: Api, store: Store) -> None:
    """A successful probe closes its circuit when it is recorded; the rows that waited
    behind it are claimed then, not at the next slow poll (5 s)."""
    with Receiver() as receiver:
        receiver.script("/h", [Response(500)])
        project_hash, tasks, _ = project_with_hook(api, receiver.url("/h"), 4)
        submit(api, project_hash, [tasks[0]])
        receiver.wait_for(1, "/h")
        wait_until(
            lambda: api.request("GET", f"/projects/{project_hash}/webhooks")["webhooks"][0][
                "circuit_open"
            ],
            what="the circuit open",
        )
        for task in tasks[1:]:
            submit(api, project_hash, [task])
        time.sleep(0.3)
        assert len(receiver.requests("/h")) == 1  # held behind the open circuit
        with store.db.write() as conn:  # the probe is due in a second; a commit wakes us
            conn.execute(update(endpoints).values(probe_after=store.clock.now() + 1.0))
            store.db.notify(conn)
        got = receiver.wait_for(5, "/h", timeout=15)
    probe = got[1].at
    assert max(r.at for r in got[2:]) - probe < 1.5, [r.at - probe for r in got[2:]]


@contextlib.contextmanager
def running(cycles: dispatcher.Dispatcher, name: str) -> Iterator[None]:
    """``cycles`` on an event loop of its own, in a thread called ``name``."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_until_complete, args=(cycles.run(),), name=name)
    thread.start()
    try:
        yield
    finally:
        loop.call_soon_threadsafe(cycles.stop)
        thread.join(timeout=30)
        loop.close()


def test_a_postgresql_dispatcher_claims_and_records_on_its_loops_own_connections(
    undispatched: tuple[Api, Store], monkeypatch: pytest.MonkeyPatch
) -> None:
    """On PostgreSQL a claim and a batch of successes are one statement each and run on
    the loop's own connections (store/async_statements.py): no thread hop, and the loop
    goes on sending while they are out. Only failures and due probes go to a worker
    thread's transaction (``_exchange``); on SQLite every cycle does."""
    api, store = undispatched
    on_threads: list[tuple[int, int]] = []
    exchange = dispatcher.Dispatcher._exchange

    def spy(self: dispatcher.Dispatcher, results: Any, want: int, busy: Any) -> Any:
        on_threads.append((len(results), want))
        return exchange(self, results, want, busy)

    monkeypatch.setattr(dispatcher.Dispatcher, "_exchange", spy)
    with Receiver() as receiver, running(dispatcher.Dispatcher(store), "the-dispatcher"):
        project_hash, tasks, _ = project_with_hook(api, receiver.url("/h"), 3)
        for n, task in enumerate(tasks, start=1):
            submit(api, project_hash, [task])
            receiver.wait_for(n, "/h")
            wait_status(api, project_hash, "delivered")
    if store.db.is_sqlite:
        assert len(on_threads) >= 3, on_threads
    else:
        assert on_threads == []


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_a_dispatcher_whose_connections_the_server_dropped_opens_new_ones(
    undispatched: tuple[Api, Store],
) -> None:
    """PostgreSQL drops every connection (a restart, a failover, an administrator): the
    loop's own connections fail their next statement, and the cycle after the back-off
    opens new ones. The next event goes out once, nothing is left leased."""
    api, store = undispatched
    with Receiver() as receiver, running(dispatcher.Dispatcher(store), "the-dispatcher"):
        project_hash, tasks, _ = project_with_hook(api, receiver.url("/h"), 2)
        submit(api, project_hash, [tasks[0]])
        receiver.wait_for(1, "/h")
        wait_status(api, project_hash, "delivered")
        with store.db.engine.connect() as conn:
            dropped = conn.execute(
                text(
                    "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity"
                    " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                )
            ).scalar_one()
            conn.commit()
        assert dropped >= 2, "the dispatcher's connections, at least"
        store.db.engine.dispose()  # the pool's, dropped too, as after a restart
        submit(api, project_hash, [tasks[1]])
        receiver.wait_for(2, "/h", timeout=15)
        wait_until(
            lambda: [d["status"] for d in deliveries(api, project_hash)] == ["delivered"] * 2,
            what="both delivered",
        )
    assert len(receiver.requests("/h")) == 2
    with store.db.read() as conn:
        leased = conn.execute(text("SELECT count(*) FROM deliveries WHERE lease_owner IS NOT NULL"))
        assert leased.scalar_one() == 0


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_a_dispatcher_cancelled_mid_record_still_records_on_its_way_out(
    undispatched: tuple[Api, Store],
) -> None:
    """Cancelled while a batch of results is being written (the statement waits on a
    lock), the dispatcher keeps the batch and its shutdown writes it: the delivery is
    recorded, not left leased to go out a second time."""
    api, store = undispatched
    cycles = dispatcher.Dispatcher(store)
    loop = asyncio.new_event_loop()
    task = loop.create_task(cycles.run())

    def run() -> None:
        with contextlib.suppress(asyncio.CancelledError):
            loop.run_until_complete(task)

    thread = threading.Thread(target=run, name="cancelled", daemon=True)
    with Receiver() as receiver:
        project_hash, tasks, _ = project_with_hook(api, receiver.url("/h"), 1)
        with store.db.engine.connect() as locker:
            thread.start()
            try:
                # the attempt log: only the record writes it
                locker.execute(text("LOCK TABLE delivery_attempts IN ACCESS EXCLUSIVE MODE"))
                submit(api, project_hash, tasks)
                receiver.wait_for(1, "/h")

                def recording() -> bool:
                    with store.db.engine.connect() as conn:
                        return bool(
                            conn.execute(
                                text(
                                    "SELECT count(*) FROM pg_stat_activity WHERE"
                                    " wait_event_type = 'Lock' AND query LIKE 'WITH attempted%'"
                                )
                            ).scalar_one()
                        )

                wait_until(recording, what="the record waiting on the lock")
            finally:
                loop.call_soon_threadsafe(task.cancel)
                time.sleep(0.3)
                locker.rollback()  # the shutdown's flush can write now
                thread.join(timeout=30)
    assert not thread.is_alive()
    loop.close()
    assert [d["status"] for d in deliveries(api, project_hash)] == ["delivered"]
    assert len(receiver.requests("/h")) == 1


def test_leases_a_leaving_worker_hands_back_are_claimed_at_once(api: Api, store: Store) -> None:
    """A worker that stops hands its leases back and wakes the others, which claim them
    at once rather than at their next slow poll (5 s)."""
    with Receiver() as receiver:
        project_hash, tasks, _ = project_with_hook(api, receiver.url("/h"))
        submit(api, project_hash, tasks)
        wait_status(api, project_hash, "delivered")
        now = store.clock.now()
        with store.db.write() as conn:  # three rows another worker ("gone") holds
            for _ in range(3):
                conn.execute(
                    text(
                        "INSERT INTO deliveries (event_uid, webhook_id, project_hash, stage_uuid,"
                        " event_type, url, status, attempts, retry_base, next_attempt_at,"
                        " created_at, lease_owner, lease_expires_at) SELECT event_uid,"
                        " webhook_id, project_hash, stage_uuid, event_type, url, 'pending', 0,"
                        " 0, :now, :now, 'gone', :until FROM deliveries WHERE project_hash = :p"
                        " AND status = 'delivered'"
                    ),
                    {"now": now, "until": now + 60, "p": project_hash},
                )
        time.sleep(0.5)  # our dispatcher idles: the rows are leased for another minute
        released = time.monotonic()
        workers.deregister(store, "gone")
        got = receiver.wait_for(4, "/h", timeout=15)
    assert max(r.at for r in got[1:]) - released < 1.5, [r.at - released for r in got[1:]]

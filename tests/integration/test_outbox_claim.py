"""The delivery queue under contention: a live lease belongs to exactly one claimer."""

from __future__ import annotations

import asyncio
import threading
from collections import Counter
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event, func, insert, select, text, update

from stagehook.clock import Clock
from stagehook.config import Settings
from stagehook.runtime import open_store
from stagehook.store.async_statements import AsyncStatements
from stagehook.store.context import Store
from stagehook.store.outbox.claim import claim_due, claim_due_alone, release
from stagehook.store.outbox.record import record_attempts
from stagehook.store.outbox.records import Claimed, DeliveryStatus, Recorded
from stagehook.store.prepared import Prepared
from stagehook.store.tables import (
    deliveries,
    delivery_attempts,
    endpoints,
    events,
    projects,
    webhooks,
)
from tests.support.plans import plan
from tests.support.statements import captured

ROWS = 600


def seed(store: Store, url: str = "http://127.0.0.1:9/h", urls: int = 6) -> None:
    now = store.clock.now()
    with store.db.write() as conn:
        conn.execute(
            insert(projects).values(
                project_hash="p", title="p", workflow={"stages": []}, created_at=now
            )
        )
        conn.execute(
            insert(webhooks).values(
                webhook_id="w",
                project_hash="p",
                stage_uuid="s",
                url=url,
                secret="whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw",
                enabled=True,
                created_at=now,
            )
        )
        conn.execute(
            insert(events),
            [
                {
                    "uid": f"e{i}",
                    "project_hash": "p",
                    "stage_uuid": "s",
                    "event_type": "task_submitted_event",
                    "body": b"{}",
                    "created_at": now,
                }
                for i in range(ROWS)
            ],
        )
        conn.execute(
            insert(deliveries),
            [
                {
                    "event_uid": f"e{i}",
                    "webhook_id": "w",
                    "project_hash": "p",
                    "stage_uuid": "s",
                    "event_type": "task_submitted_event",
                    "url": f"{url}{i % urls}",
                    "status": "pending",
                    "attempts": 0,
                    "retry_base": 0,
                    "next_attempt_at": now - 1,
                    "created_at": now,
                }
                for i in range(ROWS)
            ],
        )


@pytest.fixture
def qstore(db_url: str, tmp_path: Path) -> Store:
    store = open_store(Settings(data_dir=tmp_path, database_url=db_url), Clock())
    yield store  # type: ignore[misc]
    store.db.dispose()


@pytest.mark.parametrize("how", ["in a transaction", "statement by statement"])
def test_concurrent_claimers_never_share_a_live_lease(qstore: Store, how: str) -> None:
    """Eight claimers, each claim in a transaction (``claim_due``) or, on PostgreSQL,
    one statement that is a transaction of its own, on an event loop's connection
    (``claim_due_alone``)."""
    alone = how == "statement by statement"
    if alone and qstore.db.is_sqlite:
        pytest.skip("SQLite claims in its one writer's transactions")
    seed(qstore)
    claims: Counter[int] = Counter()
    errors: list[BaseException] = []
    lock = threading.Lock()

    async def claims_alone(name: str) -> None:
        db = qstore.db.async_statements()
        try:
            for _ in range(200):
                got = await claim_due_alone(
                    db, name, now=qstore.clock.now(), lease_seconds=300, limit=7, per_url=3
                )
                assert got is not None, "no circuit is open: nothing is left to a transaction"
                if not took(got):
                    return
        finally:
            await db.close()

    def took(got: list[Claimed]) -> bool:
        assert len(got) <= 7, "a claim takes at most its limit"
        with lock:
            claims.update(c.id for c in got)
        return bool(got)

    def claimer(name: str) -> None:
        try:
            if alone:
                asyncio.run(claims_alone(name))
                return
            for _ in range(200):
                with qstore.db.write() as conn:
                    got = claim_due(
                        conn, name, now=qstore.clock.now(), lease_seconds=300, limit=7, per_url=3
                    )
                if not took(got):
                    return
        except BaseException as exc:  # surfaced below
            errors.append(exc)

    threads = [threading.Thread(target=claimer, args=(f"w{i}",)) for i in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    assert errors == []
    assert len(claims) == ROWS, "every due row is claimed"
    assert max(claims.values()) == 1, "no row is claimed twice while its lease is live"
    with qstore.db.read() as conn:
        owners = conn.execute(select(deliveries.c.lease_owner)).scalars().all()
    assert None not in owners


def _alone(store: Store, worker: str, **terms: Any) -> list[Claimed] | None:
    """``claim_due_alone`` as the dispatcher runs it, on an event loop's connection."""

    async def claim() -> list[Claimed] | None:
        db = store.db.async_statements()
        try:
            return await claim_due_alone(db, worker, **terms)
        finally:
            await db.close()

    return asyncio.run(claim())


def _claim(store: Store, how: str, worker: str, **terms: Any) -> list[Claimed]:
    """One claim, as the dispatcher makes it: in a transaction, or on PostgreSQL
    statement by statement."""
    if how == "statement by statement":
        if store.db.is_sqlite:
            pytest.skip("SQLite claims in its one writer's transactions")
        got = _alone(store, worker, **terms)
        assert got is not None
        return got
    with store.db.write() as conn:
        return claim_due(conn, worker, **terms)


@pytest.mark.parametrize("how", ["in a transaction", "statement by statement"])
def test_per_url_cap_and_expired_leases(qstore: Store, how: str) -> None:
    seed(qstore, urls=2)
    now = qstore.clock.now()
    first = _claim(qstore, how, "a", now=now, lease_seconds=10, limit=50, per_url=4)
    assert len(first) == 8
    assert max(Counter(c.url for c in first).values()) == 4
    saturated = _claim(
        qstore, how, "b", now=now, lease_seconds=10, limit=50, per_url=4, busy={first[0].url: 4}
    )
    assert {c.url for c in saturated} == {u for u in {c.url for c in first} if u != first[0].url}
    # a URL with 3 of its 4 slots busy gets one more, not another four
    topped = _claim(
        qstore,
        how,
        "d",
        now=now + 11,
        lease_seconds=10,
        limit=50,
        per_url=4,
        busy={first[0].url: 3, "http://elsewhere/": 1},
    )
    assert Counter(c.url for c in topped)[first[0].url] == 1
    with qstore.db.write() as conn:
        release(conn, "d", [c.id for c in topped])
    # once a lease expires, the row is claimable again by someone else
    later = _claim(qstore, how, "c", now=now + 11, lease_seconds=10, limit=600, per_url=600)
    assert {c.id for c in first} <= {c.id for c in later}


def _open_circuit(store: Store, url: str, probe_in: float) -> None:
    with store.db.write() as conn:
        conn.execute(
            insert(endpoints).values(
                url=url,
                consecutive_failures=5,
                circuit_open=True,
                probe_after=store.clock.now() + probe_in,
            )
        )


def _leased(store: Store) -> Counter[str]:
    """Leased rows per URL."""
    with store.db.read() as conn:
        rows = conn.execute(
            select(deliveries.c.url).where(deliveries.c.lease_owner.is_not(None))
        ).scalars()
        return Counter(rows)


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_a_claim_statement_by_statement_leaves_a_due_probe_to_a_transaction(
    qstore: Store,
) -> None:
    """Without a transaction, a probe's lease and its next time could not commit
    together: ``claim_due_alone`` leases nothing when a candidate is a probe, and the
    transaction's claim takes exactly one probe."""
    url = "http://127.0.0.1:9/h"
    seed(qstore, url=url, urls=2)
    _open_circuit(qstore, f"{url}0", probe_in=-1)  # its probe is due
    now = qstore.clock.now()
    assert _alone(qstore, "a", now=now, lease_seconds=60, limit=50, per_url=4) is None
    assert _leased(qstore) == Counter()
    with qstore.db.write() as conn:
        got = claim_due(conn, "a", now=qstore.clock.now(), lease_seconds=60, limit=50, per_url=4)
    assert Counter((c.url, c.probe) for c in got) == {(f"{url}0", True): 1, (f"{url}1", False): 4}


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_a_claim_statement_by_statement_fails_rows_of_a_disabled_webhook(qstore: Store) -> None:
    seed(qstore, urls=2)
    with qstore.db.write() as conn:
        conn.execute(update(webhooks).values(enabled=False))
    got = _alone(qstore, "a", now=qstore.clock.now(), lease_seconds=60, limit=10, per_url=4)
    assert got == []
    assert _leased(qstore) == Counter()
    with qstore.db.read() as conn:
        failed = conn.execute(
            select(deliveries.c.last_error).where(deliveries.c.status == "failed")
        ).scalars()
        assert list(failed) == ["webhook is disabled or deleted"] * 8


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
@pytest.mark.parametrize("statistics", ["none yet", "analyzed"])
def test_a_claim_in_one_statement_leases_by_key_whatever_the_table_believes(
    qstore: Store, statistics: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The one-statement claim leases its candidates by primary key, whatever the
    statistics say: joined, or as an array from a subquery, the planner read every due
    row through the partial index instead (with no statistics yet, or with them)."""
    seed(qstore, urls=3)
    if statistics == "analyzed":
        with qstore.db.write() as conn:
            conn.execute(  # what a few days of deliveries leave behind
                text(
                    "INSERT INTO deliveries (event_uid, webhook_id, project_hash, stage_uuid,"
                    " event_type, url, status, attempts, retry_base, next_attempt_at,"
                    " created_at, completed_at) SELECT 'e0', 'w', 'p', 's',"
                    " 'task_submitted_event', 'http://127.0.0.1:9/h0', 'delivered', 1, 0,"
                    " :now, :now, :now FROM generate_series(1, 20000)"
                ),
                {"now": qstore.clock.now()},
            )
            conn.execute(text("ANALYZE deliveries"))
    seen: list[tuple[Prepared, dict[str, Any]]] = []
    rows_async = Prepared.rows_async

    async def capture(statement: Prepared, conn: Any, dialect: Any, values: Any) -> Any:
        seen.append((statement, values))
        return await rows_async(statement, conn, dialect, values)

    monkeypatch.setattr(Prepared, "rows_async", capture)
    got = _alone(qstore, "a", now=qstore.clock.now(), lease_seconds=60, limit=10, per_url=4)
    assert got is not None and len(got) == 10
    (statement, values), *_ = seen
    compiled = statement._plan_of(qstore.db.engine.dialect)
    lines = plan(qstore.db.engine, compiled.sql, compiled.params(values))
    # the rows to lease: every scan of deliveries under the UPDATE is by primary key
    leasing = lines[next(i for i, x in enumerate(lines) if "Update on deliveries" in x) :]
    scans = [x for x in leasing if " on deliveries" in x and "Scan" in x]
    assert scans, lines
    assert all("using pk_deliveries" in x for x in scans), "\n".join(leasing)


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_a_claim_waiting_on_the_database_leaves_the_loop_free(qstore: Store) -> None:
    """The dispatcher's loop sends and hears wake-ups while its claim is out: the
    statement is awaited, not waited for (run with the blocking driver on the loop, it
    held up every send; a thread hop per cycle cost a fifth of the worker's CPU)."""
    seed(qstore, urls=2)

    async def scenario() -> tuple[int, int]:
        db = qstore.db.async_statements()
        ticks = 0
        with qstore.db.engine.connect() as locker:  # the table locked for a second
            locker.execute(text("LOCK TABLE deliveries IN ACCESS EXCLUSIVE MODE"))
            unlock = threading.Timer(1.0, locker.rollback)
            unlock.start()
            try:
                claiming = asyncio.create_task(
                    claim_due_alone(
                        db, "a", now=qstore.clock.now(), lease_seconds=60, limit=10, per_url=4
                    )
                )
                for _ in range(25):  # a blocked loop would tick only once the lock is gone
                    await asyncio.sleep(0.01)
                    ticks += 1
                assert not claiming.done(), "the loop ticked while the claim waits on the lock"
                got = await asyncio.wait_for(claiming, timeout=10)
            finally:
                unlock.join(timeout=5)
                await db.close()
        assert got is not None
        return ticks, len(got)

    assert asyncio.run(scenario()) == (25, 8)


def _terminate(store: Store, pid: int) -> None:
    with store.db.engine.connect() as conn:
        conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid})
        conn.commit()


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_a_claim_whose_follow_up_fails_still_hands_over_the_rows_to_send(
    qstore: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The lease commits with the claim's statement; failing a disabled webhook's rows
    takes one more. Lost in between, the connection must not take the rows to send
    with it (they would sit leased, unsent, until the lease lapsed): they are returned,
    and the disabled webhook's rows are failed by a claim once their lease lapses."""
    seed(qstore, urls=2)
    with qstore.db.write() as conn:
        hook = conn.execute(select(webhooks)).mappings().one()
        conn.execute(insert(webhooks).values({**hook, "webhook_id": "off", "enabled": False}))
        ids = conn.execute(select(deliveries.c.id).order_by(deliveries.c.id)).scalars().all()
        conn.execute(
            update(deliveries).where(deliveries.c.id.in_(ids[::2])).values(webhook_id="off")
        )
    statements: list[Prepared] = []
    rows = AsyncStatements.rows

    async def losing_the_second(self: AsyncStatements, statement: Prepared, values: Any) -> Any:
        statements.append(statement)
        if len(statements) == 2:  # the lease is committed: the server drops us now
            assert self._conn is not None
            _terminate(qstore, self._conn.info.backend_pid)
        return await rows(self, statement, values)

    monkeypatch.setattr(AsyncStatements, "rows", losing_the_second)
    now = qstore.clock.now()
    got = _alone(qstore, "a", now=now, lease_seconds=60, limit=ROWS, per_url=ROWS)
    assert len(statements) == 2, "the follow-up ran, and failed"
    assert got is not None
    assert {c.webhook_id for c in got} == {"w"}
    assert len(got) == ROWS // 2, "every row to send is handed over"
    monkeypatch.setattr(AsyncStatements, "rows", rows)
    with qstore.db.write() as conn:  # the lease lapsed: the next claim fails them
        again = claim_due(conn, "b", now=now + 61, lease_seconds=60, limit=ROWS, per_url=ROWS)
    assert {c.webhook_id for c in again} == {"w"}
    with qstore.db.read() as conn:
        failed = conn.execute(
            select(func.count()).where(deliveries.c.status == "failed")
        ).scalar_one()
    assert failed == ROWS // 2


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_closed_statements_refuse_to_open_a_new_connection(qstore: Store) -> None:
    """A loop still running after its dispatcher's shutdown closed its connection gets an
    error, not a fresh connection nobody would close."""

    async def scenario() -> None:
        db = qstore.db.async_statements()
        assert await db.rows(Prepared.sql("SELECT 1"), {}) == [(1,)]
        await db.close()
        with pytest.raises(RuntimeError, match="closed"):
            await db.rows(Prepared.sql("SELECT 1"), {})

    asyncio.run(scenario())


def _attempt(
    c: Claimed, now: float, *, code: int, headers: dict[str, str] | None = None
) -> Recorded:
    """The first attempt at claimed row ``c``, answered ``code``: a 2xx is delivered,
    anything else is retried in 5 s."""
    ok = 200 <= code < 300
    return Recorded(
        delivery_id=c.id,
        webhook_id=c.webhook_id,
        url=c.url,
        attempt_no=1,
        started_at=now,
        duration_ms=1.0,
        status_code=code,
        error_class=None if ok else "http_status",
        error=None if ok else f"receiver answered HTTP {code}",
        response_excerpt="ok" if ok else "",
        request_headers=headers or {},
        success=ok,
        status=DeliveryStatus.DELIVERED if ok else DeliveryStatus.RETRYING,
        next_attempt_at=now if ok else now + 5,
        disable_reason=None,
    )


def test_record_writes_a_batch_of_mixed_results(qstore: Store) -> None:
    seed(qstore, urls=1)
    now = qstore.clock.now()
    with qstore.db.write() as conn:
        claimed = claim_due(conn, "a", now=now, lease_seconds=10, limit=10, per_url=10)
    results = [_attempt(c, now, code=200 if i % 2 else 500) for i, c in enumerate(claimed)]
    with qstore.db.write() as conn:
        record_attempts(
            conn, "a", results, now=now, failure_threshold=5, probe_interval=30, disable_after=9e9
        )
    with qstore.db.read() as conn:
        statuses = Counter(
            conn.execute(
                select(deliveries.c.status).where(deliveries.c.id.in_([c.id for c in claimed]))
            ).scalars()
        )
    assert statuses == {"delivered": 5, "retrying": 5}


def test_a_batch_of_successes_is_recorded_in_one_statement_on_postgresql(qstore: Store) -> None:
    """Attempts, delivered rows, healthy receivers and recovered webhooks: one statement
    on PostgreSQL (psycopg costs ~50 µs a statement), every row as before."""
    seed(qstore, urls=3)
    now = qstore.clock.now()
    with qstore.db.write() as conn:
        claimed = claim_due(conn, "a", now=now, lease_seconds=10, limit=6, per_url=10)
        conn.execute(update(webhooks).values(failing_since=now - 60))
        conn.execute(
            insert(endpoints).values(
                url=claimed[0].url, consecutive_failures=3, circuit_open=True, probe_after=now
            )
        )
    headers = {"webhook-id": "e0", "note": "Zoë ✓"}
    results = [_attempt(c, now, code=204, headers=headers) for c in claimed]
    seen: list[str] = []

    def capture(_c: Any, _cur: Any, statement: str, *_rest: Any) -> None:
        seen.append(statement)

    postgresql = qstore.db.engine.dialect.name == "postgresql"
    event.listen(qstore.db.engine, "before_cursor_execute", capture)
    try:
        # as the dispatcher records a batch of successes: a statement of its own
        with qstore.db.statements() if postgresql else qstore.db.write() as conn:
            record_attempts(
                conn,
                "a",
                results,
                now=now,
                failure_threshold=5,
                probe_interval=30,
                disable_after=9e9,
            )
    finally:
        event.remove(qstore.db.engine, "before_cursor_execute", capture)
    if postgresql:
        assert len(seen) == 1, seen
    ids = [c.id for c in claimed]
    with qstore.db.read() as conn:
        assert set(
            conn.execute(select(deliveries.c.status).where(deliveries.c.id.in_(ids))).scalars()
        ) == {"delivered"}
        logged = conn.execute(
            select(delivery_attempts.c.delivery_id, delivery_attempts.c.request_headers).where(
                delivery_attempts.c.delivery_id.in_(ids)
            )
        ).all()
        assert sorted(r.delivery_id for r in logged) == sorted(ids)
        assert all(r.request_headers == headers for r in logged)
        circuits = conn.execute(
            select(endpoints.c.url, endpoints.c.circuit_open, endpoints.c.consecutive_failures)
        ).all()
        assert {(r.url, bool(r.circuit_open), r.consecutive_failures) for r in circuits} == {
            (url, False, 0) for url in {c.url for c in claimed}
        }
        assert conn.execute(select(webhooks.c.failing_since)).scalar() is None


@pytest.mark.parametrize("backend", ["postgresql"], indirect=True)
def test_recording_finds_its_deliveries_by_key_whatever_the_table_size(qstore: Store) -> None:
    """The planner takes the batch's JSON rows for 100; against a table of a few
    thousand deliveries it then read the whole table to find a batch of 8 (2.3 ms at
    10,000 rows, growing with the table). The statement finds them by primary key, and
    the webhooks it may mark recovered by theirs."""
    seed(qstore, urls=1)
    now = qstore.clock.now()
    with qstore.db.write() as conn:
        claimed = claim_due(conn, "a", now=now, lease_seconds=10, limit=8, per_url=10)
        conn.execute(  # what a few days of deliveries leave behind
            text(
                "INSERT INTO deliveries (event_uid, webhook_id, project_hash, stage_uuid,"
                " event_type, url, status, attempts, retry_base, next_attempt_at, created_at,"
                " completed_at) SELECT 'e0', 'w', 'p', 's', 'task_submitted_event',"
                " 'http://127.0.0.1:9/h0', 'delivered', 1, 0, :now, :now, :now"
                " FROM generate_series(1, 5000)"
            ),
            {"now": now},
        )
        conn.execute(  # and a server with many webhooks
            text(
                "INSERT INTO webhooks (webhook_id, project_hash, stage_uuid, url, secret,"
                " enabled, created_at) SELECT 'w' || g, 'p', 's', 'http://127.0.0.1:9/x',"
                " 'x', true, :now FROM generate_series(1, 20000) AS g"
            ),
            {"now": now},
        )
    results = [_attempt(c, now, code=200) for c in claimed]
    with captured(qstore.db.engine, "WITH attempted AS") as seen, qstore.db.statements() as conn:
        record_attempts(
            conn, "a", results, now=now, failure_threshold=5, probe_interval=30, disable_after=9e9
        )
    assert len(seen) == 1
    lines = plan(qstore.db.engine, *seen[0])
    assert not [line for line in lines if "Seq Scan on deliveries" in line], lines
    assert any("pk_deliveries" in line for line in lines), lines
    # the webhooks that recovered (failing_since cleared) are found by key too
    assert not [line for line in lines if "Seq Scan on webhooks" in line], lines

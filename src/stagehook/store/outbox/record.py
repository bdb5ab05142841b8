"""Recording finished attempts: the attempt log, the delivery's new state, its health.

Hand-written statements run with executemany (see ``driver.py``): one statement per
kind of write for the whole batch, whatever its size.
"""

from __future__ import annotations

import json
from collections.abc import Sequence

from sqlalchemy import Connection

from stagehook.store.outbox import driver
from stagehook.store.outbox.health import record_health
from stagehook.store.outbox.records import DeliveryStatus, Recorded, due_condition

_INSERT_ATTEMPT = """
INSERT INTO delivery_attempts (delivery_id, attempt_no, started_at, duration_ms, status_code,
    error_class, error, response_excerpt, request_headers, worker)
VALUES (:delivery_id, :attempt_no, :started_at, :duration_ms, :status_code,
    :error_class, :error, :response_excerpt, :request_headers, :worker)
"""

# PostgreSQL: the same rows from arrays, one execution instead of one per row.
_PG_INSERT_ATTEMPTS = """
INSERT INTO delivery_attempts (delivery_id, attempt_no, started_at, duration_ms, status_code,
    error_class, error, response_excerpt, request_headers, worker)
SELECT a.*, :worker FROM unnest(:delivery_id::bigint[], :attempt_no::int[],
    :started_at::float8[], :duration_ms::float8[], :status_code::int[], :error_class::text[],
    :error::text[], :response_excerpt::text[], :request_headers::json[]) AS a
"""

# A 2xx is a fact even if our lease lapsed meanwhile: mark it delivered.
_DELIVERED = f"""
UPDATE deliveries SET status = '{DeliveryStatus.DELIVERED}', attempts = :attempts,
    completed_at = :now, lease_owner = NULL, lease_expires_at = NULL,
    last_status_code = :code, last_error = NULL
WHERE id = :id AND status != '{DeliveryStatus.DELIVERED}'
"""

_PG_DELIVERED = f"""
UPDATE deliveries d SET status = '{DeliveryStatus.DELIVERED}', attempts = v.attempts,
    completed_at = :now, lease_owner = NULL, lease_expires_at = NULL,
    last_status_code = v.code, last_error = NULL
FROM unnest(:id::bigint[], :attempts::int[], :code::int[]) AS v(id, attempts, code)
WHERE d.id = v.id AND d.status != '{DeliveryStatus.DELIVERED}'
"""

# A failure only counts while we still hold the lease; otherwise another worker owns the
# row now and its outcome wins.
_FAILED = f"""
UPDATE deliveries SET status = :status, attempts = :attempts, next_attempt_at = :next,
    completed_at = :completed, lease_owner = NULL, lease_expires_at = NULL,
    last_status_code = :code, last_error = :error
WHERE id = :id AND lease_owner = :worker AND {due_condition()}
"""


def record_attempts(
    conn: Connection,
    worker: str,
    results: Sequence[Recorded],
    *,
    now: float,
    failure_threshold: int,
    probe_interval: float,
    disable_after: float,
) -> None:
    """Write a batch of attempts, their deliveries, endpoint health and webhook state."""
    if not results:
        return
    attempts = [
        {
            "delivery_id": r.delivery_id,
            "attempt_no": r.attempt_no,
            "started_at": r.started_at,
            "duration_ms": r.duration_ms,
            "status_code": r.status_code,
            "error_class": r.error_class,
            "error": r.error,
            "response_excerpt": r.response_excerpt,
            "request_headers": json.dumps(r.request_headers),
            "worker": worker,
        }
        for r in results
    ]
    successes = [
        {"id": r.delivery_id, "attempts": r.attempt_no, "now": now, "code": r.status_code}
        for r in results
        if r.success
    ]
    if driver.is_postgresql(conn):
        driver.run(conn, _PG_INSERT_ATTEMPTS, driver.columns(attempts, worker=worker))
        if successes:
            driver.run(conn, _PG_DELIVERED, driver.columns(successes, now=now))
    else:
        driver.run(conn, _INSERT_ATTEMPT, attempts)
        if successes:
            driver.run(conn, _DELIVERED, successes)
    failures = [
        {
            "id": r.delivery_id,
            "worker": worker,
            "status": r.status,
            "attempts": r.attempt_no,
            "next": r.next_attempt_at,
            "completed": now if r.status == DeliveryStatus.FAILED else None,
            "code": r.status_code,
            "error": (r.error or "")[:1000] or None,
        }
        for r in results
        if not r.success
    ]
    if failures:
        driver.run(conn, _FAILED, failures)
    record_health(conn, results, now, failure_threshold, probe_interval, disable_after)

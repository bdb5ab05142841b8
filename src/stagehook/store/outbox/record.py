"""Recording finished attempts: the attempt log, the delivery's new state, its health.

Hand-written statements run as ``Prepared`` (store/prepared.py) on the driver's cursor:
one statement per kind of write for the whole batch, whatever its size (PostgreSQL: one
execution over arrays; SQLite: executemany).
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection

from stagehook.store.outbox.health import record_health
from stagehook.store.outbox.records import DeliveryStatus, Recorded, due_condition
from stagehook.store.prepared import Prepared

_INSERT_ATTEMPT = Prepared.sql(
    """
INSERT INTO delivery_attempts (delivery_id, attempt_no, started_at, duration_ms, status_code,
    error_class, error, response_excerpt, request_headers, worker)
VALUES (:delivery_id, :attempt_no, :started_at, :duration_ms, :status_code,
    :error_class, :error, :response_excerpt, :request_headers, :worker)
"""
)

# PostgreSQL: the same rows from arrays, one execution instead of one per row.
_PG_INSERT_ATTEMPTS = Prepared.sql(
    """
INSERT INTO delivery_attempts (delivery_id, attempt_no, started_at, duration_ms, status_code,
    error_class, error, response_excerpt, request_headers, worker)
SELECT a.*, :worker FROM unnest(CAST(:delivery_id AS bigint[]), CAST(:attempt_no AS int[]),
    CAST(:started_at AS float8[]), CAST(:duration_ms AS float8[]),
    CAST(:status_code AS int[]), CAST(:error_class AS text[]), CAST(:error AS text[]),
    CAST(:response_excerpt AS text[]), CAST(:request_headers AS json[])) AS a
"""
)

# A 2xx is a fact even if our lease lapsed meanwhile: mark it delivered.
_DELIVERED = Prepared.sql(
    f"""
UPDATE deliveries SET status = '{DeliveryStatus.DELIVERED}', attempts = :attempts,
    completed_at = :now, lease_owner = NULL, lease_expires_at = NULL,
    last_status_code = :code, last_error = NULL
WHERE id = :id AND status != '{DeliveryStatus.DELIVERED}'
"""
)

_PG_DELIVERED = Prepared.sql(
    f"""
UPDATE deliveries d SET status = '{DeliveryStatus.DELIVERED}', attempts = v.attempts,
    completed_at = :now, lease_owner = NULL, lease_expires_at = NULL,
    last_status_code = v.code, last_error = NULL
FROM unnest(CAST(:id AS bigint[]), CAST(:attempts AS int[]), CAST(:code AS int[]))
    AS v(id, attempts, code)
WHERE d.id = v.id AND d.status != '{DeliveryStatus.DELIVERED}'
"""
)

# A failure only counts while we still hold the lease; otherwise another worker owns the
# row now and its outcome wins.
_FAILED = Prepared.sql(
    f"""
UPDATE deliveries SET status = :status, attempts = :attempts, next_attempt_at = :next,
    completed_at = :completed, lease_owner = NULL, lease_expires_at = NULL,
    last_status_code = :code, last_error = :error
WHERE id = :id AND lease_owner = :worker AND {due_condition()}
"""
)


def _columns(rows: list[dict[str, Any]], **scalars: Any) -> dict[str, Any]:
    """Rows as one list per column (PostgreSQL ``unnest``); ``scalars`` are passed as is."""
    names = [name for name in rows[0] if name not in scalars] if rows else []
    return {**{name: [row[name] for row in rows] for name in names}, **scalars}


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
    if conn.dialect.name == "postgresql":
        _PG_INSERT_ATTEMPTS.run(conn, _columns(attempts, worker=worker))
        if successes:
            _PG_DELIVERED.run(conn, _columns(successes, now=now))
    else:
        _INSERT_ATTEMPT.run_many(conn, attempts)
        _DELIVERED.run_many(conn, successes)
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
    _FAILED.run_many(conn, failures)
    record_health(conn, results, now, failure_threshold, probe_interval, disable_after)

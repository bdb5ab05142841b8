"""Recording finished attempts: the attempt log, the delivery's new state, its health.

Hand-written statements run as ``Prepared`` (store/prepared.py) on the driver's cursor,
whatever the batch's size: on PostgreSQL one statement for the attempts, the delivered
rows and the healthy receivers (``WITH`` clauses over JSON parameters), on SQLite one
executemany per kind of write. Failures, rare, take a few statements more.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection

from stagehook.store.async_statements import AsyncStatements
from stagehook.store.outbox.health import (
    HEALTHY_CTES,
    Fold,
    fold,
    healthy_params,
    record_failing,
    record_health,
)
from stagehook.store.outbox.records import DeliveryStatus, Recorded, due_condition
from stagehook.store.prepared import Prepared, json_keys, json_param, json_rows

_INSERT_ATTEMPT = Prepared.sql(
    """
INSERT INTO delivery_attempts (delivery_id, attempt_no, started_at, duration_ms, status_code,
    error_class, error, response_excerpt, request_headers, worker)
VALUES (:delivery_id, :attempt_no, :started_at, :duration_ms, :status_code,
    :error_class, :error, :response_excerpt, :request_headers, :worker)
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

#: PostgreSQL: the attempts, the delivered rows and the healthy URLs and webhooks of a
#: batch in one statement, each ``WITH`` clause over one JSON parameter
#: (store/prepared.py ``json_rows``): psycopg costs ~50 µs of CPU a statement here.
_PG_ATTEMPT_COLUMNS = (
    ("delivery_id", "bigint"),
    ("attempt_no", "integer"),
    ("started_at", "float8"),
    ("duration_ms", "float8"),
    ("status_code", "integer"),
    ("error_class", "text"),
    ("error", "text"),
    ("response_excerpt", "text"),
    ("request_headers", "json"),
)
_PG_RECORD = Prepared.sql(
    "WITH attempted AS (INSERT INTO delivery_attempts ("
    + ", ".join(name for name, _ in _PG_ATTEMPT_COLUMNS)
    + ", worker) SELECT r.*, :worker FROM "
    + json_rows("attempted", _PG_ATTEMPT_COLUMNS)
    + f"""),
delivered AS (UPDATE deliveries d SET status = '{DeliveryStatus.DELIVERED}',
    attempts = r.attempts, completed_at = :now, lease_owner = NULL,
    lease_expires_at = NULL, last_status_code = r.code, last_error = NULL
  FROM {json_rows("delivered", [("id", "bigint"), ("attempts", "integer"), ("code", "integer")])}
  WHERE d.id = ANY({json_keys("delivered", "id", "bigint")}) AND d.id = r.id
    AND d.status != '{DeliveryStatus.DELIVERED}'),
"""
    + ",\n".join(HEALTHY_CTES)
    + "\nSELECT 1"
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
    attempts = _attempts(worker, results)
    successes = _successes(results, now)
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
    if conn.dialect.name == "postgresql":
        folded = fold(results)
        _PG_RECORD.run(conn, _pg_record_params(worker, now, attempts, successes, folded))
        _FAILED.run_many(conn, failures)
        record_failing(conn, folded, now, failure_threshold, probe_interval, disable_after)
        return
    _INSERT_ATTEMPT.run_many(
        conn, [{**a, "request_headers": json.dumps(a["request_headers"])} for a in attempts]
    )
    _DELIVERED.run_many(conn, successes)
    _FAILED.run_many(conn, failures)
    record_health(conn, results, now, failure_threshold, probe_interval, disable_after)


async def record_successes(
    db: AsyncStatements, worker: str, results: Sequence[Recorded], *, now: float
) -> None:
    """PostgreSQL, on the event loop (store/async_statements.py): a batch of successful
    attempts in one statement that is a transaction of its own, as ``record_attempts``
    writes it on a connection. A failure needs more statements, and a transaction."""
    if not all(r.success for r in results):
        raise ValueError("record_successes writes successes only (record_attempts: any)")
    if results:
        params = _pg_record_params(
            worker, now, _attempts(worker, results), _successes(results, now), fold(results)
        )
        await db.rows(_PG_RECORD, params)


def _attempts(worker: str, results: Sequence[Recorded]) -> list[dict[str, Any]]:
    return [
        {
            "delivery_id": r.delivery_id,
            "attempt_no": r.attempt_no,
            "started_at": r.started_at,
            "duration_ms": r.duration_ms,
            "status_code": r.status_code,
            "error_class": r.error_class,
            "error": r.error,
            "response_excerpt": r.response_excerpt,
            "request_headers": r.request_headers,
            "worker": worker,
        }
        for r in results
    ]


def _successes(results: Sequence[Recorded], now: float) -> list[dict[str, Any]]:
    return [
        {"id": r.delivery_id, "attempts": r.attempt_no, "now": now, "code": r.status_code}
        for r in results
        if r.success
    ]


def _pg_record_params(
    worker: str,
    now: float,
    attempts: list[dict[str, Any]],
    successes: list[dict[str, Any]],
    folded: Fold,
) -> dict[str, Any]:
    return {
        "worker": worker,
        "now": now,
        "attempted": json_param(attempts),
        "delivered": json_param(successes),
        **healthy_params(folded),
    }

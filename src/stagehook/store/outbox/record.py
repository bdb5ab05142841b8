"""Recording finished attempts: the attempt log, the delivery's new state, its health."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, bindparam, or_, update

from stagehook.store.outbox.health import record_health
from stagehook.store.outbox.records import DUE_STATUSES, DeliveryStatus, Recorded
from stagehook.store.tables import deliveries, delivery_attempts


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
    conn.execute(
        delivery_attempts.insert(),
        [
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
        ],
    )
    successes = [r for r in results if r.success]
    failures = [r for r in results if not r.success]
    if successes:
        # A 2xx is a fact even if our lease lapsed meanwhile: mark it delivered.
        conn.execute(
            update(deliveries)
            .where(
                deliveries.c.id == bindparam("b_id"),
                deliveries.c.status != DeliveryStatus.DELIVERED,
            )
            .values(
                status=DeliveryStatus.DELIVERED,
                attempts=bindparam("b_attempts"),
                completed_at=now,
                lease_owner=None,
                lease_expires_at=None,
                last_status_code=bindparam("b_code"),
                last_error=None,
            ),
            [
                {"b_id": r.delivery_id, "b_attempts": r.attempt_no, "b_code": r.status_code}
                for r in successes
            ],
        )
    if failures:
        # A failure only counts while we still hold the lease; otherwise another worker
        # owns the row now and its outcome wins.
        conn.execute(
            update(deliveries)
            .where(
                deliveries.c.id == bindparam("b_id"),
                deliveries.c.lease_owner == worker,
                # not ``in_``: expanding parameters cannot be used with executemany
                or_(*(deliveries.c.status == status for status in DUE_STATUSES)),
            )
            .values(
                status=bindparam("b_status"),
                attempts=bindparam("b_attempts"),
                next_attempt_at=bindparam("b_next"),
                completed_at=bindparam("b_completed"),
                lease_owner=None,
                lease_expires_at=None,
                last_status_code=bindparam("b_code"),
                last_error=bindparam("b_error"),
            ),
            [
                {
                    "b_id": r.delivery_id,
                    "b_status": r.status,
                    "b_attempts": r.attempt_no,
                    "b_next": r.next_attempt_at,
                    "b_completed": now if r.status == DeliveryStatus.FAILED else None,
                    "b_code": r.status_code,
                    "b_error": (r.error or "")[:1000] or None,
                }
                for r in failures
            ],
        )
    record_health(conn, results, now, failure_threshold, probe_interval, disable_after)

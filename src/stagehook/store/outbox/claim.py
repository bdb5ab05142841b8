"""Claiming due deliveries with a lease, releasing them, and when the next one is due.

This is our core, so it is hand-written SQL: the claim is procrastinate's shape
(``UPDATE ... WHERE id IN (SELECT ... ORDER BY ... LIMIT n FOR UPDATE SKIP LOCKED)
RETURNING``) on PostgreSQL; SQLite has a single writer, so the same statement without the
row locks is already exclusive. A row whose lease is live belongs to one worker only.

The claim runs in two steps inside one transaction: pick candidates (due, not leased,
circuit closed, at most ``per_url`` per URL) from the partial index, then lock and lease
those ids. Passing the ids as a list keeps the locking step a primary-key lookup whatever
the planner believes about table sizes (one combined statement measured 300 ms on a
fresh table of 5,000 due rows; the two steps take a few milliseconds).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from sqlalchemy import Connection, bindparam, select, text, update

from stagehook.store.outbox.records import Claimed, DeliveryStatus, due_condition
from stagehook.store.tables import deliveries, endpoints, events, webhooks

_CANDIDATES = """
SELECT id, url, rn FROM (
  SELECT c.id, c.url, row_number() OVER (PARTITION BY c.url ORDER BY c.next_attempt_at, c.id) AS rn
  FROM (
    SELECT d.id, d.url, d.next_attempt_at FROM deliveries d
    WHERE {due} AND d.next_attempt_at <= :now
      AND (d.lease_expires_at IS NULL OR d.lease_expires_at < :now)
      AND d.url NOT IN (
        SELECT e.url FROM endpoints e
        WHERE e.circuit_open AND (e.probe_after IS NULL OR e.probe_after > :now)
      )
      {not_saturated}
    ORDER BY d.next_attempt_at LIMIT :scan
  ) c
) ranked WHERE rn <= :per_url
"""

_CLAIM = """
UPDATE deliveries SET lease_owner = :worker, lease_expires_at = :lease_until
WHERE id IN (
  SELECT id FROM deliveries
  WHERE id IN :ids AND {due}
    AND (lease_expires_at IS NULL OR lease_expires_at < :now)
  ORDER BY next_attempt_at LIMIT :n
  {lock}
)
RETURNING id
"""


def claim_due(
    conn: Connection,
    worker: str,
    *,
    now: float,
    lease_seconds: float,
    limit: int,
    per_url: int,
    busy: Mapping[str, int] | None = None,
    probe_interval: float = 30.0,
) -> list[Claimed]:
    """Lease up to ``limit`` due deliveries, at most ``per_url`` per URL in flight.

    ``busy`` counts the caller's requests already in flight per URL, so the cap holds
    across claims, not just within one.

    URLs whose circuit is open yield one probe at a time: the first claimed row for such
    a URL is the probe and the rest are released again. Rows whose webhook is disabled or
    deleted are failed here, in the same transaction, and never returned.
    """
    is_pg = conn.dialect.name == "postgresql"
    busy = busy or {}
    saturated = [url for url, n in busy.items() if n >= per_url]
    pick = text(
        _CANDIDATES.format(
            due=due_condition("d.status"),
            not_saturated="AND d.url NOT IN :saturated" if saturated else "",
        )
    )
    params: dict[str, object] = {"now": now, "scan": limit * 4, "per_url": per_url}
    if saturated:
        pick = pick.bindparams(bindparam("saturated", expanding=True))
        params["saturated"] = list(saturated)
    candidates = [
        row.id for row in conn.execute(pick, params) if row.rn <= per_url - busy.get(row.url, 0)
    ]
    if not candidates:
        return []
    statement = text(
        _CLAIM.format(due=due_condition(), lock="FOR UPDATE SKIP LOCKED" if is_pg else "")
    ).bindparams(bindparam("ids", expanding=True))
    params = {
        "worker": worker,
        "lease_until": now + lease_seconds,
        "now": now,
        "n": limit,
        "ids": candidates,
    }
    ids = [row.id for row in conn.execute(statement, params)]
    if not ids:
        return []
    rows = conn.execute(
        select(
            deliveries.c.id,
            deliveries.c.event_uid,
            deliveries.c.event_type,
            deliveries.c.webhook_id,
            deliveries.c.url,
            deliveries.c.attempts,
            deliveries.c.retry_base,
            events.c.body,
            events.c.created_at,
            webhooks.c.secret,
            webhooks.c.previous_secret,
            webhooks.c.previous_secret_expires_at,
            webhooks.c.enabled,
            webhooks.c.deleted_at,
            endpoints.c.circuit_open,
        )
        .join(events, events.c.uid == deliveries.c.event_uid)
        .join(webhooks, webhooks.c.webhook_id == deliveries.c.webhook_id)
        .outerjoin(endpoints, endpoints.c.url == deliveries.c.url)
        .where(deliveries.c.id.in_(ids))
        .order_by(deliveries.c.next_attempt_at, deliveries.c.id)
    ).all()
    claimed: list[Claimed] = []
    probing: set[str] = set()
    released: list[int] = []
    stopped: list[int] = []
    for r in rows:
        if not r.enabled or r.deleted_at is not None:
            stopped.append(r.id)
            continue
        probe = bool(r.circuit_open)
        if probe:
            if r.url in probing:
                released.append(r.id)
                continue
            probing.add(r.url)
        secrets = [r.secret]
        if r.previous_secret and (r.previous_secret_expires_at or 0) > now:
            secrets.append(r.previous_secret)
        claimed.append(
            Claimed(
                id=r.id,
                event_uid=r.event_uid,
                event_type=r.event_type,
                webhook_id=r.webhook_id,
                url=r.url,
                body=bytes(r.body),
                secrets=tuple(secrets),
                attempts=r.attempts,
                retry_base=r.retry_base,
                created_at=r.created_at,
                probe=probe,
            )
        )
    if released:
        release(conn, worker, released)
    if stopped:
        _fail_stopped(conn, worker, stopped, now)
    if probing:
        conn.execute(
            update(endpoints)
            .where(endpoints.c.url.in_(probing))
            .values(probe_after=now + probe_interval)
        )
    return claimed


def release(conn: Connection, worker: str, ids: Sequence[int]) -> None:
    """Give leased rows back untouched, so any worker may take them at once."""
    if ids:
        conn.execute(
            update(deliveries)
            .where(deliveries.c.id.in_(list(ids)), deliveries.c.lease_owner == worker)
            .values(lease_owner=None, lease_expires_at=None)
        )


def _fail_stopped(conn: Connection, worker: str, ids: Sequence[int], now: float) -> None:
    """Deliveries of a disabled or deleted webhook stop here, failed and replayable."""
    conn.execute(
        update(deliveries)
        .where(deliveries.c.id.in_(list(ids)), deliveries.c.lease_owner == worker)
        .values(
            status=DeliveryStatus.FAILED,
            lease_owner=None,
            lease_expires_at=None,
            completed_at=now,
            last_error="webhook is disabled or deleted",
        )
    )


# The status condition is spelled as the partial index's (see ``due_condition``).
_NEXT_DUE = """
SELECT MIN(CASE WHEN e.circuit_open AND e.probe_after > s.at THEN e.probe_after ELSE s.at END)
FROM (
  SELECT d.url,
         CASE WHEN d.lease_expires_at >= :now AND d.lease_expires_at > d.next_attempt_at
              THEN d.lease_expires_at ELSE d.next_attempt_at END AS at
  FROM deliveries d
  WHERE {due}
  ORDER BY d.next_attempt_at LIMIT 500
) s LEFT JOIN endpoints e ON e.url = s.url
"""


def next_due(conn: Connection, now: float) -> float | None:
    """When a waiting delivery next becomes claimable (None when nothing waits).

    Leased rows count from their lease's end and rows behind an open circuit from the
    next probe, so a dispatcher never spins on work it cannot take.
    """
    value = conn.execute(
        text(_NEXT_DUE.format(due=due_condition("d.status"))), {"now": now}
    ).scalar()
    return float(value) if value is not None else None

"""The delivery log as users see it: list, inspect, retry, recover."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, func, select, update

from stagehook.errors import InvalidInput, NotFound
from stagehook.store.context import Store, decode_cursor, encode_cursor
from stagehook.store.outbox.records import DeliveryStatus
from stagehook.store.tables import deliveries, delivery_attempts, events, webhooks

_FIELDS = (
    "id",
    "event_uid",
    "event_type",
    "stage_uuid",
    "webhook_id",
    "url",
    "status",
    "attempts",
    "next_attempt_at",
    "created_at",
    "completed_at",
    "last_status_code",
    "last_error",
)


def _attempts(conn: Connection, ids: list[int]) -> dict[int, list[dict[str, Any]]]:
    by_delivery: dict[int, list[dict[str, Any]]] = {i: [] for i in ids}
    if not ids:
        return by_delivery
    rows = conn.execute(
        select(delivery_attempts)
        .where(delivery_attempts.c.delivery_id.in_(ids))
        .order_by(delivery_attempts.c.id)
    ).mappings()
    for r in rows:
        by_delivery[r["delivery_id"]].append(
            {k: v for k, v in r.items() if k not in ("id", "delivery_id")}
        )
    return by_delivery


def list_deliveries(
    store: Store,
    project_hash: str,
    *,
    stage_uuid: str | None = None,
    status: str | None = None,
    event_type: str | None = None,
    since: float | None = None,
    until: float | None = None,
    limit: int = 50,
    cursor: str | None = None,
) -> tuple[list[dict[str, Any]], str | None]:
    """Newest first, each with its attempts."""
    if status is not None and status not in {s.value for s in DeliveryStatus}:
        raise InvalidInput(f"status must be one of {', '.join(DeliveryStatus)}")
    before = decode_cursor(cursor)
    query = select(*(deliveries.c[f] for f in _FIELDS)).where(
        deliveries.c.project_hash == project_hash
    )
    if before:
        query = query.where(deliveries.c.id < before)
    if stage_uuid:
        query = query.where(deliveries.c.stage_uuid == stage_uuid)
    if status:
        query = query.where(deliveries.c.status == status)
    if event_type:
        query = query.where(deliveries.c.event_type == event_type)
    if since is not None:
        query = query.where(deliveries.c.created_at >= since)
    if until is not None:
        query = query.where(deliveries.c.created_at < until)
    with store.db.read() as conn:
        ordered = query.order_by(deliveries.c.id.desc()).limit(limit + 1)
        rows = [dict(r) for r in conn.execute(ordered).mappings()]
        page = rows[:limit]
        attempts = _attempts(conn, [r["id"] for r in page])
    for row in page:
        row["attempts_log"] = attempts[row["id"]]
    next_cursor = encode_cursor(page[-1]["id"]) if len(rows) > limit else None
    return page, next_cursor


def get_delivery(store: Store, project_hash: str, delivery_id: int) -> dict[str, Any]:
    """One delivery with its attempts and the exact body it sends."""
    with store.db.read() as conn:
        row = (
            conn.execute(
                select(*(deliveries.c[f] for f in _FIELDS), events.c.body)
                .join(events, events.c.uid == deliveries.c.event_uid)
                .where(deliveries.c.id == delivery_id, deliveries.c.project_hash == project_hash)
            )
            .mappings()
            .first()
        )
        if row is None:
            raise NotFound(f"delivery {delivery_id} does not exist in this project")
        data = dict(row)
        data["body"] = bytes(data["body"]).decode()
        data["attempts_log"] = _attempts(conn, [delivery_id])[delivery_id]
    return data


def _requeued(store: Store) -> dict[str, Any]:
    """Due now, with a fresh retry schedule, to the webhook's current URL."""
    return {
        "status": DeliveryStatus.RETRYING,
        "next_attempt_at": store.clock.now(),
        "retry_base": deliveries.c.attempts,
        "completed_at": None,
        # the webhook may have moved since (fix the URL, then retry)
        "url": select(webhooks.c.url)
        .where(webhooks.c.webhook_id == deliveries.c.webhook_id)
        .scalar_subquery(),
    }


def retry_delivery(store: Store, project_hash: str, delivery_id: int) -> dict[str, Any]:
    """Send again now with a fresh retry schedule; a delivered one is replayed (same uid)."""
    with store.db.write() as conn:
        result = conn.execute(
            update(deliveries)
            .where(deliveries.c.id == delivery_id, deliveries.c.project_hash == project_hash)
            .values(**_requeued(store))
        )
        if result.rowcount == 0:
            raise NotFound(f"delivery {delivery_id} does not exist in this project")
        store.db.notify(conn)
    return get_delivery(store, project_hash, delivery_id)


def requeue_failed(conn: Connection, store: Store, webhook_id: str, since: float) -> int:
    """Queue every failed delivery of a webhook created since ``since`` again."""
    result = conn.execute(
        update(deliveries)
        .where(
            deliveries.c.webhook_id == webhook_id,
            deliveries.c.status == DeliveryStatus.FAILED,
            deliveries.c.created_at >= since,
        )
        .values(**_requeued(store))
    )
    store.db.notify(conn)
    return int(result.rowcount or 0)


def count_by_status(conn: Connection) -> dict[DeliveryStatus, int]:
    """How many deliveries each status holds (every status, zero included)."""
    query = select(deliveries.c.status, func.count()).group_by(deliveries.c.status)
    counts: dict[str, int] = {status: n for status, n in conn.execute(query).all()}
    return {status: int(counts.get(status, 0)) for status in DeliveryStatus}

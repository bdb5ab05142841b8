"""Retention: old attempts and delivered events go; undelivered events never do."""

from __future__ import annotations

from sqlalchemy import and_, delete, exists, select

from stagehook.store.context import Store
from stagehook.store.outbox.records import DeliveryStatus
from stagehook.store.tables import deliveries, delivery_attempts, events


def purge(store: Store) -> tuple[int, int]:
    """Returns ``(attempts_deleted, events_deleted)``."""
    cutoff = store.clock.now() - store.settings.retention_days * 86400
    undelivered = exists().where(
        and_(
            deliveries.c.event_uid == events.c.uid, deliveries.c.status != DeliveryStatus.DELIVERED
        )
    )
    with store.db.write() as conn:
        old_events = select(events.c.uid).where(events.c.created_at < cutoff, ~undelivered)
        old_deliveries = select(deliveries.c.id).where(deliveries.c.event_uid.in_(old_events))
        attempts = conn.execute(
            delete(delivery_attempts).where(
                (delivery_attempts.c.started_at < cutoff)
                | delivery_attempts.c.delivery_id.in_(old_deliveries)
            )
        ).rowcount
        conn.execute(delete(deliveries).where(deliveries.c.event_uid.in_(old_events)))
        gone = conn.execute(
            delete(events).where(events.c.created_at < cutoff, ~undelivered)
        ).rowcount
    return int(attempts or 0), int(gone or 0)

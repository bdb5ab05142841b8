"""The transactional outbox: events and their deliveries, written with the transition."""

from __future__ import annotations

from collections.abc import Sequence

from sqlalchemy import Connection, insert, select

from stagehook.events import encode_event
from stagehook.store.context import Store
from stagehook.store.tables import deliveries, events, webhooks
from stagehook.workflow.tasks import EventIntent


def record_events(
    conn: Connection, store: Store, project_hash: str, intents: Sequence[EventIntent]
) -> list[str]:
    """Store each event's bytes once and one delivery per webhook; returns the uids.

    Runs inside the caller's transaction, so the events commit with the transition or
    not at all.
    """
    if not intents:
        return []
    now = store.clock.now()
    created = store.clock.utcnow()
    first_delay = store.settings.retry_schedule[0]
    uids: list[str] = []
    for intent in intents:
        uid, body = encode_event(
            event_type=intent.event_type,
            payload=dict(intent.payload),
            source=store.settings.event_source,
            created=created,
        )
        conn.execute(
            insert(events).values(
                uid=uid,
                project_hash=project_hash,
                stage_uuid=intent.stage_uuid,
                event_type=intent.event_type,
                body=body,
                created_at=now,
            )
        )
        hooks = conn.execute(
            select(webhooks).where(
                webhooks.c.project_hash == project_hash,
                webhooks.c.stage_uuid == intent.stage_uuid,
                webhooks.c.deleted_at.is_(None),
            )
        ).all()
        for hook in hooks:
            conn.execute(
                insert(deliveries).values(
                    event_uid=uid,
                    webhook_id=hook.webhook_id,
                    project_hash=project_hash,
                    stage_uuid=intent.stage_uuid,
                    event_type=intent.event_type,
                    url=hook.url,
                    status="pending" if hook.enabled else "failed",
                    attempts=0,
                    next_attempt_at=now + first_delay,
                    created_at=now,
                    last_error=None if hook.enabled else "webhook is disabled",
                )
            )
        uids.append(uid)
    store.db.notify(conn)
    return uids

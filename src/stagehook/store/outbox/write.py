"""Writing the outbox: events and their deliveries, in the transition's transaction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, bindparam, insert, select, update

from stagehook.events import encode_event
from stagehook.store.context import Store
from stagehook.store.outbox.records import DUE_STATUSES, DeliveryStatus
from stagehook.store.tables import deliveries, events, webhooks
from stagehook.workflow.task_machine import EventIntent

_HOOKS = select(webhooks).where(
    webhooks.c.project_hash == bindparam("project_hash"),
    webhooks.c.stage_uuid.in_(bindparam("stages", expanding=True)),
    webhooks.c.deleted_at.is_(None),
)


def write_events(
    conn: Connection, store: Store, project_hash: str, intents: Sequence[EventIntent]
) -> list[str]:
    """Store each event's bytes once and one delivery per webhook; returns the uids.

    Runs inside the caller's transaction, so the events commit with the transition or
    not at all. Rows go in with one executemany per table, so a bulk approve
    costs a handful of statements, not three per task.
    """
    if not intents:
        return []
    now = store.clock.now()
    created = store.clock.utcnow()
    first_attempt = now + store.settings.retry_schedule[0]
    stages = {intent.stage_uuid for intent in intents}
    hooks: dict[str, list[Any]] = {}
    for hook in conn.execute(_HOOKS, {"project_hash": project_hash, "stages": list(stages)}):
        hooks.setdefault(hook.stage_uuid, []).append(hook)
    event_rows: list[dict[str, Any]] = []
    delivery_rows: list[dict[str, Any]] = []
    for intent in intents:
        uid, body = encode_event(
            event_type=intent.event_type,
            payload=dict(intent.payload),
            source=store.settings.event_source,
            created=created,
        )
        event_rows.append(
            {
                "uid": uid,
                "project_hash": project_hash,
                "stage_uuid": intent.stage_uuid,
                "event_type": intent.event_type,
                "body": body,
                "created_at": now,
            }
        )
        for hook in hooks.get(intent.stage_uuid, []):
            delivery_rows.append(
                {
                    "event_uid": uid,
                    "webhook_id": hook.webhook_id,
                    "project_hash": project_hash,
                    "stage_uuid": intent.stage_uuid,
                    "event_type": intent.event_type,
                    "url": hook.url,
                    "status": DeliveryStatus.PENDING if hook.enabled else DeliveryStatus.FAILED,
                    "attempts": 0,
                    "retry_base": 0,
                    "next_attempt_at": first_attempt,
                    "created_at": now,
                    "completed_at": None if hook.enabled else now,
                    "last_error": None if hook.enabled else "webhook is disabled",
                }
            )
    # executemany: the statement compiles once per process, whatever the row count
    conn.execute(insert(events), event_rows)
    if delivery_rows:
        conn.execute(insert(deliveries), delivery_rows)
        store.db.notify(conn)
    return [row["uid"] for row in event_rows]


def readdress_undelivered(conn: Connection, webhook_id: str, url: str) -> None:
    """Undelivered events follow their webhook to its new address."""
    conn.execute(
        update(deliveries)
        .where(deliveries.c.webhook_id == webhook_id, deliveries.c.status.in_(DUE_STATUSES))
        .values(url=url)
    )

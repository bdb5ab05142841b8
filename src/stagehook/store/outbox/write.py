"""Writing the outbox: events and their deliveries, in the transition's transaction."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, NamedTuple

from sqlalchemy import Connection, bindparam, insert, select, update

from stagehook.events import encode_event
from stagehook.store.context import Store
from stagehook.store.outbox.records import DUE_STATUSES, DeliveryStatus
from stagehook.store.prepared import Prepared
from stagehook.store.tables import deliveries, events, webhooks
from stagehook.workflow.task_machine import EventIntent


class Hook(NamedTuple):
    """A live (not deleted) webhook as the outbox needs it."""

    stage_uuid: str
    webhook_id: str
    url: str
    enabled: bool


_HOOK_COLUMNS = (webhooks.c.stage_uuid, webhooks.c.webhook_id, webhooks.c.url, webhooks.c.enabled)
#: Every live hook of a project: read by whoever also needs the workflow (projects_read).
PROJECT_HOOKS = Prepared(
    select(*_HOOK_COLUMNS).where(
        webhooks.c.project_hash == bindparam("project_hash"), webhooks.c.deleted_at.is_(None)
    )
)
_HOOKS = select(*_HOOK_COLUMNS).where(
    webhooks.c.project_hash == bindparam("project_hash"),
    webhooks.c.stage_uuid.in_(bindparam("stages", expanding=True)),
    webhooks.c.deleted_at.is_(None),
)
#: Events of one stage (every single submit), prepared (store/prepared.py).
_STAGE_HOOKS = Prepared(
    select(*_HOOK_COLUMNS).where(
        webhooks.c.project_hash == bindparam("project_hash"),
        webhooks.c.stage_uuid == bindparam("stage"),
        webhooks.c.deleted_at.is_(None),
    )
)
_EVENT_COLUMNS = ("uid", "project_hash", "stage_uuid", "event_type", "body", "created_at")
_DELIVERY_COLUMNS = (
    "event_uid",
    "webhook_id",
    "project_hash",
    "stage_uuid",
    "event_type",
    "url",
    "status",
    "attempts",
    "retry_base",
    "next_attempt_at",
    "created_at",
    "completed_at",
    "last_error",
)
_INSERT_EVENTS = Prepared(insert(events).values({c: bindparam(c) for c in _EVENT_COLUMNS}))
_INSERT_DELIVERIES = Prepared(
    insert(deliveries).values({c: bindparam(c) for c in _DELIVERY_COLUMNS})
)


def write_events(
    conn: Connection,
    store: Store,
    project_hash: str,
    intents: Sequence[EventIntent],
    project_hooks: Sequence[Hook] | None = None,
) -> list[str]:
    """Store each event's bytes once and one delivery per webhook; returns the uids.

    Runs inside the caller's transaction, so the events commit with the transition or
    not at all. Rows go in with one executemany per table, so a bulk approve
    costs a handful of statements, not three per task. ``project_hooks``: every live
    hook of the project, read earlier in the same transaction (saves a read).
    """
    if not intents:
        return []
    now = store.clock.now()
    created = store.clock.utcnow()
    first_attempt = now + store.settings.retry_schedule[0]
    stages = {intent.stage_uuid for intent in intents}
    hooks: dict[str, list[Any]] = {}
    found: Sequence[Sequence[Any]]
    if project_hooks is not None:
        found = [h for h in project_hooks if h.stage_uuid in stages]
    elif len(stages) == 1:
        found = _STAGE_HOOKS.rows(conn, {"project_hash": project_hash, "stage": next(iter(stages))})
    else:
        found = conn.execute(_HOOKS, {"project_hash": project_hash, "stages": list(stages)}).all()
    for stage_uuid, webhook_id, url, enabled in found:
        hooks.setdefault(stage_uuid, []).append((webhook_id, url, bool(enabled)))
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
        for webhook_id, url, enabled in hooks.get(intent.stage_uuid, []):
            status = DeliveryStatus.PENDING if enabled else DeliveryStatus.FAILED
            delivery_rows.append(
                {
                    "event_uid": uid,
                    "webhook_id": webhook_id,
                    "project_hash": project_hash,
                    "stage_uuid": intent.stage_uuid,
                    "event_type": intent.event_type,
                    "url": url,
                    "status": status.value,
                    "attempts": 0,
                    "retry_base": 0,
                    "next_attempt_at": first_attempt,
                    "created_at": now,
                    "completed_at": None if enabled else now,
                    "last_error": None if enabled else "webhook is disabled",
                }
            )
    # one driver executemany per table, whatever the row count
    _INSERT_EVENTS.run_many(conn, event_rows)
    if delivery_rows:
        _INSERT_DELIVERIES.run_many(conn, delivery_rows)
        store.db.notify(conn)
    return [row["uid"] for row in event_rows]


def readdress_undelivered(conn: Connection, webhook_id: str, url: str) -> None:
    """Undelivered events follow their webhook to its new address."""
    conn.execute(
        update(deliveries)
        .where(deliveries.c.webhook_id == webhook_id, deliveries.c.status.in_(DUE_STATUSES))
        .values(url=url)
    )

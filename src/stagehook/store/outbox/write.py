"""Writing the outbox: events and their deliveries, in the transition's transaction."""

from __future__ import annotations

import base64
from collections.abc import Sequence
from typing import Any, NamedTuple

from sqlalchemy import Connection, bindparam, insert, select, update

from stagehook.events import encode_event
from stagehook.store.context import Store
from stagehook.store.outbox.records import DUE_STATUSES, DeliveryStatus
from stagehook.store.prepared import Prepared, json_param, json_rows
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


class OutboxRows(NamedTuple):
    """A transition's events and their deliveries, as the outbox tables store them."""

    events: list[dict[str, Any]]
    deliveries: list[dict[str, Any]]

    @property
    def uids(self) -> list[str]:
        return [row["uid"] for row in self.events]


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
    rows = outbox_rows(conn, store, project_hash, intents, project_hooks)
    insert_rows(conn, store, rows)
    return rows.uids


def outbox_rows(
    conn: Connection,
    store: Store,
    project_hash: str,
    intents: Sequence[EventIntent],
    project_hooks: Sequence[Hook] | None = None,
) -> OutboxRows:
    """Each event encoded once (the bytes every retry sends) and one delivery row per
    live webhook of its stage; nothing is written (``insert_rows`` or ``outbox_ctes``)."""
    if not intents:
        return OutboxRows([], [])
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
    return OutboxRows(event_rows, delivery_rows)


def insert_rows(conn: Connection, store: Store, rows: OutboxRows) -> None:
    """``rows`` in the caller's transaction: one driver executemany per table."""
    _INSERT_EVENTS.run_many(conn, rows.events)
    if rows.deliveries:
        _INSERT_DELIVERIES.run_many(conn, rows.deliveries)
        store.db.notify(conn)


_CTE_EVENT_COLUMNS = (
    ("item", "integer"),
    ("uid", "text"),
    ("project_hash", "text"),
    ("stage_uuid", "text"),
    ("event_type", "text"),
    ("body_b64", "text"),
    ("created_at", "float8"),
)
_COUNTERS = ("attempts", "retry_base")
_CTE_DELIVERY_COLUMNS = tuple(
    (name, "float8" if name.endswith("_at") else "integer" if name in _COUNTERS else "text")
    for name in _DELIVERY_COLUMNS
)


def outbox_ctes(kept: str) -> tuple[str, str]:
    """``OutboxRows`` of several requests as parts of one PostgreSQL statement
    (store/tasks.py writes the transitions of several requests in one): ``INSERT``s in
    ``WITH`` clauses, each over one JSON parameter (store/prepared.py ``json_rows``).
    The events of the requests whose ``item`` ``kept`` holds for (a condition on
    ``r.item``) are written, and the deliveries of those events. ``cte_params`` gives
    their values."""
    return (
        f"outbox_events AS (INSERT INTO events ({', '.join(_EVENT_COLUMNS)}) "
        "SELECT r.uid, r.project_hash, r.stage_uuid, r.event_type, decode(r.body_b64, 'base64'), "
        f"r.created_at FROM {json_rows('outbox_events', _CTE_EVENT_COLUMNS)} WHERE {kept} "
        "RETURNING uid)",
        f"outbox_deliveries AS (INSERT INTO deliveries ({', '.join(_DELIVERY_COLUMNS)}) "
        f"SELECT * FROM {json_rows('outbox_deliveries', _CTE_DELIVERY_COLUMNS)} "
        "WHERE r.event_uid IN (SELECT uid FROM outbox_events))",
    )


def cte_params(items: Sequence[tuple[int, OutboxRows]]) -> dict[str, str]:
    """The values of ``outbox_ctes``: each request's rows with its item."""
    events_ = [
        {
            "item": item,
            **{k: v for k, v in row.items() if k != "body"},
            "body_b64": _b64(row["body"]),
        }
        for item, rows in items
        for row in rows.events
    ]
    return {
        "outbox_events": json_param(events_),
        "outbox_deliveries": json_param([d for _, rows in items for d in rows.deliveries]),
    }


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def readdress_undelivered(conn: Connection, webhook_id: str, url: str) -> None:
    """Undelivered events follow their webhook to its new address."""
    conn.execute(
        update(deliveries)
        .where(deliveries.c.webhook_id == webhook_id, deliveries.c.status.in_(DUE_STATUSES))
        .values(url=url)
    )

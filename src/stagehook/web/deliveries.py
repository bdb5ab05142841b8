"""The delivery log: filter, inspect attempts, retry, recover, and webhook health."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import Form, Query, Request, Response

from stagehook.api.routes.deliveries import DeliveryId
from stagehook.events import EVENT_TYPES
from stagehook.store import projects, webhooks
from stagehook.store.access import MANAGER_ROLES, require_manager, require_project_role
from stagehook.store.outbox import log
from stagehook.store.outbox.records import DUE_STATUSES, DeliveryStatus
from stagehook.web.common import (
    StoreDep,
    WebUser,
    back,
    flash,
    parse_utc,
    render,
    same_site_path,
    web_router,
)
from stagehook.workflow.stages import WEBHOOK_STAGE_TYPES

router = web_router()

PAGE = 50
#: While anything is still on its way, the pages reload themselves this often (ms).
REFRESH_MS = 2000
Filter = Annotated[str, Query(max_length=64)]


def _titles(project: dict[str, Any]) -> dict[str, str]:
    return {s["uuid"]: s["title"] for s in project["workflow"]["stages"]}


def _in_flight(rows: list[dict[str, Any]]) -> bool:
    return any(r["status"] in DUE_STATUSES for r in rows)


@router.get("/projects/{project_hash}/deliveries")
def deliveries_page(
    request: Request,
    project_hash: str,
    store: StoreDep,
    user: WebUser,
    stage: Filter = "",
    status: Filter = "",
    event_type: Filter = "",
    since: Filter = "",
    until: Filter = "",
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    role = require_project_role(store, user, project_hash)
    project = projects.get_project(store, project_hash)
    page, next_cursor = log.list_deliveries(
        store,
        project_hash,
        stage_uuid=stage or None,
        status=status or None,
        event_type=event_type or None,
        since=parse_utc(since, "since"),
        until=parse_utc(until, "until"),
        limit=PAGE,
        cursor=cursor,
    )
    manager = role in MANAGER_ROLES
    health = webhooks.list_project_webhooks(store, project_hash) if manager else []
    query = {"stage": stage, "status": status, "event_type": event_type}
    query.update(since=since, until=until)
    return render(
        request,
        "deliveries.html",
        project=project,
        titles=_titles(project),
        deliveries=page,
        next_cursor=next_cursor,
        health=health,
        manager=manager,
        filters=query,
        statuses=[s.value for s in DeliveryStatus],
        event_types=EVENT_TYPES,
        hook_stages=[
            s for s in project["workflow"]["stages"] if s["stage_type"] in WEBHOOK_STAGE_TYPES
        ],
        day_ago=datetime.fromtimestamp(store.clock.now() - 86400, UTC).strftime("%Y-%m-%dT%H:%M"),
        refresh=REFRESH_MS if _in_flight(page) else None,
    )


@router.get("/projects/{project_hash}/deliveries/{delivery_id}")
def delivery_page(
    request: Request, project_hash: str, delivery_id: DeliveryId, store: StoreDep, user: WebUser
) -> Response:
    role = require_project_role(store, user, project_hash)
    project = projects.get_project(store, project_hash)
    delivery = log.get_delivery(store, project_hash, delivery_id)
    try:
        pretty = json.dumps(json.loads(delivery["body"]), indent=2)
    except ValueError:
        pretty = None
    return render(
        request,
        "delivery.html",
        project=project,
        titles=_titles(project),
        d=delivery,
        body_bytes=len(delivery["body"].encode()),
        pretty=pretty,
        manager=role in MANAGER_ROLES,
        refresh=REFRESH_MS if _in_flight([delivery]) else None,
    )


@router.post("/projects/{project_hash}/deliveries/{delivery_id}/retry")
def retry(
    request: Request,
    project_hash: str,
    delivery_id: DeliveryId,
    store: StoreDep,
    user: WebUser,
    return_to: Annotated[str, Form(max_length=2048)] = "",
) -> Response:
    require_manager(require_project_role(store, user, project_hash))
    log.retry_delivery(store, project_hash, delivery_id)
    flash(request, f"Delivery {delivery_id} is queued to be sent again now.")
    return back(same_site_path(return_to, f"/projects/{project_hash}/deliveries/{delivery_id}"))

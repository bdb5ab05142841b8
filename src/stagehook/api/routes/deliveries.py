"""The delivery log: list, inspect, retry."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query

from stagehook.api.deps import Cursor, Limit, ManagerRole, ProjectRole, StoreDep
from stagehook.api.openapi import DocumentedRoute
from stagehook.api.public import DeliveriesPage, DeliveryDetailPublic
from stagehook.api.schemas import epoch
from stagehook.events import EVENT_TYPES
from stagehook.store.context import MAX_ID
from stagehook.store.outbox import log
from stagehook.store.outbox.records import DeliveryStatus

router = APIRouter(
    prefix="/projects/{project_hash}", tags=["deliveries"], route_class=DocumentedRoute
)

DeliveryId = Annotated[int, Path(ge=1, le=MAX_ID)]
EventType = Annotated[str | None, Query(pattern=f"^({'|'.join(EVENT_TYPES)})$")]


@router.get("/deliveries", response_model=DeliveriesPage)
def list_deliveries(
    project_hash: str,
    store: StoreDep,
    _: ProjectRole,
    stage_uuid: Annotated[str | None, Query(max_length=64)] = None,
    status: DeliveryStatus | None = None,
    event_type: EventType = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> dict[str, Any]:
    page, next_cursor = log.list_deliveries(
        store,
        project_hash,
        stage_uuid=stage_uuid,
        status=status,
        event_type=event_type,
        since=epoch(since) if since else None,
        until=epoch(until) if until else None,
        limit=limit,
        cursor=cursor,
    )
    return {"deliveries": page, "next_cursor": next_cursor}


@router.get("/deliveries/{delivery_id}", response_model=DeliveryDetailPublic)
def get_delivery(
    project_hash: str, delivery_id: DeliveryId, store: StoreDep, _: ProjectRole
) -> dict[str, Any]:
    return log.get_delivery(store, project_hash, delivery_id)


@router.post("/deliveries/{delivery_id}/retry", response_model=DeliveryDetailPublic)
def retry_delivery(
    project_hash: str, delivery_id: DeliveryId, store: StoreDep, _: ManagerRole
) -> dict[str, Any]:
    return log.retry_delivery(store, project_hash, delivery_id)

"""The delivery log and its controls: list, inspect, retry, recover, test."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any

from fastapi import APIRouter, Path, Query
from pydantic import BaseModel, ConfigDict

from stagehook.api.deps import Cursor, Limit, ManagerRole, ProjectRole, StoreDep
from stagehook.delivery.testsend import send_test_event
from stagehook.store import deliveries
from stagehook.store.context import MAX_ID
from stagehook.store.deliveries import STATUSES

router = APIRouter(prefix="/projects/{project_hash}", tags=["deliveries"])

_WEBHOOK = "/workflow/stages/{stage_uuid}/webhook"
DeliveryId = Annotated[int, Path(ge=1, le=MAX_ID)]


class RecoverIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    since: datetime


def _epoch(moment: datetime | None) -> float | None:
    if moment is None:
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.timestamp()


@router.get("/deliveries")
def list_deliveries(
    project_hash: str,
    store: StoreDep,
    _: ProjectRole,
    stage_uuid: Annotated[str | None, Query(max_length=64)] = None,
    status: Annotated[str | None, Query(pattern="^(" + "|".join(STATUSES) + ")$")] = None,
    event_type: Annotated[
        str | None, Query(pattern="^(task_submitted_event|task_completed_event)$")
    ] = None,
    since: datetime | None = None,
    until: datetime | None = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> dict[str, Any]:
    page, next_cursor = deliveries.list_deliveries(
        store,
        project_hash,
        stage_uuid=stage_uuid,
        status=status,
        event_type=event_type,
        since=_epoch(since),
        until=_epoch(until),
        limit=limit,
        cursor=cursor,
    )
    return {"deliveries": page, "next_cursor": next_cursor}


@router.get("/deliveries/{delivery_id}")
def get_delivery(
    project_hash: str, delivery_id: DeliveryId, store: StoreDep, _: ProjectRole
) -> dict[str, Any]:
    return deliveries.get_delivery(store, project_hash, delivery_id)


@router.post("/deliveries/{delivery_id}/retry")
def retry_delivery(
    project_hash: str, delivery_id: DeliveryId, store: StoreDep, _: ManagerRole
) -> dict[str, Any]:
    return deliveries.retry_delivery(store, project_hash, delivery_id)


@router.post(_WEBHOOK + "/recover")
def recover_failed(
    project_hash: str, stage_uuid: str, body: RecoverIn, store: StoreDep, _: ManagerRole
) -> dict[str, Any]:
    since = _epoch(body.since)
    assert since is not None
    count = deliveries.recover_failed(store, project_hash, stage_uuid, since)
    return {"requeued": count}


@router.post(_WEBHOOK + "/test")
async def test_webhook(
    project_hash: str, stage_uuid: str, store: StoreDep, _: ManagerRole
) -> dict[str, Any]:
    return await send_test_event(store, project_hash, stage_uuid)

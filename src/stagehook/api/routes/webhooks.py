"""Stage webhooks: URL, signing secret, enabled state, recovery and a test send."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from stagehook.api.deps import ManagerRole, StoreDep
from stagehook.api.openapi import DocumentedRoute
from stagehook.api.public import (
    RequeuedPublic,
    WebhookPublic,
    WebhooksPublic,
    WebhookTestPublic,
)
from stagehook.api.schemas import RecoverIn, WebhookPut, epoch
from stagehook.delivery.testsend import send_test_event
from stagehook.store import webhooks

router = APIRouter(
    prefix="/projects/{project_hash}", tags=["webhooks"], route_class=DocumentedRoute
)

_WEBHOOK = "/workflow/stages/{stage_uuid}/webhook"


@router.get("/webhooks", response_model=WebhooksPublic)
def list_webhooks(project_hash: str, store: StoreDep, _: ManagerRole) -> dict[str, Any]:
    return {"webhooks": webhooks.list_project_webhooks(store, project_hash)}


@router.put(_WEBHOOK, response_model=WebhookPublic)
def put_webhook(
    project_hash: str, stage_uuid: str, body: WebhookPut, store: StoreDep, _: ManagerRole
) -> dict[str, Any]:
    return webhooks.set_stage_webhook(store, project_hash, stage_uuid, body.url)


@router.get(_WEBHOOK, response_model=WebhookPublic)
def get_webhook(
    project_hash: str, stage_uuid: str, store: StoreDep, _: ManagerRole
) -> dict[str, Any]:
    return webhooks.get_stage_webhook(store, project_hash, stage_uuid)


@router.delete(_WEBHOOK, status_code=204)
def delete_webhook(project_hash: str, stage_uuid: str, store: StoreDep, _: ManagerRole) -> Response:
    webhooks.delete_stage_webhook(store, project_hash, stage_uuid)
    return Response(status_code=204)


@router.post(_WEBHOOK + "/rotate-secret", response_model=WebhookPublic)
def rotate_secret(
    project_hash: str, stage_uuid: str, store: StoreDep, _: ManagerRole
) -> dict[str, Any]:
    return webhooks.rotate_secret(store, project_hash, stage_uuid)


@router.post(_WEBHOOK + "/enable", response_model=WebhookPublic)
def enable_webhook(
    project_hash: str, stage_uuid: str, store: StoreDep, _: ManagerRole
) -> dict[str, Any]:
    return webhooks.set_enabled(store, project_hash, stage_uuid, True)


@router.post(_WEBHOOK + "/disable", response_model=WebhookPublic)
def disable_webhook(
    project_hash: str, stage_uuid: str, store: StoreDep, _: ManagerRole
) -> dict[str, Any]:
    return webhooks.set_enabled(store, project_hash, stage_uuid, False)


@router.post(_WEBHOOK + "/recover", response_model=RequeuedPublic)
def recover_failed(
    project_hash: str, stage_uuid: str, body: RecoverIn, store: StoreDep, _: ManagerRole
) -> dict[str, Any]:
    count = webhooks.recover_failed(store, project_hash, stage_uuid, epoch(body.since))
    return {"requeued": count}


@router.post(_WEBHOOK + "/test", response_model=WebhookTestPublic)
async def test_webhook(
    project_hash: str, stage_uuid: str, store: StoreDep, _: ManagerRole
) -> dict[str, Any]:
    return await send_test_event(store, project_hash, stage_uuid)

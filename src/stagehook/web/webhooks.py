"""A stage's webhook controls: URL check, secret, test send, enable, recover."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Form, Request, Response

from stagehook.api.schemas import WebhookPut
from stagehook.delivery.testsend import send_test_event
from stagehook.errors import InvalidInput, StagehookError
from stagehook.store import webhooks
from stagehook.store.access import require_manager, require_project_role
from stagehook.web.common import StoreDep, WebUser, back, flash, parse_utc, web_router
from stagehook.web.editor import Json
from stagehook.webhook_targets import validate_webhook_url

router = web_router()


@router.post("/ui/webhook-url")
def check_webhook_url(body: WebhookPut, _: WebUser) -> Json:
    """The same shape check saving does; nothing is stored."""
    return {"url": validate_webhook_url(body.url)}


@router.post("/projects/{project_hash}/stages/{stage_uuid}/webhook/secret")
def reveal_secret(project_hash: str, stage_uuid: str, store: StoreDep, user: WebUser) -> Json:
    require_manager(require_project_role(store, user, project_hash))
    hook = webhooks.get_stage_webhook(store, project_hash, stage_uuid)
    return {"url": hook["url"], "signing_secret": hook["signing_secret"]}


@router.post("/projects/{project_hash}/stages/{stage_uuid}/webhook/rotate")
def rotate_secret(project_hash: str, stage_uuid: str, store: StoreDep, user: WebUser) -> Json:
    require_manager(require_project_role(store, user, project_hash))
    hook = webhooks.rotate_secret(store, project_hash, stage_uuid)
    return {"url": hook["url"], "signing_secret": hook["signing_secret"]}


@router.post("/projects/{project_hash}/stages/{stage_uuid}/webhook/test")
async def test_send(
    project_hash: str, stage_uuid: str, store: StoreDep, user: WebUser
) -> dict[str, Any]:
    """One signed attempt, answered here; it is not stored and never retried."""
    require_manager(require_project_role(store, user, project_hash))
    return await send_test_event(store, project_hash, stage_uuid)


@router.post("/projects/{project_hash}/stages/{stage_uuid}/webhook/recover")
def recover(
    request: Request,
    project_hash: str,
    stage_uuid: str,
    store: StoreDep,
    user: WebUser,
    since: Annotated[str, Form(max_length=64)],
) -> Response:
    require_manager(require_project_role(store, user, project_hash))
    try:
        moment = parse_utc(since, "since")
        if moment is None:
            raise InvalidInput("choose the time to recover failed deliveries from")
        count = webhooks.recover_failed(store, project_hash, stage_uuid, moment)
    except StagehookError as exc:
        flash(request, exc.message, "error")
    else:
        flash(request, f"{count} failed deliveries queued to be sent again.")
    return back(f"/projects/{project_hash}/deliveries")


@router.post("/projects/{project_hash}/stages/{stage_uuid}/webhook/enabled")
def set_enabled(
    request: Request,
    project_hash: str,
    stage_uuid: str,
    store: StoreDep,
    user: WebUser,
    enabled: Annotated[str, Form(pattern="^(on|off)$")],
) -> Response:
    require_manager(require_project_role(store, user, project_hash))
    webhooks.set_enabled(store, project_hash, stage_uuid, enabled == "on")
    flash(
        request,
        "Webhook enabled. Use “Recover failed since” to resend what failed meanwhile."
        if enabled == "on"
        else "Webhook disabled: its new events are logged as failed until it is enabled.",
    )
    return back(f"/projects/{project_hash}/deliveries")

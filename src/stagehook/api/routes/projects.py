"""Projects, their live workflow and stage webhooks."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from stagehook.api.deps import CurrentUser, Cursor, Limit, ManagerRole, ProjectRole, StoreDep
from stagehook.api.schemas import ProjectCreate, SaveAsTemplate, WebhookPut
from stagehook.store import projects
from stagehook.store import webhooks as hooks
from stagehook.workflow.stages import Workflow

router = APIRouter(prefix="/projects", tags=["projects"])


@router.post("", status_code=201)
def create_project(body: ProjectCreate, store: StoreDep, user: CurrentUser) -> dict[str, Any]:
    return projects.create_project(
        store,
        user,
        body.title,
        body.dataset_hashes,
        body.workflow,
        body.workflow_template_hash,
    )


@router.get("")
def list_projects(
    store: StoreDep, user: CurrentUser, limit: Limit = 50, cursor: Cursor = None
) -> dict[str, Any]:
    page, next_cursor = projects.list_projects(store, user, limit, cursor)
    return {"projects": page, "next_cursor": next_cursor}


@router.get("/{project_hash}")
def get_project(project_hash: str, store: StoreDep, role: ProjectRole) -> dict[str, Any]:
    data = projects.get_project(store, project_hash)
    data["your_role"] = role.value
    return data


@router.get("/{project_hash}/workflow")
def get_workflow(project_hash: str, store: StoreDep, _: ProjectRole) -> dict[str, Any]:
    return projects.get_workflow(store, project_hash)


@router.put("/{project_hash}/workflow")
def put_workflow(
    project_hash: str, body: Workflow, store: StoreDep, _: ManagerRole
) -> dict[str, Any]:
    return projects.put_workflow(store, project_hash, body)


@router.post("/{project_hash}/workflow/save-as-template", status_code=201)
def save_as_template(
    project_hash: str, body: SaveAsTemplate, store: StoreDep, _: ManagerRole
) -> dict[str, Any]:
    row = projects.save_as_template(
        store, project_hash, body.title, keep_webhooks=body.keep_webhooks
    )
    return {k: v for k, v in row.items() if k != "seq"}


@router.get("/{project_hash}/webhooks")
def list_webhooks(project_hash: str, store: StoreDep, _: ManagerRole) -> dict[str, Any]:
    return {"webhooks": hooks.list_project_webhooks(store, project_hash)}


_WEBHOOK = "/{project_hash}/workflow/stages/{stage_uuid}/webhook"


@router.put(_WEBHOOK)
def put_webhook(
    project_hash: str, stage_uuid: str, body: WebhookPut, store: StoreDep, _: ManagerRole
) -> dict[str, Any]:
    return hooks.set_stage_webhook(store, project_hash, stage_uuid, body.url)


@router.get(_WEBHOOK)
def get_webhook(
    project_hash: str, stage_uuid: str, store: StoreDep, _: ManagerRole
) -> dict[str, Any]:
    return hooks.get_stage_webhook(store, project_hash, stage_uuid)


@router.delete(_WEBHOOK, status_code=204)
def delete_webhook(project_hash: str, stage_uuid: str, store: StoreDep, _: ManagerRole) -> Response:
    hooks.delete_stage_webhook(store, project_hash, stage_uuid)
    return Response(status_code=204)


@router.post(_WEBHOOK + "/rotate-secret")
def rotate_secret(
    project_hash: str, stage_uuid: str, store: StoreDep, _: ManagerRole
) -> dict[str, Any]:
    return hooks.rotate_secret(store, project_hash, stage_uuid)


@router.post(_WEBHOOK + "/enable")
def enable_webhook(
    project_hash: str, stage_uuid: str, store: StoreDep, _: ManagerRole
) -> dict[str, Any]:
    return hooks.set_enabled(store, project_hash, stage_uuid, True)


@router.post(_WEBHOOK + "/disable")
def disable_webhook(
    project_hash: str, stage_uuid: str, store: StoreDep, _: ManagerRole
) -> dict[str, Any]:
    return hooks.set_enabled(store, project_hash, stage_uuid, False)

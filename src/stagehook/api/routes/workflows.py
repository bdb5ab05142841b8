"""A project's live workflow: read it, edit it, save it as a template."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from stagehook.api.deps import ManagerRole, ProjectRole, StoreDep
from stagehook.api.errors import error_responses
from stagehook.api.openapi import DocumentedRoute
from stagehook.api.public import WorkflowTemplatePublic
from stagehook.api.schemas import SaveAsTemplate
from stagehook.store import projects
from stagehook.workflow.stages import Workflow

router = APIRouter(
    prefix="/projects/{project_hash}/workflow", tags=["workflows"], route_class=DocumentedRoute
)


@router.get("", response_model=Workflow)
def get_workflow(project_hash: str, store: StoreDep, _: ProjectRole) -> dict[str, Any]:
    return projects.get_workflow(store, project_hash)


@router.put(
    "",
    response_model=Workflow,
    responses=error_responses(409),
)
def put_workflow(
    project_hash: str, body: Workflow, store: StoreDep, _: ManagerRole
) -> dict[str, Any]:
    return projects.put_workflow(store, project_hash, body)


@router.post(
    "/save-as-template",
    status_code=201,
    response_model=WorkflowTemplatePublic,
)
def save_as_template(
    project_hash: str, body: SaveAsTemplate, store: StoreDep, _: ManagerRole
) -> dict[str, Any]:
    return projects.save_as_template(
        store, project_hash, body.title, keep_webhooks=body.keep_webhooks
    )

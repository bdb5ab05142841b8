"""Reusable workflow templates."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from stagehook.api.deps import AdminUser, CurrentUser, Cursor, Limit, StoreDep
from stagehook.api.openapi import DocumentedRoute
from stagehook.api.public import WorkflowTemplatePublic, WorkflowTemplatesPage
from stagehook.api.schemas import TemplateCreate, TemplateUpdate
from stagehook.store import workflow_templates

router = APIRouter(
    prefix="/workflow-templates", tags=["workflow templates"], route_class=DocumentedRoute
)


@router.post("", status_code=201, response_model=WorkflowTemplatePublic)
def create_template(body: TemplateCreate, store: StoreDep, _: CurrentUser) -> dict[str, Any]:
    return workflow_templates.create_template(store, body.title, body.workflow, body.ontology_hash)


@router.get("", response_model=WorkflowTemplatesPage)
def list_templates(
    store: StoreDep, _: CurrentUser, limit: Limit = 50, cursor: Cursor = None
) -> dict[str, Any]:
    page, next_cursor = workflow_templates.list_templates(store, limit, cursor)
    return {"workflow_templates": page, "next_cursor": next_cursor}


@router.get("/{template_hash}", response_model=WorkflowTemplatePublic)
def get_template(template_hash: str, store: StoreDep, _: CurrentUser) -> dict[str, Any]:
    return workflow_templates.get_template(store, template_hash)


@router.put("/{template_hash}", response_model=WorkflowTemplatePublic)
def update_template(
    template_hash: str, body: TemplateUpdate, store: StoreDep, _: AdminUser
) -> dict[str, Any]:
    """Replace the title, the workflow and the ontology; projects made from it keep theirs.

    Admins only, like delete: every user starts projects from the shared templates, so
    anyone else saves changes as a new template."""
    return workflow_templates.update_template(
        store, template_hash, body.title, body.workflow, body.ontology_hash
    )


@router.delete("/{template_hash}", status_code=204)
def delete_template(template_hash: str, store: StoreDep, _: AdminUser) -> Response:
    workflow_templates.delete_template(store, template_hash)
    return Response(status_code=204)

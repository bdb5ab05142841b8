"""Reusable workflow templates."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Response

from stagehook.api.deps import AdminUser, CurrentUser, Cursor, Limit, StoreDep
from stagehook.api.schemas import TemplateCreate
from stagehook.store import workflow_templates

router = APIRouter(prefix="/workflow-templates", tags=["workflow templates"])


def _public(row: dict[str, Any]) -> dict[str, Any]:
    return {k: v for k, v in row.items() if k != "seq"}


@router.post("", status_code=201)
def create_template(body: TemplateCreate, store: StoreDep, _: CurrentUser) -> dict[str, Any]:
    return _public(workflow_templates.create_template(store, body.title, body.workflow))


@router.get("")
def list_templates(
    store: StoreDep, _: CurrentUser, limit: Limit = 50, cursor: Cursor = None
) -> dict[str, Any]:
    page, next_cursor = workflow_templates.list_templates(store, limit, cursor)
    return {"workflow_templates": [_public(r) for r in page], "next_cursor": next_cursor}


@router.get("/{template_hash}")
def get_template(template_hash: str, store: StoreDep, _: CurrentUser) -> dict[str, Any]:
    return _public(workflow_templates.get_template(store, template_hash))


@router.delete("/{template_hash}", status_code=204)
def delete_template(template_hash: str, store: StoreDep, _: AdminUser) -> Response:
    workflow_templates.delete_template(store, template_hash)
    return Response(status_code=204)

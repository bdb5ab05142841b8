"""Export a project's labels, streamed: Encord label rows or COCO."""

from __future__ import annotations

from typing import Annotated, Literal

from fastapi import APIRouter, Query, Request
from fastapi.responses import StreamingResponse

from stagehook.api.deps import ProjectRole, StoreDep
from stagehook.api.openapi import DocumentedRoute
from stagehook.store.export import Filter, coco_export, encord_export, project_ontology
from stagehook.workflow.stages import TaskStatus

router = APIRouter(tags=["export"], route_class=DocumentedRoute)


@router.get(
    "/projects/{project_hash}/export",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "The export file (Encord label rows or COCO), streamed",
            "content": {"application/json": {"schema": {"type": "string", "format": "binary"}}},
        }
    },
)
def export_project(
    project_hash: str,
    request: Request,
    store: StoreDep,
    _: ProjectRole,
    format: Literal["encord", "coco"] = "encord",
    stage_uuid: Annotated[str | None, Query(max_length=64)] = None,
    status: TaskStatus | None = None,
) -> StreamingResponse:
    """The whole project, or one stage / status; a JSON file built while it is sent."""
    index = project_ontology(store, project_hash)
    where = Filter(project_hash, stage_uuid, status.value if status else None)
    base_url = str(request.base_url).rstrip("/")
    body = (
        coco_export(store, where, index, base_url)
        if format == "coco"
        else encord_export(store, where, base_url)
    )
    filename = f"{project_hash}-{format}.json"
    return StreamingResponse(
        body,
        media_type="application/json",
        headers={"content-disposition": f'attachment; filename="{filename}"'},
    )

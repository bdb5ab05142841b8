"""Projects: create, list, read."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from stagehook.api.deps import CurrentUser, Cursor, Limit, ProjectRole, StoreDep
from stagehook.api.errors import error_responses
from stagehook.api.openapi import DocumentedRoute
from stagehook.api.public import ProjectDetailPublic, ProjectPublic, ProjectsPage
from stagehook.api.schemas import ProjectCreate
from stagehook.api.shaped_json import ShapedJSONResponse
from stagehook.store import projects

router = APIRouter(prefix="/projects", tags=["projects"], route_class=DocumentedRoute)


@router.post(
    "",
    status_code=201,
    response_model=ProjectPublic,
    responses=error_responses(404),
)
def create_project(body: ProjectCreate, store: StoreDep, user: CurrentUser) -> dict[str, Any]:
    return projects.create_project(
        store,
        user,
        body.title,
        body.dataset_hashes,
        body.workflow,
        body.workflow_template_hash,
        body.ontology_hash,
    )


@router.get("", response_model=ProjectsPage)
def list_projects(
    store: StoreDep, user: CurrentUser, limit: Limit = 50, cursor: Cursor = None
) -> ShapedJSONResponse:
    page, next_cursor = projects.list_projects(store, user, limit, cursor)
    # the store's dicts are the model's shape: sent without a second pass (api/shaped_json.py)
    return ShapedJSONResponse({"next_cursor": next_cursor, "projects": page})


@router.get("/{project_hash}", response_model=ProjectDetailPublic)
def get_project(project_hash: str, store: StoreDep, role: ProjectRole) -> dict[str, Any]:
    data = projects.get_project(store, project_hash)
    data["your_role"] = role.value
    return data

"""Projects: the list, the new-project page and a project's overview."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Form, Query, Request, Response

from stagehook.errors import InvalidInput, StagehookError
from stagehook.inputs import decode_json
from stagehook.store import datasets, ontologies, projects, users, workflow_templates
from stagehook.store.access import Role, require_project_role
from stagehook.web.common import (
    CHOICES,
    StoreDep,
    Text,
    WebUser,
    back,
    flash,
    render,
    validated,
    web_router,
)
from stagehook.web.editor import editor_config, starter_workflow
from stagehook.workflow.stages import TaskStatus, Workflow

router = web_router()

PAGE = 50


@router.get("/projects")
def list_page(
    request: Request,
    store: StoreDep,
    user: WebUser,
    cursor: Annotated[str | None, Query(max_length=200)] = None,
) -> Response:
    page, next_cursor = projects.list_projects(store, user, PAGE, cursor)
    return render(request, "projects.html", projects=page, next_cursor=next_cursor)


def _new_page(
    request: Request,
    store: StoreDep,
    user: WebUser,
    *,
    status: int = 200,
    title: str = "",
    template_hash: str = "",
    workflow: dict[str, Any] | None = None,
    dataset_hashes: list[str] | None = None,
    ontology_hash: str = "",
    error: str | None = None,
) -> Response:
    owned, _ = datasets.list_datasets(store, user, CHOICES, None)
    known, _ = ontologies.list_ontologies(store, CHOICES, None)
    tpls, _ = workflow_templates.list_templates(store, CHOICES, None)
    choices: list[dict[str, Any]] = [
        {"template_hash": "", "title": "From scratch", "workflow": starter_workflow()}
    ]
    choices += [
        {"template_hash": t["template_hash"], "title": t["title"], "workflow": t["workflow"]}
        for t in tpls
    ]
    chosen = template_hash or (tpls[0]["template_hash"] if tpls and not error else "")
    start = next((c for c in choices if c["template_hash"] == chosen), choices[0])
    config = editor_config("create", workflow or start["workflow"], editable=True, choices=choices)
    config["dirty"] = workflow is not None
    return render(
        request,
        "project_new.html",
        status=status,
        datasets=owned,
        choices=choices,
        chosen=chosen,
        title=title,
        picked=set(dataset_hashes or []),
        ontologies=known,
        ontology_hash=ontology_hash,
        error=error,
        editor=config,
    )


@router.get("/projects/new")
def new_page(request: Request, store: StoreDep, user: WebUser) -> Response:
    return _new_page(request, store, user)


@router.post("/projects/new")
def create(
    request: Request,
    store: StoreDep,
    user: WebUser,
    title: Text = "",
    template_hash: Text = "",
    workflow: Annotated[str, Form(max_length=1_000_000)] = "",
    dataset_hash: Annotated[list[str] | None, Form()] = None,
    ontology_hash: Text = "",
) -> Response:
    """An edited graph is sent whole; an untouched template is referenced by its hash."""
    picked = dataset_hash or []
    edited: dict[str, Any] | None = None
    try:
        if workflow.strip():
            edited = decode_json(workflow, "the workflow from the editor")
        if not title.strip():
            raise InvalidInput("give the project a title")
        graph = validated(Workflow, edited) if edited is not None else None
        if graph is None and not template_hash:
            graph = validated(Workflow, starter_workflow())
        created = projects.create_project(
            store,
            user,
            title.strip(),
            picked,
            graph,
            None if graph else template_hash,
            ontology_hash or None,
        )
    except StagehookError as exc:
        return _new_page(
            request,
            store,
            user,
            status=exc.status,
            title=title,
            template_hash=template_hash,
            workflow=edited,
            dataset_hashes=picked,
            ontology_hash=ontology_hash,
            error=exc.message,
        )
    flash(request, f"Project {created['title']} created.")
    return back(f"/projects/{created['project_hash']}")


def stage_rows(project: dict[str, Any]) -> list[dict[str, Any]]:
    counts = project["task_counts"]
    rows = []
    for stage in project["workflow"]["stages"]:
        by_status = counts.get(stage["uuid"], {})
        rows.append(
            {
                **stage,
                "counts": [(s.value, by_status[s.value]) for s in TaskStatus if s in by_status],
                "total": sum(by_status.values()),
            }
        )
    return rows


@router.get("/projects/{project_hash}")
def overview(request: Request, project_hash: str, store: StoreDep, user: WebUser) -> Response:
    role = require_project_role(store, user, project_hash)
    project = projects.get_project(store, project_hash)
    members = users.list_memberships(store, project_hash) if role == Role.ADMIN else []
    everyone = users.list_users(store) if role == Role.ADMIN and user.is_admin else []
    return render(
        request,
        "project.html",
        project=project,
        stages=stage_rows(project),
        role=role,
        members=members,
        everyone=everyone,
        roles=list(Role),
    )

"""Projects (list, create, overview, members) and the datasets they are made from."""

from __future__ import annotations

import json
from typing import Annotated, Any

from fastapi import Form, Query, Request, Response

from stagehook.errors import Forbidden, InvalidInput, StagehookError
from stagehook.store import datasets, ontologies, projects, templates, users
from stagehook.store.users import Role
from stagehook.web.common import (
    StoreDep,
    WebUser,
    back,
    flash,
    project_role,
    render,
    validated,
    web_router,
)
from stagehook.web.editor import editor_config, starter_workflow
from stagehook.workflow.stages import TaskStatus, Workflow

router = web_router()

Text = Annotated[str, Form(max_length=2048)]
PAGE = 50
#: What the create form offers; a deployment with more picks by hash through the API.
CHOICES = 500


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
    tpls, _ = templates.list_templates(store, CHOICES, None)
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
            try:
                edited = json.loads(workflow)
            except ValueError as exc:
                raise InvalidInput("the workflow from the editor is not valid JSON") from exc
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
    role = project_role(store, user, project_hash)
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


@router.post("/projects/{project_hash}/members")
def set_member(
    request: Request,
    project_hash: str,
    store: StoreDep,
    user: WebUser,
    username: Text,
    role: Text,
) -> Response:
    try:
        if project_role(store, user, project_hash) != Role.ADMIN:
            raise Forbidden("only a project admin can change members")
        match = next((u for u in users.list_users(store) if u.username == username.strip()), None)
        if match is None:
            raise InvalidInput(f"there is no user {username.strip()!r}")
        if role not in {r.value for r in Role}:
            raise InvalidInput(f"unknown role {role!r}")
        users.set_membership(store, project_hash, match.user_id, Role(role))
    except StagehookError as exc:
        flash(request, exc.message, "error")
    else:
        flash(request, f"{match.username} is now {Role(role).value} on this project.")
    return back(f"/projects/{project_hash}#members")


# ------------------------------------------------------------------ datasets
@router.get("/datasets")
def datasets_page(request: Request, store: StoreDep, user: WebUser) -> Response:
    owned, _ = datasets.list_datasets(store, user, CHOICES, None)
    return render(request, "datasets.html", datasets=owned)


def _unit_items(text: str) -> list[dict[str, Any]]:
    return [{"title": line.strip()} for line in text.splitlines() if line.strip()]


@router.post("/datasets")
def create_dataset(
    request: Request,
    store: StoreDep,
    user: WebUser,
    title: Text,
    units: Annotated[str, Form(max_length=500_000)] = "",
) -> Response:
    if not title.strip():
        flash(request, "give the dataset a title", "error")
        return back("/datasets")
    dataset = datasets.create_dataset(store, user, title.strip())
    items = _unit_items(units)
    datasets.add_data_units(store, user, dataset["dataset_hash"], items)
    flash(request, f"Dataset {dataset['title']} created with {len(items)} data unit(s).")
    return back(f"/datasets/{dataset['dataset_hash']}")


@router.get("/datasets/{dataset_hash}")
def dataset_page(request: Request, dataset_hash: str, store: StoreDep, user: WebUser) -> Response:
    units, more = datasets.list_data_units(store, user, dataset_hash, CHOICES, None)
    owned, _ = datasets.list_datasets(store, user, CHOICES, None)
    dataset = next((d for d in owned if d["dataset_hash"] == dataset_hash), None)
    return render(
        request,
        "dataset.html",
        dataset=dataset,
        dataset_hash=dataset_hash,
        units=units,
        more=bool(more),
    )


@router.post("/datasets/{dataset_hash}/units")
def add_units(
    request: Request,
    dataset_hash: str,
    store: StoreDep,
    user: WebUser,
    units: Annotated[str, Form(max_length=500_000)] = "",
) -> Response:
    items = _unit_items(units)
    if items:
        datasets.add_data_units(store, user, dataset_hash, items)
        flash(request, f"Added {len(items)} data unit(s); projects using this dataset got tasks.")
    return back(f"/datasets/{dataset_hash}")

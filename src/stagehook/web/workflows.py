"""A project's workflow page: the editor, saving, and saving as a template."""

from __future__ import annotations

from typing import Annotated

from fastapi import Form, Request, Response

from stagehook.store import projects
from stagehook.store.access import MANAGER_ROLES, require_manager, require_project_role
from stagehook.web.common import StoreDep, WebUser, back, flash, render, web_router
from stagehook.web.editor import Json, editor_config
from stagehook.workflow.stages import Workflow

router = web_router()


@router.get("/projects/{project_hash}/workflow")
def workflow_page(request: Request, project_hash: str, store: StoreDep, user: WebUser) -> Response:
    role = require_project_role(store, user, project_hash)
    project = projects.get_project(store, project_hash)
    config = editor_config(
        "project",
        project["workflow"],
        editable=role in MANAGER_ROLES,
        project_hash=project_hash,
    )
    return render(request, "workflow.html", project=project, editor=config)


@router.post("/projects/{project_hash}/workflow")
def save_workflow(project_hash: str, body: Workflow, store: StoreDep, user: WebUser) -> Json:
    require_manager(require_project_role(store, user, project_hash))
    return projects.put_workflow(store, project_hash, body)


@router.post("/projects/{project_hash}/workflow/save-as-template")
def save_as_template(
    request: Request,
    project_hash: str,
    store: StoreDep,
    user: WebUser,
    title: Annotated[str, Form(min_length=1, max_length=500)],
    keep_webhooks: Annotated[bool, Form()] = False,
) -> Response:
    require_manager(require_project_role(store, user, project_hash))
    row = projects.save_as_template(store, project_hash, title.strip(), keep_webhooks=keep_webhooks)
    kept = "with its webhook URLs" if keep_webhooks else "without webhooks"
    flash(request, f"Template {row['title']} saved ({kept}).")
    return back(f"/templates/{row['template_hash']}")

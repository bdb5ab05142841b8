"""The workflow editor: project workflows, templates, and the webhook controls in it.

The graph is edited in the browser (static/editor.js) and nothing is stored until the
person saves; then the whole workflow goes through the same ``put_workflow`` /
``create_template`` / ``create_project`` calls the REST API uses, so every rule and every
message comes from the store and the workflow domain.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Form, Request, Response

from stagehook.api.schemas import TemplateCreate, WebhookPut
from stagehook.delivery.guard import validate_webhook_url
from stagehook.delivery.testsend import send_test_event
from stagehook.store import projects, templates
from stagehook.store import webhooks as hooks
from stagehook.store.context import new_hash
from stagehook.store.users import MANAGER_ROLES
from stagehook.web.common import (
    StoreDep,
    WebAdmin,
    WebUser,
    back,
    flash,
    project_role,
    render,
    require_manager,
    web_router,
)
from stagehook.workflow.stages import Workflow

router = web_router()

Json = dict[str, Any]


def starter_workflow() -> Json:
    """Start -> Annotate -> Complete: the smallest graph that carries tasks."""
    start, annotate, complete = new_hash(), new_hash(), new_hash()
    return {
        "stages": [
            {
                "uuid": start,
                "title": "Start",
                "stage_type": "START",
                "pathways": [{"name": "next", "destination_uuid": annotate}],
            },
            {
                "uuid": annotate,
                "title": "Annotate",
                "stage_type": "ANNOTATE",
                "pathways": [{"name": "submit", "destination_uuid": complete}],
            },
            {"uuid": complete, "title": "Complete", "stage_type": "COMPLETE", "pathways": []},
        ]
    }


def editor_config(
    mode: str,
    workflow: Json,
    *,
    editable: bool,
    project_hash: str | None = None,
    template_hash: str | None = None,
    choices: list[Json] | None = None,
) -> Json:
    """What editor.js needs; ``saved`` names the webhooks that exist on the server."""
    saved = (
        {s["uuid"]: s["webhook"]["url"] for s in workflow["stages"] if s.get("webhook")}
        if mode == "project"
        else {}
    )
    return {
        "mode": mode,
        "workflow": workflow,
        "editable": editable,
        "project_hash": project_hash,
        "template_hash": template_hash,
        "saved": saved,
        "choices": choices or [],
    }


@router.get("/projects/{project_hash}/workflow")
def workflow_page(request: Request, project_hash: str, store: StoreDep, user: WebUser) -> Response:
    role = project_role(store, user, project_hash)
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
    require_manager(store, user, project_hash)
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
    require_manager(store, user, project_hash)
    row = projects.save_as_template(store, project_hash, title.strip(), keep_webhooks=keep_webhooks)
    kept = "with its webhook URLs" if keep_webhooks else "without webhooks"
    flash(request, f"Template {row['title']} saved ({kept}).")
    return back(f"/templates/{row['template_hash']}")


@router.post("/ui/webhook-url")
def check_webhook_url(body: WebhookPut, _: WebUser) -> Json:
    """The same shape check saving does; nothing is stored."""
    return {"url": validate_webhook_url(body.url)}


@router.post("/projects/{project_hash}/stages/{stage_uuid}/webhook/secret")
def reveal_secret(project_hash: str, stage_uuid: str, store: StoreDep, user: WebUser) -> Json:
    require_manager(store, user, project_hash)
    hook = hooks.get_stage_webhook(store, project_hash, stage_uuid)
    return {"url": hook["url"], "signing_secret": hook["signing_secret"]}


@router.post("/projects/{project_hash}/stages/{stage_uuid}/webhook/rotate")
def rotate_secret(project_hash: str, stage_uuid: str, store: StoreDep, user: WebUser) -> Json:
    require_manager(store, user, project_hash)
    hook = hooks.rotate_secret(store, project_hash, stage_uuid)
    return {"url": hook["url"], "signing_secret": hook["signing_secret"]}


@router.post("/projects/{project_hash}/stages/{stage_uuid}/webhook/test")
async def test_send(
    project_hash: str, stage_uuid: str, store: StoreDep, user: WebUser
) -> dict[str, Any]:
    """One signed attempt, answered here; it is not stored and never retried."""
    require_manager(store, user, project_hash)
    return await send_test_event(store, project_hash, stage_uuid)


# ------------------------------------------------------------------ templates
@router.get("/templates")
def templates_page(request: Request, store: StoreDep, _: WebUser) -> Response:
    page, _cursor = templates.list_templates(store, 500, None)
    return render(request, "templates.html", templates=page)


@router.get("/templates/new")
def new_template(request: Request, store: StoreDep, _: WebUser, source: str = "") -> Response:
    """A new template starts blank or as a copy of ``source``."""
    workflow = templates.get_template(store, source)["workflow"] if source else starter_workflow()
    config = editor_config("template", workflow, editable=True)
    return render(request, "template.html", template=None, editor=config)


@router.get("/templates/{template_hash}")
def template_page(request: Request, template_hash: str, store: StoreDep, _: WebUser) -> Response:
    template = templates.get_template(store, template_hash)
    config = editor_config(
        "template", template["workflow"], editable=True, template_hash=template_hash
    )
    return render(request, "template.html", template=template, editor=config)


@router.post("/templates")
def create_template(request: Request, body: TemplateCreate, store: StoreDep, _: WebUser) -> Json:
    row = templates.create_template(store, body.title.strip(), body.workflow)
    flash(request, f"Template {row['title']} saved.")
    return {"template_hash": row["template_hash"], "location": f"/templates/{row['template_hash']}"}


@router.post("/templates/{template_hash}")
def update_template(template_hash: str, body: TemplateCreate, store: StoreDep, _: WebUser) -> Json:
    """The template editor's "Save": the same template, edited in place."""
    row = templates.update_template(store, template_hash, body.title.strip(), body.workflow)
    return {key: row[key] for key in ("template_hash", "title", "workflow")}


@router.post("/templates/{template_hash}/delete")
def delete_template(request: Request, template_hash: str, store: StoreDep, _: WebAdmin) -> Response:
    templates.delete_template(store, template_hash)
    flash(request, "Template deleted; projects made from it keep their workflows.")
    return back("/templates")

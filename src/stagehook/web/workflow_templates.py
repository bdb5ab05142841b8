"""Workflow templates: the list, the editor for one, create, save in place, delete."""

from __future__ import annotations

from fastapi import Request, Response

from stagehook.api.schemas import TemplateCreate
from stagehook.store import workflow_templates
from stagehook.web.common import (
    CHOICES,
    StoreDep,
    WebAdmin,
    WebUser,
    back,
    flash,
    render,
    web_router,
)
from stagehook.web.editor import Json, editor_config, starter_workflow

router = web_router()


@router.get("/templates")
def templates_page(request: Request, store: StoreDep, _: WebUser) -> Response:
    page, _cursor = workflow_templates.list_templates(store, CHOICES, None)
    return render(request, "templates.html", templates=page)


@router.get("/templates/new")
def new_template(request: Request, store: StoreDep, _: WebUser, source: str = "") -> Response:
    """A new template starts blank or as a copy of ``source``."""
    workflow = (
        workflow_templates.get_template(store, source)["workflow"] if source else starter_workflow()
    )
    config = editor_config("template", workflow, editable=True)
    return render(request, "template.html", template=None, editor=config)


@router.get("/templates/{template_hash}")
def template_page(request: Request, template_hash: str, store: StoreDep, _: WebUser) -> Response:
    template = workflow_templates.get_template(store, template_hash)
    config = editor_config(
        "template", template["workflow"], editable=True, template_hash=template_hash
    )
    return render(request, "template.html", template=template, editor=config)


@router.post("/templates")
def create_template(request: Request, body: TemplateCreate, store: StoreDep, _: WebUser) -> Json:
    row = workflow_templates.create_template(store, body.title.strip(), body.workflow)
    flash(request, f"Template {row['title']} saved.")
    return {"template_hash": row["template_hash"], "location": f"/templates/{row['template_hash']}"}


@router.post("/templates/{template_hash}")
def update_template(template_hash: str, body: TemplateCreate, store: StoreDep, _: WebAdmin) -> Json:
    """The template editor's "Save": the same template, edited in place (the editor has
    no ontology control, so the template keeps the one it has)."""
    ontology_hash = workflow_templates.get_template(store, template_hash)["ontology_hash"]
    row = workflow_templates.update_template(
        store, template_hash, body.title.strip(), body.workflow, ontology_hash
    )
    return {key: row[key] for key in ("template_hash", "title", "workflow")}


@router.post("/templates/{template_hash}/delete")
def delete_template(request: Request, template_hash: str, store: StoreDep, _: WebAdmin) -> Response:
    workflow_templates.delete_template(store, template_hash)
    flash(request, "Template deleted; projects made from it keep their workflows.")
    return back("/templates")

"""Reusable workflow templates."""

from __future__ import annotations

from typing import Any

from sqlalchemy import delete, insert, select, update

from stagehook.errors import NotFound
from stagehook.store.context import Store, decode_cursor, encode_cursor, new_hash
from stagehook.store.ontologies import require_ontology
from stagehook.store.tables import workflow_templates
from stagehook.store.webhooks import vet_url
from stagehook.workflow.graph import validate
from stagehook.workflow.stages import Workflow


def _check(store: Store, workflow: Workflow) -> None:
    """A template is checked exactly like a project's workflow, webhook URLs included."""
    validate(workflow)
    for stage in workflow.stages:
        if stage.webhook is not None:
            vet_url(store, stage.webhook.url)


def create_template(
    store: Store, title: str, workflow: Workflow, ontology_hash: str | None = None
) -> dict[str, Any]:
    _check(store, workflow)
    row = {
        "template_hash": new_hash(),
        "title": title,
        "workflow": workflow.model_dump(mode="json", exclude_none=True),
        "created_at": store.clock.now(),
        "ontology_hash": ontology_hash,
    }
    with store.db.write() as conn:
        if ontology_hash is not None:
            require_ontology(conn, ontology_hash)
        conn.execute(insert(workflow_templates).values(**row))
    return row


def get_template(store: Store, template_hash: str) -> dict[str, Any]:
    with store.db.read() as conn:
        row = (
            conn.execute(
                select(workflow_templates).where(
                    workflow_templates.c.template_hash == template_hash
                )
            )
            .mappings()
            .first()
        )
    if row is None:
        raise NotFound(f"workflow template {template_hash} does not exist")
    return dict(row)


def list_templates(
    store: Store, limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    after = decode_cursor(cursor)
    with store.db.read() as conn:
        rows = (
            conn.execute(
                select(workflow_templates)
                .where(workflow_templates.c.seq > after)
                .order_by(workflow_templates.c.seq)
                .limit(limit + 1)
            )
            .mappings()
            .all()
        )
    page = [dict(r) for r in rows[:limit]]
    return page, encode_cursor(page[-1]["seq"]) if len(rows) > limit else None


def update_template(
    store: Store,
    template_hash: str,
    title: str,
    workflow: Workflow,
    ontology_hash: str | None = None,
) -> dict[str, Any]:
    """Edit in place: projects already created from the template keep their own copy."""
    _check(store, workflow)
    values = {
        "title": title,
        "workflow": workflow.model_dump(mode="json", exclude_none=True),
        "ontology_hash": ontology_hash,
    }
    with store.db.write() as conn:
        if ontology_hash is not None:
            require_ontology(conn, ontology_hash)
        result = conn.execute(
            update(workflow_templates)
            .where(workflow_templates.c.template_hash == template_hash)
            .values(**values)
        )
    if result.rowcount == 0:
        raise NotFound(f"workflow template {template_hash} does not exist")
    return get_template(store, template_hash)


def delete_template(store: Store, template_hash: str) -> None:
    with store.db.write() as conn:
        result = conn.execute(
            delete(workflow_templates).where(workflow_templates.c.template_hash == template_hash)
        )
    if result.rowcount == 0:
        raise NotFound(f"workflow template {template_hash} does not exist")

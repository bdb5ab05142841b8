"""Projects: creation from a template or inline workflow, and live workflow edits."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from sqlalchemy import Connection, insert, select, update

from stagehook.errors import InvalidInput
from stagehook.store.access import Principal, Role, visible_projects
from stagehook.store.context import Store, decode_cursor, encode_cursor, new_hash
from stagehook.store.datasets import require_dataset
from stagehook.store.ontologies import require_ontology
from stagehook.store.projects_read import load_workflow, project_row
from stagehook.store.tables import (
    data_units,
    memberships,
    project_datasets,
    projects,
)
from stagehook.store.task_counts import by_stage
from stagehook.store.tasks import create_tasks
from stagehook.store.webhooks import live_webhook, remove_webhook, upsert_webhook
from stagehook.store.workflow_templates import create_template, get_template
from stagehook.workflow.graph import check_live_edit, validate
from stagehook.workflow.stages import Workflow


def _graph_json(workflow: Workflow) -> dict[str, Any]:
    """The stored graph: webhooks live in their own table."""
    return workflow.with_webhooks({}).model_dump(mode="json", exclude_none=True)


def _sync_webhooks(conn: Connection, store: Store, project_hash: str, workflow: Workflow) -> None:
    for stage in workflow.stages:
        existing = live_webhook(conn, project_hash, stage.uuid)
        if stage.webhook is not None:
            if existing is None or existing.url != stage.webhook.url:
                upsert_webhook(conn, store, project_hash, stage.uuid, stage.webhook.url)
        elif existing is not None:
            remove_webhook(conn, store, project_hash, stage.uuid)


def create_project(
    store: Store,
    principal: Principal,
    title: str,
    dataset_hashes: Sequence[str],
    workflow: Workflow | None,
    template_hash: str | None,
    ontology_hash: str | None = None,
) -> dict[str, Any]:
    if (workflow is None) == (template_hash is None):
        raise InvalidInput("give exactly one of workflow or workflow_template_hash")
    if workflow is None:
        assert template_hash is not None
        template = get_template(store, template_hash)
        workflow = Workflow.model_validate(template["workflow"])
        ontology_hash = ontology_hash or template["ontology_hash"]
    validate(workflow)
    project_hash = new_hash()
    with store.db.write() as conn:
        if ontology_hash is not None:
            require_ontology(conn, ontology_hash)
        for dataset_hash in dict.fromkeys(dataset_hashes):
            require_dataset(conn, principal, dataset_hash)
        conn.execute(
            insert(projects).values(
                project_hash=project_hash,
                title=title,
                workflow=_graph_json(workflow),
                workflow_version=1,
                created_at=store.clock.now(),
                ontology_hash=ontology_hash,
            )
        )
        conn.execute(
            insert(memberships).values(
                project_hash=project_hash, user_id=principal.user_id, role=Role.ADMIN.value
            )
        )
        _sync_webhooks(conn, store, project_hash, workflow)
        for dataset_hash in dict.fromkeys(dataset_hashes):
            conn.execute(
                insert(project_datasets).values(
                    project_hash=project_hash, dataset_hash=dataset_hash
                )
            )
            units = conn.execute(
                select(data_units.c.data_hash)
                .where(data_units.c.dataset_hash == dataset_hash)
                .order_by(data_units.c.seq)
            ).scalars()
            create_tasks(conn, store, project_hash, list(units), principal)
        return _project_dict(conn, project_hash)


def _project_dict(conn: Connection, project_hash: str) -> dict[str, Any]:
    row = project_row(conn, project_hash)
    dataset_hashes = conn.execute(
        select(project_datasets.c.dataset_hash).where(
            project_datasets.c.project_hash == project_hash
        )
    ).scalars()
    return {
        "project_hash": row.project_hash,
        "title": row.title,
        "created_at": row.created_at,
        "workflow_version": row.workflow_version,
        "ontology_hash": row.ontology_hash,
        "dataset_hashes": list(dataset_hashes),
        "workflow": workflow_json(conn, project_hash),
    }


def workflow_json(conn: Connection, project_hash: str) -> dict[str, Any]:
    return load_workflow(conn, project_hash).model_dump(mode="json", exclude_none=True)


def get_project(store: Store, project_hash: str) -> dict[str, Any]:
    with store.db.read() as conn:
        data = _project_dict(conn, project_hash)
        data["task_counts"] = by_stage(conn, project_hash)
    return data


def list_projects(
    store: Store, principal: Principal, limit: int, cursor: str | None
) -> tuple[list[dict[str, Any]], str | None]:
    after = decode_cursor(cursor)
    query = (
        select(projects.c.seq, projects.c.project_hash, projects.c.title, projects.c.created_at)
        .where(projects.c.seq > after, visible_projects(principal))
        .order_by(projects.c.seq)
    )
    with store.db.read() as conn:
        rows = conn.execute(query.limit(limit + 1)).all()
    page = [
        {"project_hash": r.project_hash, "title": r.title, "created_at": r.created_at}
        for r in rows[:limit]
    ]
    return page, encode_cursor(rows[limit - 1].seq) if len(rows) > limit else None


def get_workflow(store: Store, project_hash: str) -> dict[str, Any]:
    with store.db.read() as conn:
        return workflow_json(conn, project_hash)


def put_workflow(store: Store, project_hash: str, workflow: Workflow) -> dict[str, Any]:
    """Edit a live workflow: the graph and its webhooks change together or not at all."""
    validate(workflow)
    with store.db.write() as conn:
        old = load_workflow(conn, project_hash)
        held = {stage: sum(c.values()) for stage, c in by_stage(conn, project_hash).items()}
        check_live_edit(old, workflow, held)
        new_uuids = {s.uuid for s in workflow.stages}
        for stage in old.stages:
            if stage.uuid not in new_uuids:
                remove_webhook(conn, store, project_hash, stage.uuid)
        _sync_webhooks(conn, store, project_hash, workflow)
        conn.execute(
            update(projects)
            .where(projects.c.project_hash == project_hash)
            .values(
                workflow=_graph_json(workflow),
                workflow_version=projects.c.workflow_version + 1,
            )
        )
        return workflow_json(conn, project_hash)


def save_as_template(
    store: Store, project_hash: str, title: str, *, keep_webhooks: bool = False
) -> dict[str, Any]:
    """A template of the live graph; with ``keep_webhooks`` it keeps the webhook URLs (projects
    created from it get webhooks with fresh secrets)."""
    with store.db.read() as conn:
        graph = load_workflow(conn, project_hash)
    return create_template(store, title, graph if keep_webhooks else graph.with_webhooks({}))

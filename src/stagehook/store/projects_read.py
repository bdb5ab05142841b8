"""Reading a project's workflow as the domain sees it (graph plus live webhooks)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, bindparam, select

from stagehook.errors import NotFound
from stagehook.store.tables import projects, webhooks
from stagehook.workflow.stages import Workflow

# Built once: constructing a statement costs more than running it on the hot path.
_PROJECT = select(projects).where(projects.c.project_hash == bindparam("project_hash"))
_WEBHOOK_URLS = select(webhooks.c.stage_uuid, webhooks.c.url).where(
    webhooks.c.project_hash == bindparam("project_hash"), webhooks.c.deleted_at.is_(None)
)


def project_row(conn: Connection, project_hash: str) -> Any:
    row = conn.execute(_PROJECT, {"project_hash": project_hash}).first()
    if row is None:
        raise NotFound(f"project {project_hash} does not exist")
    return row


def webhook_urls(conn: Connection, project_hash: str) -> dict[str, str]:
    rows = conn.execute(_WEBHOOK_URLS, {"project_hash": project_hash}).all()
    return {r.stage_uuid: r.url for r in rows}


def load_workflow(conn: Connection, project_hash: str) -> Workflow:
    graph = Workflow.model_validate(project_row(conn, project_hash).workflow)
    return graph.with_webhooks(webhook_urls(conn, project_hash))

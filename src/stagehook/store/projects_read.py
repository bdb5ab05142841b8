"""Reading a project's workflow as the domain sees it (graph plus live webhooks)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Text, bindparam, cast, select

from stagehook.errors import NotFound
from stagehook.store import parsed
from stagehook.store.prepared import Prepared
from stagehook.store.tables import projects, webhooks
from stagehook.workflow.stages import Workflow

# Built once: constructing a statement costs more than running it on the hot path.
_PROJECT = select(projects).where(projects.c.project_hash == bindparam("project_hash"))
#: The workflow as stored, unparsed: ``parsed`` caches its graph by this text.
_GRAPH_TEXT = Prepared(
    select(cast(projects.c.workflow, Text)).where(
        projects.c.project_hash == bindparam("project_hash")
    )
)
_WEBHOOK_URLS = Prepared(
    select(webhooks.c.stage_uuid, webhooks.c.url).where(
        webhooks.c.project_hash == bindparam("project_hash"), webhooks.c.deleted_at.is_(None)
    )
)


def project_row(conn: Connection, project_hash: str) -> Any:
    row = conn.execute(_PROJECT, {"project_hash": project_hash}).first()
    if row is None:
        raise NotFound(f"project {project_hash} does not exist")
    return row


def webhook_urls(conn: Connection, project_hash: str) -> dict[str, str]:
    return dict(_WEBHOOK_URLS.rows(conn, {"project_hash": project_hash}))


def load_workflow(conn: Connection, project_hash: str) -> Workflow:
    """Read in ``conn``'s transaction; parsed once per stored text (store/parsed.py)."""
    row = _GRAPH_TEXT.first(conn, {"project_hash": project_hash})
    if row is None:
        raise NotFound(f"project {project_hash} does not exist")
    return parsed.workflow(row[0], webhook_urls(conn, project_hash))

"""Reading a project's workflow as the domain sees it (graph plus live webhooks)."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, Text, bindparam, cast, select

from stagehook.errors import NotFound
from stagehook.store import parsed
from stagehook.store.outbox.write import PROJECT_HOOKS
from stagehook.store.prepared import Prepared
from stagehook.store.tables import projects
from stagehook.workflow.stages import Workflow

# Built once: constructing a statement costs more than running it on the hot path.
_PROJECT = select(projects).where(projects.c.project_hash == bindparam("project_hash"))
#: The workflow as stored, unparsed: ``parsed`` caches its graph by this text.
_GRAPH_TEXT = Prepared(
    select(cast(projects.c.workflow, Text)).where(
        projects.c.project_hash == bindparam("project_hash")
    )
)


def project_row(conn: Connection, project_hash: str) -> Any:
    row = conn.execute(_PROJECT, {"project_hash": project_hash}).first()
    if row is None:
        raise NotFound(f"project {project_hash} does not exist")
    return row


def load_workflow(conn: Connection, project_hash: str) -> Workflow:
    """The workflow with its live webhooks wired in, read in ``conn``'s transaction;
    parsed once per stored text (store/parsed.py)."""
    row = _GRAPH_TEXT.first(conn, {"project_hash": project_hash})
    if row is None:
        raise NotFound(f"project {project_hash} does not exist")
    hooks = PROJECT_HOOKS.rows(conn, {"project_hash": project_hash})
    return parsed.workflow(row[0], {stage: url for stage, _, url, _ in hooks})

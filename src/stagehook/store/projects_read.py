"""Reading a project's workflow as the domain sees it (graph plus live webhooks)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sqlalchemy import Connection, Text, bindparam, cast, select

from stagehook.errors import NotFound
from stagehook.store import parsed
from stagehook.store.outbox.write import PROJECT_HOOKS, Hook
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


def workflow_later(
    conn: Connection, project_hash: str
) -> Callable[[], tuple[Workflow, list[Hook]]]:
    """Send the reads of the workflow and its live hooks now; parse when called.

    Inside ``prepared.pipeline`` the reads go out with the caller's others in one flight.
    Parsed once per stored text (store/parsed.py).
    """
    graph = _GRAPH_TEXT.send(conn, {"project_hash": project_hash})
    hooks = PROJECT_HOOKS.send(conn, {"project_hash": project_hash})

    def read() -> tuple[Workflow, list[Hook]]:
        row = graph.first()
        if row is None:
            raise NotFound(f"project {project_hash} does not exist")
        live = [Hook(stage, hook_id, url, bool(on)) for stage, hook_id, url, on in hooks.all()]
        return parsed.workflow(row[0], {h.stage_uuid: h.url for h in live}), live

    return read


def load_workflow(conn: Connection, project_hash: str) -> Workflow:
    """Read in ``conn``'s transaction; parsed once per stored text (store/parsed.py)."""
    return workflow_later(conn, project_hash)()[0]

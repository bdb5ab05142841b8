"""A project's task counts two ways: as the API shows them, and counted from the table."""

from __future__ import annotations

from sqlalchemy import func, select

from stagehook.store.context import Store
from stagehook.store.tables import tasks
from tests.support.api import Api


def counted(store: Store, project_hash: str) -> dict[str, dict[str, int]]:
    """The truth: COUNT(*) over the tasks table."""
    with store.db.read() as conn:
        rows = conn.execute(
            select(tasks.c.stage_uuid, tasks.c.status, func.count())
            .where(tasks.c.project_hash == project_hash)
            .group_by(tasks.c.stage_uuid, tasks.c.status)
        ).all()
    out: dict[str, dict[str, int]] = {}
    for stage_uuid, status, n in rows:
        out.setdefault(stage_uuid, {})[status] = n
    return out


def shown(api: Api, project_hash: str) -> dict[str, dict[str, int]]:
    counts: dict[str, dict[str, int]] = api.request("GET", f"/projects/{project_hash}")[
        "task_counts"
    ]
    return counts

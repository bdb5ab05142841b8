"""An annotator's next task at a stage: the read behind "Submit & next".

Tasks already assigned to the person come first (work they hold), then the open ones in
queue order. Both reads walk ``ix_tasks_project_stage`` in ``seq`` order and stop at the
first match, so a 10,000-task queue costs the same as a 10-task one.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Connection, select

from stagehook.errors import NotFound
from stagehook.store.tables import data_units, label_rows, task_history, tasks
from stagehook.workflow.stages import Action, TaskStatus

#: Statuses a task waits in for anyone to pick it up.
OPEN_STATUSES = (TaskStatus.NEW.value, TaskStatus.RELEASED.value, TaskStatus.REOPENED.value)


@dataclass(frozen=True)
class NextTask:
    task_uuid: str
    #: Already assigned to this person (no ASSIGN needed).
    held: bool


def next_task(
    conn: Connection,
    project_hash: str,
    stage_uuid: str,
    username: str,
    *,
    exclude: Collection[str] = (),
) -> NextTask | None:
    """The task this person should work on next at the stage, or None when it is empty."""
    at_stage = select(tasks.c.task_uuid).where(
        tasks.c.project_hash == project_hash, tasks.c.stage_uuid == stage_uuid
    )
    if exclude:
        at_stage = at_stage.where(tasks.c.task_uuid.not_in(list(exclude)))
    held = at_stage.where(tasks.c.status == TaskStatus.ASSIGNED.value, tasks.c.assignee == username)
    mine = conn.execute(held.order_by(tasks.c.seq).limit(1)).scalar()
    if mine is not None:
        return NextTask(str(mine), held=True)
    waiting = at_stage.where(tasks.c.status.in_(OPEN_STATUSES))
    found = conn.execute(waiting.order_by(tasks.c.seq).limit(1)).scalar()
    return None if found is None else NextTask(str(found), held=False)


def _unit_fields(fields: dict[str, Any]) -> dict[str, Any]:
    """The label row's data-unit keys the editor writes (Encord: ``data_type`` is MIME)."""
    unit = {"data_title": fields.get("title", ""), "data_link": fields.get("uri")}
    for key, name in (("width", "width"), ("height", "height"), ("mime_type", "data_type")):
        if fields.get(key) is not None:
            unit[name] = fields[key]
    return unit


def _image_url(data_hash: str, uri: str, sha256: str | None) -> str | None:
    """Where the browser loads the image: the bucket's URI, our copy, or nothing."""
    if uri.startswith(("http://", "https://")):
        return uri
    return f"/api/v1/data-units/{data_hash}/content" if sha256 else None


def task_view(conn: Connection, project_hash: str, task_uuid: str) -> dict[str, Any]:
    """What the editor shows for one task: task, label row, image, last review comment."""
    row = conn.execute(
        select(tasks, label_rows.c.labels, label_rows.c.version)
        .join(label_rows, label_rows.c.label_hash == tasks.c.label_hash)
        .where(tasks.c.project_hash == project_hash, tasks.c.task_uuid == task_uuid)
    ).first()
    if row is None:
        raise NotFound(f"task {task_uuid} does not exist in this project")
    unit = conn.execute(select(data_units).where(data_units.c.data_hash == row.data_hash)).first()
    fields = dict(unit._mapping) if unit is not None else {}
    comment = conn.execute(
        select(task_history.c.actor, task_history.c.at, task_history.c.comment)
        .where(
            task_history.c.project_hash == project_hash,
            task_history.c.task_uuid == task_uuid,
            task_history.c.action == Action.REJECT.value,
            task_history.c.comment.is_not(None),
        )
        .order_by(task_history.c.id.desc())
        .limit(1)
    ).first()
    uri = fields.get("uri") or ""
    return {
        "task_uuid": row.task_uuid,
        "data_hash": row.data_hash,
        "label_hash": row.label_hash,
        "stage_uuid": row.stage_uuid,
        "status": row.status,
        "assignee": row.assignee,
        "labels": row.labels,
        "version": row.version,
        "data_title": fields.get("title", ""),
        "image": {"url": _image_url(row.data_hash, uri, fields.get("sha256"))},
        "unit": _unit_fields(fields),
        "review_comment": None
        if comment is None
        else {"actor": comment.actor, "at": comment.at, "comment": comment.comment},
    }

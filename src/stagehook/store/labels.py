"""Label rows: the labels JSON of one task, with optimistic versioning."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select, update

from stagehook.errors import Conflict, NotFound
from stagehook.store.access import Principal, Role, require_label_editor
from stagehook.store.context import Store
from stagehook.store.tables import label_rows


def _public(row: Any) -> dict[str, Any]:
    return {
        "label_hash": row.label_hash,
        "data_hash": row.data_hash,
        "project_hash": row.project_hash,
        "labels": row.labels,
        "version": row.version,
        "updated_at": row.updated_at,
    }


def get_label_row(store: Store, project_hash: str, label_hash: str) -> dict[str, Any]:
    with store.db.read() as conn:
        row = conn.execute(
            select(label_rows).where(
                label_rows.c.project_hash == project_hash, label_rows.c.label_hash == label_hash
            )
        ).first()
    if row is None:
        raise NotFound(f"label row {label_hash} does not exist in this project")
    return _public(row)


def put_label_row(
    store: Store,
    project_hash: str,
    label_hash: str,
    labels: dict[str, Any],
    version: int,
    editor: tuple[Principal, Role],
) -> dict[str, Any]:
    """Store labels if ``version`` is the current one; a stale version is a 409.

    ``editor`` must be allowed to edit the task where it rests now (checked in the same
    transaction, so a task that just moved on is not edited at its old stage's rules).
    """
    with store.db.write() as conn:
        require_label_editor(conn, *editor, project_hash, label_hash)
        result = conn.execute(
            update(label_rows)
            .where(
                label_rows.c.project_hash == project_hash,
                label_rows.c.label_hash == label_hash,
                label_rows.c.version == version,
            )
            .values(labels=labels, version=version + 1, updated_at=store.clock.now())
        )
        row = conn.execute(
            select(label_rows).where(
                label_rows.c.project_hash == project_hash, label_rows.c.label_hash == label_hash
            )
        ).first()
    if row is None:
        raise NotFound(f"label row {label_hash} does not exist in this project")
    if result.rowcount == 0:
        raise Conflict(
            f"label row {label_hash} is at version {row.version}, not {version}; "
            "fetch it again and reapply your change"
        )
    return _public(row)

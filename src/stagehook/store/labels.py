"""Label rows: the labels JSON of one task, with optimistic versioning."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, select, update

from stagehook.errors import Conflict, NotFound
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
    store: Store, project_hash: str, label_hash: str, labels: dict[str, Any], version: int
) -> dict[str, Any]:
    """Store labels if ``version`` is the current one; a stale version is a 409."""

    def work(conn: Connection) -> tuple[int, Any]:
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
        return result.rowcount, row

    updated, row = store.db.write_grouped(work)
    if row is None:
        raise NotFound(f"label row {label_hash} does not exist in this project")
    if updated == 0:
        raise Conflict(
            f"label row {label_hash} is at version {row.version}, not {version}; "
            "fetch it again and reapply your change"
        )
    return _public(row)

"""Label rows: the labels of one task, with optimistic versioning.

A project with an ontology keeps Encord image label rows, checked on every write and
served whole (titles, link, size); a project without one keeps free-form JSON.
"""

from __future__ import annotations

import mimetypes
from typing import Any

from sqlalchemy import Connection, delete, insert, select, update

from stagehook.errors import Conflict, NotFound
from stagehook.labeling import rows
from stagehook.labeling.validate import check_row
from stagehook.store.access import Principal, Role, require_label_editor
from stagehook.store.context import Store
from stagehook.store.ontologies import project_index
from stagehook.store.tables import data_units, datasets, label_features, label_rows


def content_url(data_hash: str) -> str:
    return f"/api/v1/data-units/{data_hash}/content"


def unit_info(unit: Any, base_url: str = "") -> rows.UnitInfo:
    """``unit`` is a data_units row joined with its dataset's title as ``dataset_title``."""
    return rows.UnitInfo(
        data_hash=unit.data_hash,
        data_title=unit.title,
        dataset_hash=unit.dataset_hash,
        dataset_title=unit.dataset_title,
        data_link=unit.uri or base_url + content_url(unit.data_hash),
        # A referenced image was never read: its type is what its URI's extension says.
        mime_type=unit.mime_type or (mimetypes.guess_type(unit.uri)[0] if unit.uri else None),
        width=unit.width,
        height=unit.height,
    )


UNIT_COLUMNS = (
    data_units.c.data_hash,
    data_units.c.title,
    data_units.c.dataset_hash,
    data_units.c.uri,
    data_units.c.mime_type,
    data_units.c.width,
    data_units.c.height,
    data_units.c.created_at,
    datasets.c.title.label("dataset_title"),
)
UNITS_JOIN = data_units.join(datasets, data_units.c.dataset_hash == datasets.c.dataset_hash)


def _public(row: Any, labels: dict[str, Any]) -> dict[str, Any]:
    return {
        "label_hash": row.label_hash,
        "data_hash": row.data_hash,
        "project_hash": row.project_hash,
        "labels": labels,
        "version": row.version,
        "updated_at": row.updated_at,
    }


def _served(conn: Connection, row: Any) -> dict[str, Any]:
    if project_index(conn, row.project_hash) is None:
        return _public(row, row.labels)
    unit = conn.execute(
        select(*UNIT_COLUMNS).select_from(UNITS_JOIN).where(data_units.c.data_hash == row.data_hash)
    ).one()
    full = rows.encord_row(
        row.label_hash, row.labels, unit_info(unit), unit.created_at, row.updated_at
    )
    return _public(row, full)


def _row(conn: Connection, project_hash: str, label_hash: str, *, lock: bool = False) -> Any:
    query = select(label_rows).where(
        label_rows.c.project_hash == project_hash, label_rows.c.label_hash == label_hash
    )
    if lock and conn.engine.dialect.name != "sqlite":
        query = query.with_for_update()
    row = conn.execute(query).first()
    if row is None:
        raise NotFound(f"label row {label_hash} does not exist in this project")
    return row


def get_label_row(store: Store, project_hash: str, label_hash: str) -> dict[str, Any]:
    with store.db.read() as conn:
        return _served(conn, _row(conn, project_hash, label_hash))


def _index_features(conn: Connection, project_hash: str, label_hash: str, labels: Any) -> None:
    conn.execute(delete(label_features).where(label_features.c.label_hash == label_hash))
    used = rows.features_used(labels)
    if used:
        conn.execute(
            insert(label_features),
            [
                {
                    "label_hash": label_hash,
                    "feature_hash": feature,
                    "project_hash": project_hash,
                    "uses": n,
                }
                for feature, n in used.items()
            ],
        )


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
    transaction, so a task that just moved on is not edited under its old stage's rule).
    With an ontology the row is checked first (422 naming the JSON path), then stored
    with names, colours and edit stamps filled in.
    """
    principal, role = editor
    with store.db.write() as conn:
        require_label_editor(conn, principal, role, project_hash, label_hash)
        current = _row(conn, project_hash, label_hash, lock=True)
        if current.version != version:
            raise Conflict(
                f"label row {label_hash} is at version {current.version}, not {version}; "
                "fetch it again and reapply your change"
            )
        index = project_index(conn, project_hash)
        if index is not None:
            check_row(index, labels, current.data_hash)
            labels = rows.normalise(
                index,
                labels,
                current.labels,
                current.data_hash,
                principal.username,
                store.clock.now(),
            )
            _index_features(conn, project_hash, label_hash, labels)
        result = conn.execute(
            update(label_rows)
            .where(
                label_rows.c.project_hash == project_hash,
                label_rows.c.label_hash == label_hash,
                label_rows.c.version == version,
            )
            .values(labels=labels, version=version + 1, updated_at=store.clock.now())
        )
        if result.rowcount == 0:  # a writer slipped in between (SQLite reads without a lock)
            raise Conflict(f"label row {label_hash} changed meanwhile; fetch it again")
        return _served(conn, _row(conn, project_hash, label_hash))

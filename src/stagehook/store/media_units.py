"""Data units that carry an uploaded image: adding them, and who may read their bytes."""

from __future__ import annotations

from typing import Any

from sqlalchemy import select

from stagehook.errors import NotFound
from stagehook.store.access import Principal, may_see_images_of
from stagehook.store.context import Store
from stagehook.store.tables import data_units, datasets


def readable_unit(store: Store, principal: Principal, data_hash: str) -> Any:
    """The data unit, if the caller may see its dataset's images (else 404, as projects)."""
    query = (
        select(data_units, datasets.c.created_by)
        .join(datasets, datasets.c.dataset_hash == data_units.c.dataset_hash)
        .where(data_units.c.data_hash == data_hash)
    )
    with store.db.read() as conn:
        row = conn.execute(query).first()
        if row is None or not may_see_images_of(conn, principal, row.dataset_hash, row.created_by):
            raise NotFound(f"data unit {data_hash} does not exist")
    return row

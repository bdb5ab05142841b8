"""Data units that carry an uploaded image: adding them, and who may read their bytes."""

from __future__ import annotations

from typing import Any

from sqlalchemy import exists, select

from stagehook.errors import NotFound
from stagehook.store.access import Principal
from stagehook.store.context import Store
from stagehook.store.tables import data_units, datasets, memberships, project_datasets


def readable_unit(store: Store, principal: Principal, data_hash: str) -> Any:
    """The data unit, if the caller owns its dataset or is in a project that uses it.

    Anything else is a 404, as for projects: no way to probe which hashes exist.
    """
    query = (
        select(data_units, datasets.c.created_by)
        .join(datasets, datasets.c.dataset_hash == data_units.c.dataset_hash)
        .where(data_units.c.data_hash == data_hash)
    )
    with store.db.read() as conn:
        row = conn.execute(query).first()
        allowed = row is not None and (
            principal.is_admin
            or row.created_by == principal.user_id
            or conn.execute(
                select(
                    exists().where(
                        project_datasets.c.dataset_hash == row.dataset_hash,
                        memberships.c.project_hash == project_datasets.c.project_hash,
                        memberships.c.user_id == principal.user_id,
                    )
                )
            ).scalar_one()
        )
    if not allowed:
        raise NotFound(f"data unit {data_hash} does not exist")
    return row

"""Datasets and their data units."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from stagehook.api.deps import CurrentUser, Cursor, Limit, StoreDep
from stagehook.api.openapi import DocumentedRoute
from stagehook.api.public import DatasetPublic, DatasetsPage, DataUnitsPage, DataUnitsPublic
from stagehook.api.schemas import DatasetCreate, DataUnitsCreate
from stagehook.store import datasets

router = APIRouter(prefix="/datasets", tags=["datasets"], route_class=DocumentedRoute)


@router.post("", status_code=201, response_model=DatasetPublic)
def create_dataset(body: DatasetCreate, store: StoreDep, user: CurrentUser) -> dict[str, Any]:
    return datasets.create_dataset(store, user, body.title)


@router.get("", response_model=DatasetsPage)
def list_datasets(
    store: StoreDep, user: CurrentUser, limit: Limit = 50, cursor: Cursor = None
) -> dict[str, Any]:
    page, next_cursor = datasets.list_datasets(store, user, limit, cursor)
    return {"datasets": page, "next_cursor": next_cursor}


@router.post("/{dataset_hash}/data-units", status_code=201, response_model=DataUnitsPublic)
def add_data_units(
    dataset_hash: str, body: DataUnitsCreate, store: StoreDep, user: CurrentUser
) -> dict[str, Any]:
    items = [item.model_dump() for item in body.items]
    return {"data_units": datasets.add_data_units(store, user, dataset_hash, items)}


@router.get("/{dataset_hash}/data-units", response_model=DataUnitsPage)
def list_data_units(
    dataset_hash: str,
    store: StoreDep,
    user: CurrentUser,
    limit: Limit = 50,
    cursor: Cursor = None,
    sha256: Annotated[str | None, Query(pattern="^[0-9a-fA-F]{64}$")] = None,
) -> dict[str, Any]:
    page, next_cursor = datasets.list_data_units(store, user, dataset_hash, limit, cursor, sha256)
    return {"data_units": page, "next_cursor": next_cursor}

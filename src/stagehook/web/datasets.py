"""Datasets: the list, a new dataset, its data units.

Forms are checked by the API's own models; a bad one comes back with the error beside
the field it is about.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Form, Request, Response

from stagehook.api.schemas import DatasetCreate, DataUnitIn, DataUnitsCreate
from stagehook.errors import InvalidInput
from stagehook.store import datasets
from stagehook.web.common import (
    CHOICES,
    StoreDep,
    Text,
    WebUser,
    back,
    flash,
    render,
    validated,
    web_router,
)

router = web_router()


@router.get("/datasets")
def datasets_page(request: Request, store: StoreDep, user: WebUser) -> Response:
    return _datasets_page(request, store, user)


def _datasets_page(
    request: Request,
    store: StoreDep,
    user: WebUser,
    *,
    status: int = 200,
    form: dict[str, str] | None = None,
) -> Response:
    owned, _ = datasets.list_datasets(store, user, CHOICES, None)
    return render(request, "datasets.html", status=status, datasets=owned, form=form or {})


def _unit_items(text: str) -> list[dict[str, Any]]:
    """One data unit per line, each checked by the API's own model (line numbers named)."""
    lines = [line.strip() for line in text.splitlines() if line.strip()]
    items = []
    for number, line in enumerate(lines, start=1):
        try:
            items.append(validated(DataUnitIn, {"title": line}).model_dump(exclude_none=True))
        except InvalidInput as exc:
            raise InvalidInput(f"line {number}: {exc.message}") from exc
    if items:
        validated(DataUnitsCreate, {"items": items})
    return items


@router.post("/datasets")
def create_dataset(
    request: Request,
    store: StoreDep,
    user: WebUser,
    title: Text = "",
    units: Annotated[str, Form(max_length=500_000)] = "",
) -> Response:
    form = {"title": title, "units": units}
    try:
        form["field"] = "title"
        checked = validated(DatasetCreate, {"title": title.strip()})
        form["field"] = "units"
        items = _unit_items(units)
    except InvalidInput as exc:
        form["error"] = exc.message
        return _datasets_page(request, store, user, status=exc.status, form=form)
    dataset = datasets.create_dataset(store, user, checked.title)
    if items:
        datasets.add_data_units(store, user, dataset["dataset_hash"], items)
    flash(request, f"Dataset {dataset['title']} created with {len(items)} data unit(s).")
    return back(f"/datasets/{dataset['dataset_hash']}")


@router.get("/datasets/{dataset_hash}")
def dataset_page(request: Request, dataset_hash: str, store: StoreDep, user: WebUser) -> Response:
    return _dataset_page(request, dataset_hash, store, user)


def _dataset_page(
    request: Request,
    dataset_hash: str,
    store: StoreDep,
    user: WebUser,
    *,
    status: int = 200,
    form: dict[str, str] | None = None,
) -> Response:
    units, more = datasets.list_data_units(store, user, dataset_hash, CHOICES, None)
    owned, _ = datasets.list_datasets(store, user, CHOICES, None)
    dataset = next((d for d in owned if d["dataset_hash"] == dataset_hash), None)
    return render(
        request,
        "dataset.html",
        status=status,
        form=form or {},
        dataset=dataset,
        dataset_hash=dataset_hash,
        units=units,
        more=bool(more),
    )


@router.post("/datasets/{dataset_hash}/units")
def add_units(
    request: Request,
    dataset_hash: str,
    store: StoreDep,
    user: WebUser,
    units: Annotated[str, Form(max_length=500_000)] = "",
) -> Response:
    try:
        items = _unit_items(units)
    except InvalidInput as exc:
        form = {"units": units, "field": "units", "error": exc.message}
        return _dataset_page(request, dataset_hash, store, user, status=exc.status, form=form)
    if items:
        datasets.add_data_units(store, user, dataset_hash, items)
        flash(request, f"Added {len(items)} data unit(s); projects using this dataset got tasks.")
    return back(f"/datasets/{dataset_hash}")

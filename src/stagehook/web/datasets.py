"""Datasets: the list, a new dataset, its data units."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Form, Request, Response

from stagehook.store import datasets
from stagehook.web.common import CHOICES, StoreDep, Text, WebUser, back, flash, render, web_router

router = web_router()


@router.get("/datasets")
def datasets_page(request: Request, store: StoreDep, user: WebUser) -> Response:
    owned, _ = datasets.list_datasets(store, user, CHOICES, None)
    return render(request, "datasets.html", datasets=owned)


def _unit_items(text: str) -> list[dict[str, Any]]:
    return [{"title": line.strip()} for line in text.splitlines() if line.strip()]


@router.post("/datasets")
def create_dataset(
    request: Request,
    store: StoreDep,
    user: WebUser,
    title: Text,
    units: Annotated[str, Form(max_length=500_000)] = "",
) -> Response:
    if not title.strip():
        flash(request, "give the dataset a title", "error")
        return back("/datasets")
    dataset = datasets.create_dataset(store, user, title.strip())
    items = _unit_items(units)
    datasets.add_data_units(store, user, dataset["dataset_hash"], items)
    flash(request, f"Dataset {dataset['title']} created with {len(items)} data unit(s).")
    return back(f"/datasets/{dataset['dataset_hash']}")


@router.get("/datasets/{dataset_hash}")
def dataset_page(request: Request, dataset_hash: str, store: StoreDep, user: WebUser) -> Response:
    units, more = datasets.list_data_units(store, user, dataset_hash, CHOICES, None)
    owned, _ = datasets.list_datasets(store, user, CHOICES, None)
    dataset = next((d for d in owned if d["dataset_hash"] == dataset_hash), None)
    return render(
        request,
        "dataset.html",
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
    items = _unit_items(units)
    if items:
        datasets.add_data_units(store, user, dataset_hash, items)
        flash(request, f"Added {len(items)} data unit(s); projects using this dataset got tasks.")
    return back(f"/datasets/{dataset_hash}")

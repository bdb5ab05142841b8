"""Ontologies: what a project's annotators label (Encord's ontology JSON)."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from stagehook.api.deps import CurrentUser, Cursor, Limit, StoreDep
from stagehook.api.errors import error_responses
from stagehook.api.openapi import DocumentedRoute
from stagehook.api.public import OntologiesPage, OntologyPublic
from stagehook.api.schemas import OntologyIn
from stagehook.store import ontologies

router = APIRouter(prefix="/ontologies", tags=["ontologies"], route_class=DocumentedRoute)


@router.post("", status_code=201, response_model=OntologyPublic)
def create_ontology(body: OntologyIn, store: StoreDep, user: CurrentUser) -> dict[str, Any]:
    return ontologies.create_ontology(store, user, body.title, body.description, body.structure)


@router.get("", response_model=OntologiesPage)
def list_ontologies(
    store: StoreDep, _: CurrentUser, limit: Limit = 50, cursor: Cursor = None
) -> dict[str, Any]:
    page, next_cursor = ontologies.list_ontologies(store, limit, cursor)
    return {"ontologies": page, "next_cursor": next_cursor}


@router.get("/{ontology_hash}", response_model=OntologyPublic)
def get_ontology(ontology_hash: str, store: StoreDep, _: CurrentUser) -> dict[str, Any]:
    return ontologies.get_ontology(store, ontology_hash)


@router.put(
    "/{ontology_hash}",
    response_model=OntologyPublic,
    # removing an element labels use is refused, saying how many
    responses=error_responses(409),
)
def put_ontology(
    ontology_hash: str, body: OntologyIn, store: StoreDep, user: CurrentUser
) -> dict[str, Any]:
    return ontologies.update_ontology(
        store, user, ontology_hash, body.title, body.description, body.structure
    )

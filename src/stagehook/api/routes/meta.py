"""Deployment facts receivers need: the addresses webhooks come from."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from stagehook import __version__
from stagehook.api.deps import StoreDep
from stagehook.api.openapi import DocumentedRoute
from stagehook.api.public import MetaPublic

router = APIRouter(tags=["meta"], route_class=DocumentedRoute)


def meta_document(store: StoreDep) -> dict[str, Any]:
    settings = store.settings
    return {
        "deployment": settings.deployment,
        "egress_cidrs": list(settings.egress_cidrs),
        "webhook_source_addresses": list(settings.egress_cidrs),
        "event_source": settings.event_source,
        "version": __version__,
    }


@router.get("/meta", response_model=MetaPublic)
def meta(store: StoreDep) -> dict[str, Any]:
    return meta_document(store)

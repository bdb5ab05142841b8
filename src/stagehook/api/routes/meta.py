"""Deployment facts receivers need: the addresses webhooks come from."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from stagehook import __version__
from stagehook.api.deps import StoreDep

router = APIRouter(tags=["meta"])


def meta_document(store: StoreDep) -> dict[str, Any]:
    settings = store.settings
    return {
        "deployment": settings.deployment,
        "egress_cidrs": list(settings.egress_cidrs),
        "webhook_source_addresses": list(settings.egress_cidrs),
        "event_source": settings.event_source,
        "version": __version__,
    }


@router.get("/meta")
def meta(store: StoreDep) -> dict[str, Any]:
    return meta_document(store)

"""Every operation in ``/openapi.json`` lists the errors it can answer with.

Derived from what a route depends on, so a route added later is documented too: an API
key (401), a role check (403), a path naming a resource (404), a body (413) and input
(422), each with the one error schema. Errors only the domain knows of (a 409, a 404
for a hash in the body) are declared on the route with ``errors.error_responses``.
Every API router is an ``APIRouter(route_class=DocumentedRoute)``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

from fastapi.dependencies.models import Dependant
from fastapi.dependencies.utils import get_dependant
from fastapi.routing import APIRoute

from stagehook.api.deps import (
    admin_user,
    current_principal,
    manager_role,
    project_admin_role,
)
from stagehook.api.errors import error_responses

#: Dependencies that refuse a caller without a valid API key (or session) with a 401.
SIGN_INS: frozenset[Callable[..., Any]] = frozenset({current_principal})
#: Dependencies that refuse some callers with a 403.
ROLE_CHECKS: frozenset[Callable[..., Any]] = frozenset(
    {admin_user, manager_role, project_admin_role}
)


def _calls(dependant: Dependant) -> Iterator[Callable[..., Any]]:
    for sub in dependant.dependencies:
        if sub.call is not None:
            yield sub.call
        yield from _calls(sub)


def errors_of(dependant: Dependant) -> list[int]:
    """The error statuses an endpoint can answer with, from its dependencies and inputs."""
    calls = set(_calls(dependant))
    statuses = []
    if calls & SIGN_INS:
        statuses.append(401)
    if calls & ROLE_CHECKS:
        statuses.append(403)
    if dependant.path_params:
        statuses.append(404)
    if dependant.body_params:
        statuses.append(413)
    if dependant.body_params or dependant.query_params or dependant.path_params:
        statuses.append(422)
    return statuses


class DocumentedRoute(APIRoute):
    """An API route whose OpenAPI entry lists its error responses (declared ones win)."""

    def __init__(self, path: str, endpoint: Callable[..., Any], **kwargs: Any) -> None:
        derived = error_responses(*errors_of(get_dependant(path=path, call=endpoint)))
        responses = {**derived, **(kwargs.pop("responses", None) or {})}
        super().__init__(path, endpoint, responses=responses, **kwargs)

"""``/openapi.json`` gives clients real types: a schema for every success, every error listed.

Walks the document the server serves, so a route added later is held to the same rules:
each 2xx names a model (not ``{}``), and each operation lists the errors it can answer
with (401 without a key, 403 behind a role check, 404 for a path naming a resource, 413
and 422 for input), every one with the error schema.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.dependencies.models import Dependant

from stagehook.api.app import ROUTERS
from stagehook.api.deps import admin_user, manager_role, project_admin_role
from stagehook.config import Settings
from stagehook.server import build_server_app
from tests.support.server import serve_app

ERROR_REF = "#/components/schemas/ErrorPublic"
#: Operations anyone may call (the deployment's published facts).
PUBLIC = {("get", "/api/v1/meta")}
ROLE_CHECKS = {admin_user, manager_role, project_admin_role}

Operation = tuple[str, str, dict[str, Any]]


@pytest.fixture(scope="module")
def openapi(tmp_path_factory: pytest.TempPathFactory) -> Iterator[dict[str, Any]]:
    data_dir: Path = tmp_path_factory.mktemp("openapi")
    app = build_server_app(
        Settings(data_dir=data_dir, bootstrap_api_key="shk_openapi"), embedded_dispatcher=False
    )
    with serve_app(app) as base_url:
        document = httpx.get(f"{base_url}/openapi.json", timeout=10).json()
    app.state.store.db.dispose()
    yield document


def operations(document: dict[str, Any]) -> list[Operation]:
    return [
        (method, path, operation)
        for path, methods in document["paths"].items()
        for method, operation in methods.items()
    ]


def is_typed(schema: dict[str, Any], components: dict[str, Any]) -> bool:
    """A named model with fields (or a list of them), or a plain scalar: never ``{}``."""
    if "$ref" in schema:
        target = components[schema["$ref"].rsplit("/", 1)[-1]]
        return bool(target.get("properties") or target.get("enum"))
    if schema.get("type") == "array":
        return is_typed(schema.get("items", {}), components)
    return schema.get("type") in {"string", "integer", "number", "boolean"}


def success_problems(document: dict[str, Any]) -> list[str]:
    components = document.get("components", {}).get("schemas", {})
    problems = []
    for method, path, operation in operations(document):
        successes = {s: r for s, r in operation["responses"].items() if s.startswith("2")}
        if not successes:
            problems.append(f"{method} {path}: no 2xx response")
        for status, response in successes.items():
            if status == "204":
                continue
            contents = response.get("content", {})
            if not contents or not all(
                is_typed(c.get("schema", {}), components) for c in contents.values()
            ):
                problems.append(f"{method} {path}: {status} has no typed schema")
    return problems


def required_errors(method: str, path: str, operation: dict[str, Any]) -> set[str]:
    parameters = operation.get("parameters", [])
    body = "requestBody" in operation
    required = set()
    if path.startswith("/api/v1/") and (method, path) not in PUBLIC:
        required.add("401")
    if any(p["in"] == "path" for p in parameters):
        required.add("404")
    if body:
        required.add("413")
    if body or parameters:
        required.add("422")
    return required


def _calls(dependant: Dependant) -> Iterator[Any]:
    for sub in dependant.dependencies:
        yield sub.call
        yield from _calls(sub)


def role_checked() -> set[tuple[str, str]]:
    """(method, path) of every API route behind a role check."""
    found = set()
    for module in ROUTERS:
        for route in module.router.routes:
            if ROLE_CHECKS & set(_calls(route.dependant)):  # type: ignore[attr-defined]
                for method in route.methods:  # type: ignore[attr-defined]
                    found.add((method.lower(), "/api/v1" + route.path))  # type: ignore[attr-defined]
    return found


def error_problems(document: dict[str, Any], forbidding: set[tuple[str, str]]) -> list[str]:
    problems = []
    for method, path, operation in operations(document):
        responses = operation["responses"]
        required = required_errors(method, path, operation)
        if (method, path) in forbidding:
            required.add("403")
        missing = sorted(required - set(responses))
        if missing:
            problems.append(f"{method} {path}: lists no {', '.join(missing)}")
        for status, response in responses.items():
            if status.startswith("4"):
                schema = response.get("content", {}).get("application/json", {}).get("schema")
                if schema != {"$ref": ERROR_REF}:
                    problems.append(f"{method} {path}: {status} is not the error schema")
    return problems


def test_every_success_has_a_typed_schema(openapi: dict[str, Any]) -> None:
    assert success_problems(openapi) == []


def test_every_operation_lists_its_errors(openapi: dict[str, Any]) -> None:
    forbidding = role_checked()
    assert forbidding, "the role-checked routes were not found"
    assert error_problems(openapi, forbidding) == []


def test_every_operation_is_there_once(openapi: dict[str, Any]) -> None:
    """A router included twice would serve (and document) every route twice."""
    assert [m.__name__ for m in ROUTERS if ROUTERS.count(m) > 1] == []
    ids = [operation["operationId"] for _, _, operation in operations(openapi)]
    assert sorted(i for i in set(ids) if ids.count(i) > 1) == []


def test_the_error_schema_is_the_shape_errors_have(openapi: dict[str, Any]) -> None:
    schemas = openapi["components"]["schemas"]
    assert schemas["ErrorPublic"]["required"] == ["error"]
    assert set(schemas["ErrorDetail"]["properties"]) == {"code", "message"}
    assert "HTTPValidationError" not in schemas


def test_the_checks_see_what_is_missing() -> None:
    untyped = {
        "paths": {
            "/api/v1/things/{thing}": {
                "put": {
                    "parameters": [{"in": "path", "name": "thing"}],
                    "requestBody": {},
                    "responses": {
                        "200": {"content": {"application/json": {"schema": {}}}},
                        "422": {"content": {"application/json": {"schema": {"$ref": "#/x"}}}},
                    },
                }
            }
        }
    }
    assert success_problems(untyped) == ["put /api/v1/things/{thing}: 200 has no typed schema"]
    assert error_problems(untyped, {("put", "/api/v1/things/{thing}")}) == [
        "put /api/v1/things/{thing}: lists no 401, 403, 404, 413",
        "put /api/v1/things/{thing}: 422 is not the error schema",
    ]

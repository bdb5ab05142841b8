"""Hostile input against every API route and every UI form, generated from the route
table: each is refused with a 4xx (never a 500), and reading afterwards still works.

A route the tables below do not know fails ``test_every_route_is_covered``: add its
body to ``BODIES`` (API) so a new route cannot skip these checks.
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest

from stagehook.store.context import Store
from tests.support.api import ADMIN_KEY, Api
from tests.support.web import WebClient
from tests.support.workflows import basic_workflow
from tests.support.world import World, api_routes, build_world, route_table, ui_routes

#: Raw JSON for a string (@S) or a number (@N), per kind of hostile input.
STRINGS = {
    "lone surrogate": '"a\\ud800b"',
    "NUL": '"a\\u0000b"',
    "long string": json.dumps("x" * 100_000),
}
NUMBERS = {
    "huge integer": "123456789012345678901234567890",
    "NaN": "NaN",
}
WHOLE = {
    "deep nesting": b"[" * 20_000 + b"]" * 20_000,
    "invalid UTF-8": b'{"title": "\xff\xfe\xfd"}',
}
#: Kinds that must be refused; a long string may be fine where no limit applies.
REFUSED = {"lone surrogate", "NUL", "huge integer", "NaN", "deep nesting", "invalid UTF-8"}


def _workflow(title: str = "@S") -> str:
    text = json.dumps(basic_workflow())
    return text.replace('"Annotate"', title).replace('"percentage": 100', '"percentage": @N')


#: A realistic body per API operation, hostile values at @S / @N.
BODIES: dict[tuple[str, str], str | None] = {
    ("POST", "/api/v1/datasets"): '{"title": @S}',
    ("POST", "/api/v1/datasets/{dataset_hash}/data-units"): (
        '{"items": [{"title": @S, "metadata": {"k": @S, "n": @N}}]}'
    ),
    ("POST", "/api/v1/workflow-templates"): '{"title": @S, "workflow": ' + _workflow() + "}",
    ("PUT", "/api/v1/workflow-templates/{template_hash}"): (
        '{"title": @S, "workflow": ' + _workflow() + "}"
    ),
    ("POST", "/api/v1/projects"): '{"title": @S, "workflow": ' + _workflow() + "}",
    ("PUT", "/api/v1/projects/{project_hash}/workflow"): _workflow(),
    ("POST", "/api/v1/projects/{project_hash}/workflow/save-as-template"): '{"title": @S}',
    ("PUT", "/api/v1/projects/{project_hash}/workflow/stages/{stage_uuid}/webhook"): (
        '{"url": @S}'
    ),
    ("POST", "/api/v1/projects/{project_hash}/workflow/stages/{stage_uuid}/actions"): (
        '{"actions": [{"task_uuid": @S, "action": "ASSIGN", "assignee": @S}]}'
    ),
    ("POST", "/api/v1/projects/{project_hash}/tasks/{task_uuid}/move"): '{"stage_uuid": @S}',
    ("PUT", "/api/v1/projects/{project_hash}/label-rows/{label_hash}"): (
        '{"labels": {"k": @S, "n": @N}, "version": 0}'
    ),
    ("POST", "/api/v1/users"): '{"username": @S, "password": @S}',
    ("POST", "/api/v1/api-keys"): '{"user_id": @S, "name": @S}',
    ("PUT", "/api/v1/projects/{project_hash}/members"): '{"user_id": @S, "role": "annotator"}',
    ("POST", "/api/v1/projects/{project_hash}/workflow/stages/{stage_uuid}/webhook/recover"): (
        '{"since": @S}'
    ),
    ("POST", "/api/v1/ontologies"): (
        '{"title": @S, "structure": {"objects": [{"name": @S, "shape": "point"}]}}'
    ),
    ("PUT", "/api/v1/ontologies/{ontology_hash}"): (
        '{"title": @S, "structure": {"objects": [{"name": @S, "shape": "point"}]}}'
    ),
    # Multipart, not JSON: hostile uploads are covered by the upload tests.
    ("POST", "/api/v1/datasets/{dataset_hash}/uploads"): None,
}


@pytest.fixture
def world(api: Api) -> World:
    return build_world(api)


@pytest.fixture
def routes(store: Store) -> list[tuple[str, str]]:
    return api_routes(route_table(store))


def reads_still_work(api: Api, world: World) -> list[str]:
    """What a user reads next: lists and rows that a stored bad value would break."""
    broken = []
    for path in (
        "/projects",
        "/datasets",
        "/workflow-templates",
        world.fill("/projects/{project_hash}"),
        world.fill("/projects/{project_hash}/tasks"),
        world.fill("/projects/{project_hash}/label-rows/{label_hash}"),
        world.fill("/datasets/{dataset_hash}/data-units"),
        world.fill("/projects/{project_hash}/deliveries"),
        "/users",
    ):
        response = api.raw("GET", path)
        if response.status_code != 200:
            broken.append(f"GET {path} -> {response.status_code}")
    return broken


def hostile_bodies(template: str) -> Iterator[tuple[str, bytes]]:
    for kind, value in STRINGS.items():
        yield kind, template.replace("@S", value).replace("@N", "1").encode()
    if "@N" in template:
        for kind, value in NUMBERS.items():
            yield kind, template.replace("@S", '"ok"').replace("@N", value).encode()
    yield from WHOLE.items()


#: Actions that take no body: the path says it all.
NO_BODY = ("/retry", "/rotate-secret", "/enable", "/disable", "/test", "/deactivate", "/reactivate")


def takes_no_body(method: str, path: str) -> bool:
    return method == "POST" and path.endswith(NO_BODY)


def test_every_route_is_covered(routes: list[tuple[str, str]]) -> None:
    with_body = {(method, path) for method, path in routes if method in ("POST", "PUT", "PATCH")}
    missing = sorted(with_body - set(BODIES))  # a None entry: not a JSON body
    assert [(m, p) for m, p in missing if not takes_no_body(m, p)] == []


def test_hostile_bodies_on_every_api_route(
    api: Api, world: World, routes: list[tuple[str, str]]
) -> None:
    failures = []
    for method, path in routes:
        template = BODIES.get((method, path))
        if template is None:
            continue
        url = world.fill(path).removeprefix("/api/v1")
        for kind, body in hostile_bodies(template):
            response = api.raw(
                method, url, content=body, headers={"content-type": "application/json"}
            )
            status = response.status_code
            refused = 400 <= status < 500
            if status >= 500 or (kind in REFUSED and not refused):
                failures.append(f"{kind}: {method} {path} -> {status} {response.text[:120]}")
            elif refused and not response.json().get("error", {}).get("message"):
                failures.append(f"{kind}: {method} {path} -> {status} without a message")
        failures.extend(f"after {method} {path}: {b}" for b in reads_still_work(api, world))
    assert failures == []


PATH_VALUES = {
    "huge integer": "9" * 40,
    "long string": "x" * 3000,
    "NUL": "a%00b",
    "invalid UTF-8": "%ED%A0%80%FF",
}


def test_hostile_path_parameters_on_every_api_route(
    api: Api, world: World, routes: list[tuple[str, str]]
) -> None:
    failures = []
    for method, path in routes:
        for name in set(world.params) & {p.strip("{}") for p in path.split("/")}:
            for kind, value in PATH_VALUES.items():
                url = world.fill(path, **{name: value}).removeprefix("/api/v1")
                body = {"content": b"{}", "headers": {"content-type": "application/json"}}
                response = api.raw(method, url, **(body if method != "GET" else {}))
                if not 400 <= response.status_code < 500:
                    failures.append(
                        f"{kind} in {{{name}}}: {method} {path} -> {response.status_code}"
                    )
    assert failures == []
    assert reads_still_work(api, world) == []


FORM_VALUES = {
    "huge integer": "9" * 40,
    "deep nesting": "[" * 20_000,
    "long string": "x" * 5_000,
    "NUL": "a\x00b",
}
#: Forms that end the session that posts them: checked with a fresh sign-in after.
ENDS_SESSION = {"/signout"}


def test_hostile_values_in_every_ui_form(api: Api, world: World, server: tuple[str, Store]) -> None:
    failures = []
    app = route_table(server[1])
    with WebClient(server[0]) as browser:
        browser.sign_in(key=ADMIN_KEY)
        for method, path, route in ui_routes(app):
            if method != "POST" or path in ENDS_SESSION:
                continue
            fields = [p.alias for p in route.dependant.body_params if p.alias != "csrf"]
            url = world.fill(path)
            for kind, value in FORM_VALUES.items():
                data: dict[str, Any] = dict.fromkeys(fields, value)
                response = browser.post(url, data={"csrf": browser.csrf("/settings"), **data})
                if response.status_code >= 500:
                    failures.append(f"{kind}: POST {path} -> {response.status_code}")
                if not browser.is_signed_in():
                    browser.sign_in(key=ADMIN_KEY)
                for page in ("/projects", world.fill("/projects/{project_hash}"), "/datasets"):
                    if browser.get(page).status_code != 200:
                        failures.append(f"after {kind} on POST {path}: GET {page} broke")
    assert failures == []
    assert reads_still_work(api, world) == []


BAD_WEBHOOK_URLS = (
    "javascript:alert(1)",
    "http://user:pw@example.com/",
    "file:///etc/passwd",
    "http://10.0.0.1/hook",
    "http://[::1]:8080/",
)


def test_templates_vet_webhook_urls_exactly_like_projects(api: Api, world: World) -> None:
    hook = world.fill("/projects/{project_hash}/workflow/stages/{stage_uuid}/webhook")
    template = world.fill("/workflow-templates/{template_hash}")
    for url in BAD_WEBHOOK_URLS:
        project = api.raw("PUT", hook.removeprefix("/api/v1"), json={"url": url})
        body = {"title": "t", "workflow": basic_workflow(annotate_webhook=url)}
        for method, path in (("POST", "/workflow-templates"), ("PUT", template)):
            response = api.raw(method, path, json=body)
            assert response.status_code == project.status_code == 422, (url, method)
            assert response.json()["error"]["message"].endswith(
                project.json()["error"]["message"]
            ), (url, method, response.text, project.text)


def test_ui_forms_refuse_what_the_api_refuses_beside_the_field(
    api: Api, world: World, server: tuple[str, Store]
) -> None:
    before = {d.title for d in api.iter_datasets()}
    with WebClient(server[0]) as browser:
        browser.sign_in(key=ADMIN_KEY)
        long_title = browser.form("/datasets", {"title": "t" * 2048}, page="/datasets")
        assert long_title.status_code == 422
        assert 'id="ds-title-error"' in long_title.text
        assert "at most 500 characters" in long_title.text
        long_line = browser.form(
            "/datasets", {"title": "ok", "units": "a\n" + "x" * 5000}, page="/datasets"
        )
        assert long_line.status_code == 422
        assert 'id="ds-units-error"' in long_line.text and "line 2:" in long_line.text
        task = world.fill("/projects/{project_hash}/tasks/{task_uuid}")
        for data, fragment in (
            ({"version": "9" * 30, "labels_json": "{}"}, "version"),
            ({"version": "0", "labels_json": "[" * 20_000}, "nested deeper"),
            ({"version": "0", "labels_json": '{"a": "\\ud800"}'}, "surrogate"),
        ):
            saved = browser.form(task + "/labels", data, page=task)
            assert saved.status_code == 422, data
            assert 'id="labels-error"' in saved.text and fragment in saved.text
        deep = browser.form(
            "/projects/new", {"title": "deep", "workflow": "[" * 20_000}, page="/projects/new"
        )
        assert deep.status_code == 422 and "nested deeper" in deep.text
    after = {d.title for d in api.iter_datasets()}
    assert after == before  # nothing refused was stored
    assert reads_still_work(api, world) == []

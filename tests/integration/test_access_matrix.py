"""Every route x every role x member / non-member, generated from the route table.

``POLICY`` states who may call each API operation; a route missing from it fails the
test, so a new route cannot skip the matrix. The check is the route's own gate (401,
403, or 404 for a project or dataset the caller cannot see); rules that depend on a
task's stage are tested in test_assign_and_label_rules.py.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from stagehook.store.context import Store
from tests.support.api import ADMIN_KEY, Api
from tests.support.labeling import image_bytes, ontology_structure
from tests.support.web import WebClient
from tests.support.workflows import basic_workflow
from tests.support.world import World, api_routes, build_world, route_table, ui_routes

PUBLIC, USER, DATASET, GLOBAL_ADMIN, MEMBER, MANAGER, PROJECT_ADMIN, OWNER = (
    "public",
    "user",
    "dataset owner",
    "global admin",
    "member",
    "manager",
    "project admin",
    "ontology owner",
)
_P = "/api/v1/projects/{project_hash}"
_HOOK = _P + "/workflow/stages/{stage_uuid}/webhook"
POLICY: dict[tuple[str, str], str] = {
    ("GET", "/healthz"): PUBLIC,
    ("GET", "/metrics"): PUBLIC,
    ("GET", "/api/v1/meta"): PUBLIC,
    ("GET", "/api/v1/datasets"): USER,
    ("POST", "/api/v1/datasets"): USER,
    ("GET", "/api/v1/datasets/{dataset_hash}/data-units"): DATASET,
    ("POST", "/api/v1/datasets/{dataset_hash}/data-units"): DATASET,
    ("GET", "/api/v1/workflow-templates"): USER,
    ("POST", "/api/v1/workflow-templates"): USER,
    ("GET", "/api/v1/workflow-templates/{template_hash}"): USER,
    ("PUT", "/api/v1/workflow-templates/{template_hash}"): GLOBAL_ADMIN,
    ("DELETE", "/api/v1/workflow-templates/{template_hash}"): GLOBAL_ADMIN,
    ("GET", "/api/v1/projects"): USER,
    ("POST", "/api/v1/projects"): USER,
    ("GET", "/api/v1/users"): GLOBAL_ADMIN,
    ("POST", "/api/v1/users"): GLOBAL_ADMIN,
    ("POST", "/api/v1/users/{user_id}/deactivate"): GLOBAL_ADMIN,
    ("POST", "/api/v1/users/{user_id}/reactivate"): GLOBAL_ADMIN,
    ("POST", "/api/v1/api-keys"): GLOBAL_ADMIN,
    ("DELETE", "/api/v1/api-keys/{key_id}"): GLOBAL_ADMIN,
    ("GET", _P): MEMBER,
    ("GET", _P + "/workflow"): MEMBER,
    ("GET", _P + "/tasks"): MEMBER,
    ("GET", _P + "/tasks/{task_uuid}"): MEMBER,
    ("GET", _P + "/label-rows/{label_hash}"): MEMBER,
    ("PUT", _P + "/label-rows/{label_hash}"): MEMBER,
    ("POST", _P + "/workflow/stages/{stage_uuid}/actions"): MEMBER,
    ("GET", _P + "/deliveries"): MEMBER,
    ("GET", _P + "/deliveries/{delivery_id}"): MEMBER,
    ("PUT", _P + "/workflow"): MANAGER,
    ("POST", _P + "/workflow/save-as-template"): MANAGER,
    ("GET", _P + "/webhooks"): MANAGER,
    ("GET", _HOOK): MANAGER,
    ("PUT", _HOOK): MANAGER,
    ("DELETE", _HOOK): MANAGER,
    ("POST", _HOOK + "/rotate-secret"): MANAGER,
    ("POST", _HOOK + "/enable"): MANAGER,
    ("POST", _HOOK + "/disable"): MANAGER,
    ("POST", _HOOK + "/recover"): MANAGER,
    ("POST", _HOOK + "/test"): MANAGER,
    ("POST", _P + "/deliveries/{delivery_id}/retry"): MANAGER,
    ("PUT", _P + "/members"): PROJECT_ADMIN,
    ("GET", _P + "/export"): MEMBER,
    ("POST", "/api/v1/datasets/{dataset_hash}/uploads"): DATASET,
    ("GET", "/api/v1/data-units/{data_hash}/content"): MEMBER,
    ("GET", "/api/v1/ontologies"): USER,
    ("POST", "/api/v1/ontologies"): USER,
    ("GET", "/api/v1/ontologies/{ontology_hash}"): USER,
    ("PUT", "/api/v1/ontologies/{ontology_hash}"): OWNER,
    ("POST", _P + "/tasks/{task_uuid}/move"): PROJECT_ADMIN,
}
#: Who passes each gate: the callers are the project's four roles, a user who is a
#: member of nothing, the global admin, and nobody (no key).
ALLOWED: dict[str, set[str]] = {
    PUBLIC: {"anonymous", "outsider", "annotator", "reviewer", "team_manager", "admin", "root"},
    USER: {"outsider", "annotator", "reviewer", "team_manager", "admin", "root"},
    DATASET: {"root"},
    GLOBAL_ADMIN: {"root"},
    MEMBER: {"annotator", "reviewer", "team_manager", "admin", "root"},
    MANAGER: {"team_manager", "admin", "root"},
    PROJECT_ADMIN: {"admin", "root"},
    OWNER: {"root"},
}
#: Where the gate sits behind body validation, a valid body reaches it.
VALID_BODIES: dict[tuple[str, str], dict[str, object]] = {
    ("POST", "/api/v1/datasets/{dataset_hash}/data-units"): {"items": [{"title": "x"}]},
    ("PUT", "/api/v1/ontologies/{ontology_hash}"): {
        "title": "world ontology",
        "structure": ontology_structure(),
    },
}
CALLERS = ("anonymous", "outsider", "annotator", "reviewer", "team_manager", "admin", "root")


@pytest.fixture
def world(api: Api) -> World:
    return build_world(api)


def gate(response: httpx.Response, world: World) -> str:
    """Which gate refused the call, or "passed"."""
    status = response.status_code
    if status == 401:
        return "401"
    if status == 403:
        return "403"
    if status == 404:
        message = response.json().get("error", {}).get("message", "")
        hidden = tuple(world.params[k] for k in ("project_hash", "dataset_hash", "data_hash"))
        if any(h in message for h in hidden):
            return "404"
    return "passed"


def expected_refusal(level: str, caller: str) -> str:
    if caller == "anonymous":
        return "401"
    if level in (DATASET, MEMBER) or (level in (MANAGER, PROJECT_ADMIN) and caller == "outsider"):
        return "404"
    return "403"


def callers(world: World, base_url: str) -> Iterator[tuple[str, httpx.Client]]:
    keys = {"root": ADMIN_KEY, **world.keys}
    for caller in CALLERS:
        headers = {"authorization": f"Bearer {keys[caller]}"} if caller in keys else {}
        with httpx.Client(base_url=base_url, headers=headers, timeout=30) as client:
            yield caller, client


def test_every_api_route_has_a_policy(store: Store) -> None:
    routes = set(api_routes(route_table(store)))
    assert sorted(routes - set(POLICY)) == []
    assert sorted(set(POLICY) - routes) == []


def test_access_matrix_over_every_api_route(
    world: World, server: tuple[str, Store], store: Store
) -> None:
    failures = []
    # Reads first, then writes, so an earlier write does not change what a later read sees.
    routes = sorted(api_routes(route_table(store)), key=lambda r: (r[0] != "GET", r))
    for caller, client in callers(world, server[0]):
        for method, path in routes:
            level = POLICY[(method, path)]
            body = VALID_BODIES.get((method, path), {})
            kwargs: dict[str, object] = {"json": body} if method in ("POST", "PUT") else {}
            if path.endswith("/uploads"):
                kwargs = {"files": [("files", ("a.png", image_bytes(), "image/png"))]}
            response = client.request(method, world.fill(path), **kwargs)
            got = gate(response, world)
            want = "passed" if caller in ALLOWED[level] else expected_refusal(level, caller)
            if got != want:
                failures.append(f"{caller} {method} {path}: {got} ({response.status_code}), {want}")
    assert not failures, "\n".join(failures)


#: UI pages anyone may load; every other UI route needs a signed-in session.
UI_PUBLIC = {"/signin", "/docs", "/redoc", "/docs/assets/{name}"}


def test_every_ui_route_needs_a_session_and_pages_hide_other_projects(
    world: World, server: tuple[str, Store], store: Store
) -> None:
    failures = []
    routes = ui_routes(route_table(store))
    with WebClient(server[0]) as anonymous:
        for method, path, _ in routes:
            if path in UI_PUBLIC:
                continue
            url = world.fill(path, name="swagger-ui.css")
            response = anonymous.request(method, url, data={"csrf": anonymous.csrf()})
            to_signin = response.status_code == 303 and response.headers["location"].startswith(
                "/signin"
            )
            if not to_signin and not (path == "/signin" and method == "POST"):
                failures.append(f"anonymous {method} {path}: {response.status_code}")
    with WebClient(server[0]) as outsider:
        outsider.sign_in(key=world.keys["outsider"])
        for method, path, _ in routes:
            if "{project_hash}" not in path or method != "GET":
                continue
            headers = {"x-csrf-token": outsider.csrf("/settings"), "accept": "text/html"}
            response = outsider.request(method, world.fill(path), headers=headers)
            if response.status_code != 404:
                failures.append(f"outsider {method} {path}: {response.status_code}")
    assert not failures, "\n".join(failures)


def test_every_ui_form_refuses_a_missing_or_wrong_csrf_token(
    world: World, server: tuple[str, Store], store: Store
) -> None:
    failures = []
    with WebClient(server[0]) as browser:
        browser.sign_in(key=ADMIN_KEY)
        for method, path, _ in ui_routes(route_table(store)):
            if method == "GET":
                continue
            url = world.fill(path)
            for headers, data in (({}, {}), ({"x-csrf-token": "guess"}, {"csrf": "guess"})):
                response = browser.request(method, url, headers=headers, data=data)
                if response.status_code != 403:
                    failures.append(f"{method} {path} {headers}: {response.status_code}")
        assert browser.is_signed_in()
    assert not failures, "\n".join(failures)


XSS = "<script>alert(1)</script>\"'><img src=x onerror=alert(1)>"


def test_no_page_echoes_stored_markup(
    api: Api, world: World, server: tuple[str, Store], store: Store
) -> None:
    """Everything a user can name (titles, usernames, a browser's user agent) comes
    back escaped on every page."""
    dataset = api.create_dataset(XSS)
    api.add_data_units(dataset["dataset_hash"], [{"title": XSS}])
    api.create_template(XSS, basic_workflow())
    api.new_user(XSS, password="a long password")
    with WebClient(server[0], headers={"user-agent": XSS}) as browser:
        browser.sign_in(username=XSS, password="a long password")
    failures = []
    with WebClient(server[0]) as browser:
        browser.sign_in(key=ADMIN_KEY)
        for method, path, _ in ui_routes(route_table(store)):
            if method != "GET" or path.startswith("/docs/assets"):
                continue
            page = browser.get(world.fill(path, dataset_hash=dataset["dataset_hash"]))
            if "<script>alert(1)" in page.text or "onerror=alert(1)>" in page.text:
                failures.append(f"GET {path} echoes markup")
        users = browser.get("/admin/users").text
        assert "&lt;script&gt;alert(1)&lt;/script&gt;" in users  # shown, escaped
    assert not failures, "\n".join(failures)

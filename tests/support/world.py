"""One small, complete deployment to aim route-table tests at: every path parameter
a route can take has a real value here, and every project role has a user.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from fastapi import FastAPI
from fastapi.routing import APIRoute, iter_route_contexts

from stagehook.api.app import create_app
from stagehook.store.context import Store
from stagehook.web import install_ui
from tests.support.api import Api
from tests.support.labeling import CAR, image_bytes, ontology_structure
from tests.support.workflows import ANNOTATE, basic_workflow

ROLES = ("admin", "team_manager", "annotator", "reviewer")
#: Nothing listens on port 9 (discard): deliveries to it stay queued, retrying.
SILENT_HOOK = "http://127.0.0.1:9/hook"
PARAM = re.compile(r"{([a-z_]+)}")


@dataclass
class World:
    params: dict[str, str]
    #: role -> API key of a member with that role; "outsider" is a member of nothing.
    keys: dict[str, str] = field(default_factory=dict)
    usernames: dict[str, str] = field(default_factory=dict)

    def fill(self, path: str, **override: str) -> str:
        def value(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in override:
                return override[name]
            if name not in self.params:
                raise AssertionError(
                    f"tests/support/world.py has no value for path parameter {{{name}}} "
                    f"(route {path}); add one so the route-table tests cover it"
                )
            return self.params[name]

        return PARAM.sub(value, path)


def build_world(api: Api) -> World:
    dataset_hash, _ = api.dataset_with_units(3)
    uploaded = api.raw(
        "POST",
        f"/datasets/{dataset_hash}/uploads",
        files=[("files", ("frame.png", image_bytes(), "image/png"))],
    )
    uploaded.raise_for_status()
    image_hash = uploaded.json()["data_units"][0]["data_hash"]
    ontology = api.create_ontology("world ontology", ontology_structure())
    project = api.create_project(
        "world", [dataset_hash], workflow=basic_workflow(annotate_webhook=SILENT_HOOK)
    )
    project_hash = project["project_hash"]
    tasks = api.tasks(project_hash)
    api.act(project_hash, ANNOTATE, [{"task_uuid": tasks[2]["task_uuid"], "action": "SUBMIT"}])
    [delivery] = api.request("GET", f"/projects/{project_hash}/deliveries")["deliveries"]
    template = api.create_template("world template", basic_workflow())
    spare = api.new_user("spare-user")
    world = World(
        params={
            "project_hash": project_hash,
            "dataset_hash": dataset_hash,
            "data_hash": image_hash,
            "ontology_hash": ontology["ontology_hash"],
            "feature_hash": CAR,
            "stage_uuid": ANNOTATE,
            "task_uuid": tasks[0]["task_uuid"],
            "label_hash": tasks[0]["label_hash"],
            "delivery_id": str(delivery["id"]),
            "template_hash": template["template_hash"],
            "user_id": spare["user_id"],
            "key_id": spare["key_id"],
            "session_id": "00000000-0000-4000-8000-00000000dead",
        }
    )
    for role in ROLES:
        user = api.new_user(f"member-{role}")
        api.request(
            "PUT",
            f"/projects/{project_hash}/members",
            json={"user_id": user["user_id"], "role": role},
        )
        world.keys[role] = user["api_key"]
        world.usernames[role] = user["username"]
    outsider = api.new_user("outsider")
    world.keys["outsider"] = outsider["api_key"]
    world.usernames["outsider"] = outsider["username"]
    return world


def route_table(store: Store) -> FastAPI:
    """The app's routes, API and UI, as the server composes them (nothing started)."""
    app = create_app(store)
    install_ui(app, store.settings)
    return app


def api_routes(app: FastAPI) -> list[tuple[str, str]]:
    """``(method, path)`` of every operation in the API description."""
    spec: dict[str, Any] = app.openapi()
    return sorted(
        (method.upper(), path)
        for path, item in spec["paths"].items()
        for method in item
        if method in ("get", "post", "put", "patch", "delete")
    )


def ui_routes(app: FastAPI) -> list[tuple[str, str, APIRoute]]:
    """``(method, path, route)`` of every UI route (those not in the API description)."""
    found = []
    for context in iter_route_contexts(app.router.routes):
        route = context.original_route
        if isinstance(route, APIRoute) and not route.include_in_schema and context.path:
            found.extend((method, context.path, route) for method in sorted(route.methods))
    return found

"""``api/direct.py``: the hot path's twin of a declared route answers as FastAPI would.

Two apps on one database, one as ``serve`` builds it (the direct route in front), one
with the direct route taken out (FastAPI answers everything); every request below goes
to both, and the answers must be the same bytes.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import httpx
import pytest
from starlette.requests import Request
from starlette.responses import Response

from stagehook.api.direct import Declined, DirectRoute
from stagehook.config import Settings
from stagehook.store.context import Store
from tests.support.api import ADMIN_KEY, Api
from tests.support.server import serve_app
from tests.support.workflows import ANNOTATE, submit_to_complete_workflow

Outcomes = list[str]


@pytest.fixture
def twin(settings: Settings, server: tuple[str, Store]) -> Iterator[Api]:
    """The same server without its direct routes, on the same database."""
    from stagehook.server import build_server_app

    app = build_server_app(settings, embedded_dispatcher=False)
    app.router.routes[:] = [r for r in app.router.routes if not isinstance(r, DirectRoute)]
    with serve_app(app) as base_url, Api(base_url, ADMIN_KEY) as client:
        yield client
    app.state.store.db.dispose()


@pytest.fixture
def outcomes(server: tuple[str, Store]) -> Iterator[Outcomes]:
    """What the served app's direct route did with each request: answered, refused (an
    error the exception handlers answer) or declined
    (the twin has no direct route, so every call seen here is the served app's)."""
    seen: Outcomes = []
    original = DirectRoute.handle

    async def spied(self: DirectRoute, scope: Any, receive: Any, send: Any) -> None:
        handler: Callable[[Request, bytes], Awaitable[Response]] = self.handler

        async def watched(request: Request, body: bytes) -> Response:
            try:
                response = await handler(request, body)
            except Declined:
                seen.append("declined")
                raise
            except Exception:  # the app's exception handlers answer it
                seen.append("refused")
                raise
            seen.append("answered")
            return response

        self.handler = watched
        try:
            await original(self, scope, receive, send)
        finally:
            self.handler = handler

    DirectRoute.handle = spied  # type: ignore[method-assign]
    yield seen
    DirectRoute.handle = original  # type: ignore[method-assign]


def _project(api: Api, tasks: int) -> tuple[str, list[str]]:
    dataset_hash, _ = api.dataset_with_units(tasks)
    project_hash = api.create_project(
        "direct",
        [dataset_hash],
        workflow=submit_to_complete_workflow(complete_webhook="http://127.0.0.1:9/x"),
    )["project_hash"]
    return project_hash, [t["task_uuid"] for t in api.tasks(project_hash)]


def _same(direct: httpx.Response, declared: httpx.Response) -> None:
    assert direct.status_code == declared.status_code, (direct.text, declared.text)
    assert direct.content == declared.content
    for header in ("content-type", "content-length", "allow"):
        assert direct.headers.get(header) == declared.headers.get(header)


def test_a_submit_answered_directly_is_the_declared_routes_answer(
    api: Api, twin: Api, outcomes: Outcomes
) -> None:
    project_hash, uuids = _project(api, 2)
    path = f"/projects/{project_hash}/workflow/stages/{ANNOTATE}/actions"
    answers = []
    for client, task_uuid in ((api, uuids[0]), (twin, uuids[1])):
        body = {"actions": [{"task_uuid": task_uuid, "action": "SUBMIT", "comment": "ünï ✓"}]}
        answer = client.raw("POST", path, json=body)
        assert answer.status_code == 200, answer.text
        uid = answer.json()["event_uids"][0]
        task = answer.json()["tasks"][0]
        # the same bytes once this task's own identifiers are put aside
        text = answer.text
        for own in (uid, task["task_uuid"], task["data_hash"], task["label_hash"]):
            text = text.replace(own, "<id>")
        answers.append((text, answer.headers["content-type"], len(answer.content)))
    assert answers[0] == answers[1]
    assert outcomes == ["answered"]


SUBMIT_T = {"task_uuid": "t", "action": "SUBMIT"}

#: (case, request, what the direct route does with it: it is refused before reaching the
#: route, declined to the declared route, or refused by the exception handlers)
BAD: list[tuple[str, dict[str, Any], Outcomes]] = [
    ("no key", {"headers": {"authorization": ""}, "json": {"actions": []}}, ["declined"]),
    (
        "unknown key",
        {"headers": {"authorization": "Bearer shk_nope"}, "json": {"actions": []}},
        ["declined"],
    ),
    ("not JSON", {"content": b"{nope", "headers": {"content-type": "application/json"}}, []),
    ("no body", {"headers": {"content-type": "application/json"}}, ["declined"]),
    (
        "no content type",
        {"content": b'{"actions": []}', "headers": {"content-type": ""}},
        ["declined"],
    ),
    (
        "text/plain+json",
        {"json": {"actions": [SUBMIT_T]}, "headers": {"content-type": "text/plain+json"}},
        ["declined"],
    ),
    (
        "foo+json",
        {"json": {"actions": [SUBMIT_T]}, "headers": {"content-type": "foo+json"}},
        ["declined"],
    ),
    (
        "application/vnd.x+json",
        {"json": {"actions": [SUBMIT_T]}, "headers": {"content-type": "application/vnd.x+json"}},
        ["refused"],  # JSON to FastAPI too: an unknown task, in the same words
    ),
    (
        "text/plain",
        {"content": b'{"actions": []}', "headers": {"content-type": "text/plain"}},
        ["declined"],
    ),
    ("empty list", {"json": {"actions": []}}, ["declined"]),
    (
        "extra field",
        {"json": {"actions": [{"task_uuid": "t", "action": "SUBMIT", "x": 1}]}},
        ["declined"],
    ),
    (
        "unknown action",
        {"json": {"actions": [{"task_uuid": "t", "action": "DANCE"}]}},
        ["declined"],
    ),
    ("not an object", {"json": [1, 2]}, ["declined"]),
    ("deep", {"json": json.loads("[" * 200 + "]" * 200)}, []),
    (
        "no key, valid body",
        {
            "headers": {"authorization": ""},
            "json": {"actions": [{"task_uuid": "t", "action": "SUBMIT"}]},
        },
        ["refused"],
    ),
    (
        "unknown task",
        {"json": {"actions": [{"task_uuid": "no-such-task", "action": "SUBMIT"}]}},
        ["refused"],
    ),
]


@pytest.mark.parametrize(("case", "request_", "expected"), BAD, ids=[c for c, *_ in BAD])
def test_every_refusal_is_fastapis_own(
    api: Api, twin: Api, outcomes: Outcomes, case: str, request_: dict[str, Any], expected: Outcomes
) -> None:
    project_hash, _ = _project(api, 1)
    path = f"/projects/{project_hash}/workflow/stages/{ANNOTATE}/actions"
    _same(api.raw("POST", path, **request_), twin.raw("POST", path, **request_))
    assert outcomes == expected


def test_refusals_after_validation_come_from_the_same_handlers(
    api: Api, twin: Api, outcomes: Outcomes
) -> None:
    """Unknown project and stage, a task already moved on: answered directly, refused by
    the store's errors through the app's exception handlers."""
    project_hash, uuids = _project(api, 1)
    submit = {"json": {"actions": [{"task_uuid": uuids[0], "action": "SUBMIT"}]}}
    paths = [
        f"/projects/nope/workflow/stages/{ANNOTATE}/actions",
        f"/projects/{project_hash}/workflow/stages/nope/actions",
    ]
    for path in paths:
        _same(api.raw("POST", path, **submit), twin.raw("POST", path, **submit))
    path = f"/projects/{project_hash}/workflow/stages/{ANNOTATE}/actions"
    assert api.raw("POST", path, **submit).status_code == 200
    _same(api.raw("POST", path, **submit), twin.raw("POST", path, **submit))  # 409 now
    assert outcomes == ["refused", "refused", "answered", "refused"]


def test_other_methods_on_the_path_are_the_declared_routes(api: Api, twin: Api) -> None:
    project_hash, _ = _project(api, 1)
    path = f"/projects/{project_hash}/workflow/stages/{ANNOTATE}/actions"
    for method in ("GET", "PUT", "DELETE"):
        _same(api.raw(method, path), twin.raw(method, path))

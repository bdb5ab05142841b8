"""A table of bad inputs: each answered with a 4xx and a message, never a 500."""

from __future__ import annotations

from typing import Any

import pytest

from tests.support.api import Api
from tests.support.workflows import ANNOTATE, REVIEW, basic_workflow


@pytest.fixture
def project(api: Api) -> dict[str, Any]:
    dataset_hash, _ = api.dataset_with_units(1)
    project = api.create_project("p", [dataset_hash], workflow=basic_workflow()).model_dump()
    project["task"] = api.tasks(project["project_hash"])[0].model_dump()
    project["dataset_hash"] = dataset_hash
    return project


def _cases(p: dict[str, Any]) -> list[tuple[str, str, Any, int, str]]:
    ph = p["project_hash"]
    task = p["task"]
    actions = f"/projects/{ph}/workflow/stages/{ANNOTATE}/actions"
    return [
        ("POST", "/datasets", b"{not json", 422, "not valid JSON"),
        ("POST", "/datasets", {"title": 5}, 422, "title"),
        ("POST", "/datasets", {}, 422, "title"),
        ("POST", "/datasets", [1, 2], 422, "input"),
        ("POST", "/datasets/nope/data-units", {"items": [{"title": "a"}]}, 404, "nope"),
        ("POST", f"/datasets/{p['dataset_hash']}/data-units", {"items": []}, 422, "items"),
        ("POST", "/projects", {"title": "x", "dataset_hashes": []}, 422, "workflow"),
        ("POST", "/projects", {"title": "x", "workflow_template_hash": "missing"}, 404, "missing"),
        ("POST", "/projects", {"title": "x", "workflow": {"stages": []}}, 422, "stages"),
        (
            "POST",
            "/projects",
            {"title": "x", "workflow": {"stages": [{"uuid": "a"}]}},
            422,
            "title",
        ),
        ("GET", "/projects/unknown/workflow", None, 404, "unknown"),
        ("GET", f"/projects/{ph}/tasks?status=DONE", None, 422, "status"),
        ("GET", f"/projects/{ph}/tasks?limit=0", None, 422, "limit"),
        ("GET", f"/projects/{ph}/tasks?cursor=%%%", None, 422, "cursor"),
        ("POST", actions, {"actions": []}, 422, "actions"),
        ("POST", actions, {"actions": [{"task_uuid": "x", "action": "FLY"}]}, 422, "action"),
        ("POST", actions, {"actions": [{"task_uuid": "nope", "action": "SUBMIT"}]}, 404, "nope"),
        (
            "POST",
            f"/projects/{ph}/workflow/stages/{REVIEW}/actions",
            {"actions": [{"task_uuid": task["task_uuid"], "action": "APPROVE"}]},
            409,
            task["task_uuid"],
        ),
        (
            "POST",
            f"/projects/{ph}/workflow/stages/nostage/actions",
            {"actions": [{"task_uuid": task["task_uuid"], "action": "SUBMIT"}]},
            404,
            "nostage",
        ),
        (
            "PUT",
            f"/projects/{ph}/workflow/stages/{ANNOTATE}/webhook",
            {"url": "javascript:alert(1)"},
            422,
            "http",
        ),
        (
            "PUT",
            f"/projects/{ph}/workflow/stages/{ANNOTATE}/webhook",
            {"url": "http://user:pw@example.com/"},
            422,
            "credentials",
        ),
        ("PUT", f"/projects/{ph}/label-rows/{task['label_hash']}", {"labels": []}, 422, "labels"),
        (
            "PUT",
            f"/projects/{ph}/label-rows/{task['label_hash']}",
            {"labels": {}, "version": -1},
            422,
            "version",
        ),
        ("PUT", f"/projects/{ph}/label-rows/zzz", {"labels": {}, "version": 0}, 404, "zzz"),
        ("POST", "/users", {"username": ""}, 422, "username"),
        ("POST", "/api-keys", {"user_id": "ghost"}, 404, "ghost"),
        ("GET", "/projects?cursor=MTIzNDU2Nzg5MDEyMzQ1Njc4OTAxMjM0NTY3ODkw", None, 422, "cursor"),
        ("GET", f"/projects/{ph}/deliveries/99999999999999999999999", None, 422, "delivery_id"),
        ("POST", f"/projects/{ph}/deliveries/0/retry", None, 422, "delivery_id"),
        ("GET", f"/projects/{ph}/deliveries/12345", None, 404, "12345"),
        (
            "PUT",
            f"/projects/{ph}/label-rows/{task['label_hash']}",
            {"labels": {}, "version": 99999999999999999999999},
            422,
            "version",
        ),
        ("POST", "/datasets", {"title": "a\u0000b"}, 422, "NUL"),
        (
            "PUT",
            f"/projects/{ph}/label-rows/{task['label_hash']}",
            b'{"labels": {"score": NaN}, "version": 0}',
            422,
            "NaN",
        ),
        (
            "POST",
            f"/datasets/{p['dataset_hash']}/data-units",
            b'{"items": [{"title": "x", "metadata": {"a": [Infinity]}}]}',
            422,
            "Infinity",
        ),
        ("GET", "/projects/a%00b", None, 422, "NUL"),
        ("DELETE", "/projects", None, 405, "Method Not Allowed"),
        ("GET", "/no/such/path", None, 404, "Not Found"),
    ]


def test_bad_inputs_get_4xx_with_message(api: Api, project: dict[str, Any]) -> None:
    failures = []
    for method, path, body, status, fragment in _cases(project):
        kwargs: dict[str, Any] = {}
        if isinstance(body, bytes):
            kwargs = {"content": body, "headers": {"content-type": "application/json"}}
        elif body is not None:
            kwargs = {"json": body}
        response = api.raw(method, path, **kwargs)
        error = response.json().get("error", {})
        if (
            response.status_code != status
            or fragment.lower() not in error.get("message", "").lower()
        ):
            failures.append((method, path, response.status_code, error))
    assert failures == []


def test_oversize_body_is_413(api: Api) -> None:
    big = b'{"title": "' + b"x" * (1024 * 1024 + 10) + b'"}'
    response = api.raw(
        "POST", "/datasets", content=big, headers={"content-type": "application/json"}
    )
    assert response.status_code == 413
    assert response.json()["error"]["code"] == "too_large"

    def chunks():  # type: ignore[no-untyped-def]
        yield b'{"title": "'
        for _ in range(20):
            yield b"y" * 65536
        yield b'"}'

    streamed = api.raw(
        "POST", "/datasets", content=chunks(), headers={"content-type": "application/json"}
    )
    assert streamed.status_code == 413

"""Methods as HTTP means them: HEAD wherever GET works, Allow on every 405; and
schema-invalid bodies refused, never coerced."""

from __future__ import annotations

from tests.support.api import Api
from tests.support.workflows import basic_workflow


def test_unknown_methods_get_405_with_allow(api: Api) -> None:
    cases = {
        ("TRACE", "/projects"): "GET, HEAD, POST",
        ("DELETE", "/projects"): "GET, HEAD, POST",
        ("PATCH", "/users"): "GET, HEAD, POST",
        ("TRACE", "/../../"): "GET, HEAD",
        ("POST", "/../../static/app.css"): "GET, HEAD",
    }
    for (method, path), allow in cases.items():
        response = api.raw(method, path)
        assert response.status_code == 405, (method, path)
        assert response.headers["allow"] == allow, (method, path)
        assert response.json()["error"]["code"] == "method_not_allowed"


def test_head_answers_wherever_get_does(api: Api) -> None:
    for path in ("/projects", "/meta", "/../../", "/../../healthz", "/../../signin", "/../../docs"):
        get = api.raw("GET", path)
        head = api.raw("HEAD", path)
        assert head.status_code == get.status_code, path
        assert head.content == b"", path
        assert head.headers.get("content-type") == get.headers.get("content-type"), path


def test_schema_invalid_bodies_are_refused_not_coerced(api: Api) -> None:
    refused = api.raw("POST", "/users", json={"username": "zero", "is_admin": 0})
    assert refused.status_code == 422 and "is_admin" in refused.json()["error"]["message"]
    assert [u for u in api.request("GET", "/users")["users"] if u["username"] == "zero"] == []
    dataset_hash, _ = api.dataset_with_units(1)
    project_hash = api.create_project("p", [dataset_hash], workflow=basic_workflow())[
        "project_hash"
    ]
    label_hash = api.tasks(project_hash)[0]["label_hash"]
    row = f"/projects/{project_hash}/label-rows/{label_hash}"
    label = api.raw("PUT", row, json={"labels": {"a": 1}, "version": "0"})
    assert label.status_code == 422 and "version" in label.json()["error"]["message"]
    assert api.get_label_row(project_hash, label_hash)["version"] == 0

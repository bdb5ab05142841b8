"""Who may do what: API keys, project roles, and 404 for other people's projects."""

from __future__ import annotations

import pytest

from stagehook.client import ApiError
from tests.support.api import Api, user_key
from tests.support.workflows import ANNOTATE, REVIEW, basic_workflow


def status_of(call: object) -> int:
    try:
        call()  # type: ignore[operator]
    except ApiError as exc:
        return exc.status
    return 200


def test_roles_limit_actions_to_their_stage_types(api: Api) -> None:
    dataset_hash, _ = api.dataset_with_units(2)
    project_hash = api.create_project("p", [dataset_hash], workflow=basic_workflow())[
        "project_hash"
    ]
    tasks = api.tasks(project_hash)
    ann_id, ann_key = user_key(api, "anna")
    rev_id, rev_key = user_key(api, "rex")
    for user_id, role in ((ann_id, "annotator"), (rev_id, "reviewer")):
        api.request(
            "PUT", f"/projects/{project_hash}/members", json={"user_id": user_id, "role": role}
        )
    with api.as_key(ann_key) as anna, api.as_key(rev_key) as rex:
        # the reviewer cannot submit at Annotate; the annotator can
        with pytest.raises(ApiError) as err:
            rex.act(
                project_hash, ANNOTATE, [{"task_uuid": tasks[0]["task_uuid"], "action": "SUBMIT"}]
            )
        assert err.value.status == 403
        anna.act(project_hash, ANNOTATE, [{"task_uuid": tasks[0]["task_uuid"], "action": "SUBMIT"}])
        # the annotator cannot approve at Review; the reviewer can
        with pytest.raises(ApiError) as err:
            anna.act(
                project_hash, REVIEW, [{"task_uuid": tasks[0]["task_uuid"], "action": "APPROVE"}]
            )
        assert err.value.status == 403
        rex.act(project_hash, REVIEW, [{"task_uuid": tasks[0]["task_uuid"], "action": "APPROVE"}])
        # an annotator cannot change the workflow or webhooks
        assert status_of(lambda: anna.put_workflow(project_hash, basic_workflow())) == 403
        assert (
            status_of(lambda: anna.set_webhook(project_hash, ANNOTATE, "http://x.example/")) == 403
        )
        # an assigned task belongs to its assignee
        anna.act(project_hash, ANNOTATE, [{"task_uuid": tasks[1]["task_uuid"], "action": "ASSIGN"}])
    otto_id, otto_key = user_key(api, "otto")
    api.request(
        "PUT", f"/projects/{project_hash}/members", json={"user_id": otto_id, "role": "annotator"}
    )
    with api.as_key(otto_key) as otto, pytest.raises(ApiError) as err:
        otto.act(project_hash, ANNOTATE, [{"task_uuid": tasks[1]["task_uuid"], "action": "SUBMIT"}])
    assert err.value.status == 409
    assert "assigned to anna" in err.value.message
    # a project admin may override someone else's assignment
    api.act(project_hash, ANNOTATE, [{"task_uuid": tasks[1]["task_uuid"], "action": "SKIP"}])
    assert [t["task_uuid"] for t in api.tasks(project_hash, status="SKIPPED")] == [
        tasks[1]["task_uuid"]
    ]


def test_other_projects_answer_404_not_403(api: Api) -> None:
    dataset_hash, _ = api.dataset_with_units(1)
    project_hash = api.create_project("secret", [dataset_hash], workflow=basic_workflow())[
        "project_hash"
    ]
    _, key = user_key(api, "outsider")
    label_hash = api.tasks(project_hash)[0]["label_hash"]
    with api.as_key(key) as outsider:
        for call in (
            lambda: outsider.get_workflow(project_hash),
            lambda: outsider.tasks(project_hash),
            lambda: outsider.get_label_row(project_hash, label_hash),
            lambda: outsider.act(project_hash, ANNOTATE, [{"task_uuid": "x", "action": "SUBMIT"}]),
            lambda: outsider.request("GET", f"/projects/{project_hash}"),
        ):
            assert status_of(call) == 404
        assert outsider.request("GET", "/projects")["projects"] == []
        # datasets of others are invisible too
        assert (
            status_of(
                lambda: outsider.create_project("p", [dataset_hash], workflow=basic_workflow())
            )
            == 404
        )
        # non-admins cannot create users or keys
        assert status_of(lambda: outsider.request("POST", "/users", json={"username": "x"})) == 403


def test_api_keys_are_required_and_checked(api: Api) -> None:
    assert api.raw("GET", "/projects", headers={"authorization": ""}).status_code == 401
    bad = api.raw("GET", "/projects", headers={"authorization": "Bearer nope"})
    assert bad.status_code == 401
    assert bad.json()["error"]["code"] == "unauthorized"


def test_user_list_is_paginated(api: Api) -> None:
    for name in ("u1", "u2", "u3"):
        api.request("POST", "/users", json={"username": name})
    first = api.request("GET", "/users", params={"limit": 2})
    assert len(first["users"]) == 2 and first["next_cursor"]
    names = [u["username"] for u in api.iter_users(page_size=2)]
    assert names == ["admin", "u1", "u2", "u3"]

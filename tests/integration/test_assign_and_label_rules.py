"""Who may assign tasks to whom, and who may edit labels at which stage."""

from __future__ import annotations

from typing import Any

import pytest

from stagehook.client import ApiError
from tests.support.api import Api
from tests.support.web import WebClient
from tests.support.workflows import ANNOTATE, REVIEW, basic_workflow


@pytest.fixture
def team(api: Api) -> dict[str, Any]:
    dataset_hash, _ = api.dataset_with_units(3)
    project_hash = api.create_project("p", [dataset_hash], workflow=basic_workflow())[
        "project_hash"
    ]
    members = {}
    for role in ("team_manager", "annotator", "reviewer"):
        user = api.new_user(f"{role}-1", password="a long password")
        api.request(
            "PUT",
            f"/projects/{project_hash}/members",
            json={"user_id": user["user_id"], "role": role},
        )
        members[role] = user
    api.new_user("stranger")
    return {"project": project_hash, "tasks": api.tasks(project_hash), **members}


def refusal(call: Any) -> tuple[int, str]:
    with pytest.raises(ApiError) as err:
        call()
    return err.value.status, err.value.message


def test_annotators_and_reviewers_assign_only_to_themselves(api: Api, team: dict[str, Any]) -> None:
    project, task = team["project"], team["tasks"][0]["task_uuid"]
    with api.as_key(team["annotator"]["api_key"]) as anna:

        def assign(who: str | None) -> Any:
            body = {"task_uuid": task, "action": "ASSIGN", "assignee": who}
            return anna.act(project, ANNOTATE, [body])

        status, message = refusal(lambda: assign("ghost-user"))
        assert status == 403 and "only to themselves" in message
        status, _ = refusal(lambda: assign("team_manager-1"))
        assert status == 403
        assert api.tasks(project)[0]["assignee"] is None  # nothing locked
        assign("annotator-1")
        assert api.tasks(project)[0]["assignee"] == "annotator-1"


def test_managers_assign_to_members_who_can_work_there(api: Api, team: dict[str, Any]) -> None:
    project, tasks = team["project"], team["tasks"]
    with api.as_key(team["team_manager"]["api_key"]) as tim:

        def assign(who: str, stage: str = ANNOTATE, i: int = 1) -> Any:
            body = {"task_uuid": tasks[i]["task_uuid"], "action": "ASSIGN", "assignee": who}
            return tim.act(project, stage, [body])

        for who, fragment in (
            ("ghost-user", "no active user"),
            ("stranger", "not a member"),
            ("reviewer-1", "cannot work at ANNOTATE"),
        ):
            status, message = refusal(lambda who=who: assign(who))
            assert status == 422 and fragment in message, (who, message)
        assign("annotator-1")
        assert api.tasks(project)[1]["assignee"] == "annotator-1"


def test_label_editing_follows_the_stage(api: Api, team: dict[str, Any]) -> None:
    project, task = team["project"], team["tasks"][2]
    row = f"/projects/{project}/label-rows/{task['label_hash']}"

    def put(key: str, version: int) -> int:
        with api.as_key(key) as client:
            response = client.raw("PUT", row, json={"labels": {"v": version}, "version": version})
            return response.status_code

    anna, rex, tim = (team[r]["api_key"] for r in ("annotator", "reviewer", "team_manager"))
    assert put(rex, 0) == 403  # at Annotate: annotators and managers edit
    assert put(anna, 0) == 200
    api.act(project, ANNOTATE, [{"task_uuid": task["task_uuid"], "action": "SUBMIT"}])
    # at Review: the annotator no longer edits; the reviewer and managers do
    status = put(anna, 1)
    assert status == 403
    assert put(rex, 1) == 200
    assert put(tim, 2) == 200
    api.act(project, REVIEW, [{"task_uuid": task["task_uuid"], "action": "APPROVE"}])
    # complete: only a project admin corrects labels now
    assert put(tim, 3) == 403
    assert api.raw("PUT", row, json={"labels": {}, "version": 3}).status_code == 200


def test_the_ui_applies_the_same_label_rule(
    api: Api, team: dict[str, Any], server: tuple[str, Any]
) -> None:
    project, task = team["project"], team["tasks"][2]
    api.act(project, ANNOTATE, [{"task_uuid": task["task_uuid"], "action": "SUBMIT"}])
    with WebClient(server[0]) as browser:
        browser.sign_in(username="annotator-1", password="a long password")
        page = f"/projects/{project}/tasks/{task['task_uuid']}"
        shown = browser.get(page).text
        assert "Read only: a annotator cannot change labels" in shown
        assert "Save labels" not in shown
        saved = browser.form(
            page + "/labels", {"version": "0", "labels_json": '{"x": 1}'}, page=page
        )
        assert saved.status_code == 403
        assert "cannot change labels" in saved.text
    assert api.get_label_row(project, task["label_hash"])["version"] == 0

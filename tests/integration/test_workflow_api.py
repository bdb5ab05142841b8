"""The core path over real HTTP against a real database (SQLite file and PostgreSQL)."""

from __future__ import annotations

import json
from typing import Any

import pytest
from sqlalchemy import select

from stagehook.client import ApiError
from stagehook.store.context import Store
from stagehook.store.tables import deliveries, events, task_history
from tests.support.api import Api
from tests.support.workflows import ANNOTATE, COMPLETE, REVIEW, basic_workflow

HOOK = "http://127.0.0.1:9/hook"


def stored_events(store: Store) -> list[dict[str, Any]]:
    with store.db.read() as conn:
        rows = conn.execute(select(events.c.body).order_by(events.c.seq)).all()
    return [json.loads(r.body) for r in rows]


def make_project(api: Api, n: int = 2, **hooks: str) -> tuple[str, list[dict[str, Any]]]:
    dataset_hash, _ = api.dataset_with_units(n)
    project = api.create_project("cats", [dataset_hash], workflow=basic_workflow(**hooks))
    return project["project_hash"], api.tasks(project["project_hash"])


def test_full_path_annotate_review_reject_resubmit_approve_complete(api: Api, store: Store) -> None:
    project_hash, tasks = make_project(api, 2, annotate_webhook=HOOK, complete_webhook=HOOK)
    assert [t["stage_uuid"] for t in tasks] == [ANNOTATE, ANNOTATE]
    assert all(t["status"] == "NEW" for t in tasks)
    first = tasks[0]["task_uuid"]

    api.act(project_hash, ANNOTATE, [{"task_uuid": first, "action": "ASSIGN"}])
    assert api.tasks(project_hash, status="ASSIGNED")[0]["assignee"] == "admin"

    result = api.act(
        project_hash,
        ANNOTATE,
        [{"task_uuid": t["task_uuid"], "action": "SUBMIT"} for t in tasks],
    )
    assert len(result["event_uids"]) == 1
    assert {t["stage_uuid"] for t in api.tasks(project_hash)} == {REVIEW}

    api.act(project_hash, REVIEW, [{"task_uuid": first, "action": "REJECT"}])
    reopened = api.tasks(project_hash, stage_uuid=ANNOTATE)
    assert [(t["task_uuid"], t["status"]) for t in reopened] == [(first, "REOPENED")]

    api.act(project_hash, ANNOTATE, [{"task_uuid": first, "action": "SUBMIT"}])
    done = api.act(
        project_hash,
        REVIEW,
        [{"task_uuid": t["task_uuid"], "action": "APPROVE"} for t in tasks],
    )
    assert len(done["event_uids"]) == 2
    final = api.tasks(project_hash)
    assert {(t["stage_uuid"], t["status"]) for t in final} == {(COMPLETE, "COMPLETED")}

    stored = stored_events(store)
    assert [e["event_type"] for e in stored] == [
        "task_submitted_event",
        "task_submitted_event",
        "task_completed_event",
        "task_completed_event",
    ]
    first_submit = stored[0]
    assert list(first_submit) == [
        "uid",
        "version",
        "source",
        "event_type",
        "event_created_timestamp",
        "payload",
    ]
    assert first_submit["payload"] == {
        "project_hash": project_hash,
        "data_hashes": [t["data_hash"] for t in tasks],
        "label_hashes": [t["label_hash"] for t in tasks],
    }
    assert stored[1]["payload"]["data_hashes"] == [tasks[0]["data_hash"]]
    assert stored[2]["payload"] == {
        "label_hash": tasks[0]["label_hash"],
        "project_hash": project_hash,
        "data_hash": tasks[0]["data_hash"],
    }
    with store.db.read() as conn:
        assert conn.execute(select(deliveries)).all().__len__() == 4
        history = conn.execute(
            select(task_history.c.action).where(task_history.c.task_uuid == first)
        ).scalars()
        assert list(history) == ["CREATE", "ASSIGN", "SUBMIT", "REJECT", "SUBMIT", "APPROVE"]

    detail = api.request("GET", f"/projects/{project_hash}/tasks/{first}")
    assert [h["action"] for h in detail["history"]][-1] == "APPROVE"
    assert detail["history"][-1]["from_stage"] == REVIEW


def test_no_webhook_no_event(api: Api, store: Store) -> None:
    project_hash, tasks = make_project(api, 1)
    api.act(project_hash, ANNOTATE, [{"task_uuid": tasks[0]["task_uuid"], "action": "SUBMIT"}])
    api.act(project_hash, REVIEW, [{"task_uuid": tasks[0]["task_uuid"], "action": "APPROVE"}])
    assert stored_events(store) == []


def test_batch_is_all_or_nothing(api: Api, store: Store) -> None:
    project_hash, tasks = make_project(api, 2, annotate_webhook=HOOK)
    with pytest.raises(ApiError) as err:
        api.act(
            project_hash,
            ANNOTATE,
            [
                {"task_uuid": tasks[0]["task_uuid"], "action": "SUBMIT"},
                {"task_uuid": tasks[1]["task_uuid"], "action": "APPROVE"},
            ],
        )
    assert err.value.status == 409
    assert tasks[1]["task_uuid"] in err.value.message
    assert "APPROVE" in err.value.message
    assert {t["stage_uuid"] for t in api.tasks(project_hash)} == {ANNOTATE}
    assert stored_events(store) == []


def test_templates_and_save_as_template(api: Api) -> None:
    template = api.create_template("standard", basic_workflow())
    listed = api.request("GET", "/workflow-templates")["workflow_templates"]
    assert [t["template_hash"] for t in listed] == [template["template_hash"]]
    got = api.request("GET", f"/workflow-templates/{template['template_hash']}")
    assert got["workflow"]["stages"][1]["uuid"] == ANNOTATE

    dataset_hash, _ = api.dataset_with_units(3)
    project = api.create_project(
        "from template", [dataset_hash], workflow_template_hash=template["template_hash"]
    )
    assert len(api.tasks(project["project_hash"])) == 3
    saved = api.request(
        "POST",
        f"/projects/{project['project_hash']}/workflow/save-as-template",
        json={"title": "copy"},
    )
    assert saved["workflow"]["stages"] == got["workflow"]["stages"]
    api.request("DELETE", f"/workflow-templates/{template['template_hash']}")
    with pytest.raises(ApiError) as err:
        api.request("GET", f"/workflow-templates/{template['template_hash']}")
    assert err.value.status == 404


def test_live_workflow_edits(api: Api) -> None:
    project_hash, _ = make_project(api, 1)
    workflow = api.get_workflow(project_hash)
    stages = workflow["stages"]
    review = next(s for s in stages if s["uuid"] == REVIEW)
    review["title"] = "Second look"
    complete = next(s for s in stages if s["uuid"] == COMPLETE)
    complete["webhook"] = {"url": HOOK}
    edited = api.put_workflow(project_hash, workflow)
    assert next(s for s in edited["stages"] if s["uuid"] == REVIEW)["title"] == "Second look"
    assert next(s for s in edited["stages"] if s["uuid"] == COMPLETE)["webhook"] == {"url": HOOK}

    # deleting the stage that holds the task is refused
    annotate_less = dict(workflow, stages=[s for s in stages if s["uuid"] != ANNOTATE])
    with pytest.raises(ApiError) as err:
        api.put_workflow(project_hash, annotate_less)
    assert err.value.status in (409, 422)

    # changing a stage's type is refused with a message that says so
    retyped = json.loads(json.dumps(workflow))
    next(s for s in retyped["stages"] if s["uuid"] == REVIEW)["stage_type"] = "ANNOTATE"
    next(s for s in retyped["stages"] if s["uuid"] == REVIEW)["pathways"] = [
        {"name": "submit", "destination_uuid": COMPLETE}
    ]
    with pytest.raises(ApiError) as err:
        api.put_workflow(project_hash, retyped)
    assert err.value.status == 409
    assert "cannot change type" in err.value.message

    # deleting the Complete stage is refused
    with pytest.raises(ApiError) as err:
        no_complete = json.loads(json.dumps(workflow))
        no_complete["stages"] = [s for s in no_complete["stages"] if s["uuid"] != COMPLETE]
        api.put_workflow(project_hash, no_complete)
    assert err.value.status in (409, 422)
    assert "COMPLETE" in err.value.message or "Complete" in err.value.message

    # webhook on a Review stage is refused with the documented message
    bad = json.loads(json.dumps(workflow))
    next(s for s in bad["stages"] if s["uuid"] == REVIEW)["webhook"] = {"url": HOOK}
    with pytest.raises(ApiError) as err:
        api.put_workflow(project_hash, bad)
    assert err.value.status == 422
    assert err.value.message == "webhooks can only be added to Annotate and Complete stages"
    with pytest.raises(ApiError) as err:
        api.set_webhook(project_hash, REVIEW, HOOK)
    assert err.value.status == 422
    assert err.value.message == "webhooks can only be added to Annotate and Complete stages"

    # removing the webhook in the editor removes it
    del next(s for s in workflow["stages"] if s["uuid"] == COMPLETE)["webhook"]
    cleared = api.put_workflow(project_hash, workflow)
    assert "webhook" not in next(s for s in cleared["stages"] if s["uuid"] == COMPLETE)


def test_webhook_endpoint_returns_secret_and_keeps_it(api: Api) -> None:
    project_hash, _ = make_project(api, 1)
    hook = api.set_webhook(project_hash, ANNOTATE, HOOK)
    assert hook["url"] == HOOK
    assert hook["signing_secret"].startswith("whsec_")
    again = api.set_webhook(project_hash, ANNOTATE, HOOK + "2")
    assert again["signing_secret"] == hook["signing_secret"]
    wf = api.get_workflow(project_hash)
    assert next(s for s in wf["stages"] if s["uuid"] == ANNOTATE)["webhook"] == {"url": HOOK + "2"}
    api.delete_webhook(project_hash, ANNOTATE)
    with pytest.raises(ApiError) as err:
        api.delete_webhook(project_hash, ANNOTATE)
    assert err.value.status == 404
    with pytest.raises(ApiError) as err:
        api.set_webhook(project_hash, ANNOTATE, "ftp://example.com/x")
    assert err.value.status == 422


def test_label_rows_versioning(api: Api) -> None:
    project_hash, tasks = make_project(api, 1)
    label_hash = tasks[0]["label_hash"]
    row = api.get_label_row(project_hash, label_hash)
    assert row["labels"] == {} and row["version"] == 0
    saved = api.put_label_row(project_hash, label_hash, {"objects": [{"name": "cat"}]}, 0)
    assert saved["version"] == 1
    with pytest.raises(ApiError) as err:
        api.put_label_row(project_hash, label_hash, {"objects": []}, 0)
    assert err.value.status == 409
    assert api.get_label_row(project_hash, label_hash)["labels"] == {"objects": [{"name": "cat"}]}


def test_admin_move_to_complete_fires_event(api: Api, store: Store) -> None:
    project_hash, tasks = make_project(api, 1, complete_webhook=HOOK)
    moved = api.request(
        "POST",
        f"/projects/{project_hash}/tasks/{tasks[0]['task_uuid']}/move",
        json={"stage_uuid": COMPLETE},
    )
    assert moved["task"]["status"] == "COMPLETED"
    assert [e["event_type"] for e in stored_events(store)] == ["task_completed_event"]


def test_pagination_walks_every_task(api: Api) -> None:
    project_hash, _ = make_project(api, 7)
    first = api.request("GET", f"/projects/{project_hash}/tasks", params={"limit": 3})
    assert len(first["tasks"]) == 3 and first["next_cursor"]
    seen = list(api.iter_tasks(project_hash, page_size=3))
    assert len({t["task_uuid"] for t in seen}) == 7


def test_data_units_added_later_become_tasks(api: Api) -> None:
    dataset_hash, _ = api.dataset_with_units(1)
    project = api.create_project("p", [dataset_hash], workflow=basic_workflow())
    api.add_data_units(dataset_hash, [{"title": "late.jpg"}])
    assert len(api.tasks(project["project_hash"])) == 2

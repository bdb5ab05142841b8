"""What the labeling workbench relies on, over HTTP on both backends: the browser's
session on the REST API (CSRF-checked), Submit & next (act and assign the next task in
one request), and a reviewer's comment kept in the task's history."""

from __future__ import annotations

import re
from collections.abc import Iterator

import httpx
import pytest

from stagehook.store.context import Store
from tests.support.api import ADMIN_KEY, Api
from tests.support.workflows import ANNOTATE, REVIEW, basic_workflow

CSRF = re.compile(r'<meta name="csrf-token" content="([^"]+)">')


def _csrf(browser: httpx.Client, path: str = "/projects") -> str:
    found = CSRF.search(browser.get(path).text)
    assert found, "the page carries no CSRF token"
    return found.group(1)


@pytest.fixture
def browser(server: tuple[str, Store]) -> Iterator[httpx.Client]:
    """An HTTP client signed in through the sign-in form, as a browser is."""
    with httpx.Client(base_url=server[0], follow_redirects=True, timeout=30) as client:
        token = _csrf(client, "/signin")
        signed = client.post("/signin", data={"api_key": ADMIN_KEY, "csrf": token})
        assert signed.status_code == 200 and "Sign out" in signed.text
        yield client


@pytest.fixture
def queue(api: Api) -> tuple[str, list[dict[str, str]]]:
    """A project of 3 tasks at Annotate (Annotate -> Review -> Complete)."""
    dataset = api.create_dataset("frames")
    api.add_data_units(dataset["dataset_hash"], [{"title": f"f{i}.jpg"} for i in range(3)])
    project = api.create_project("Queue", [dataset["dataset_hash"]], workflow=basic_workflow())
    return project["project_hash"], api.tasks(project["project_hash"], stage_uuid=ANNOTATE)


def test_the_session_reads_the_api_and_writes_only_with_its_csrf_token(
    browser: httpx.Client, queue: tuple[str, list[dict[str, str]]]
) -> None:
    project, tasks = queue
    row_path = f"/api/v1/projects/{project}/label-rows/{tasks[0]['label_hash']}"
    row = browser.get(row_path)
    assert row.status_code == 200
    body = {"labels": {}, "version": row.json()["version"]}
    refused = browser.put(row_path, json=body)
    assert refused.status_code == 403
    assert "X-CSRF-Token" in refused.json()["error"]["message"]
    saved = browser.put(row_path, json=body, headers={"x-csrf-token": _csrf(browser)})
    assert saved.status_code == 200
    assert saved.json()["version"] == body["version"] + 1


def test_submit_and_next_assigns_the_next_task_and_ends_with_an_empty_queue(
    browser: httpx.Client, api: Api, queue: tuple[str, list[dict[str, str]]]
) -> None:
    project, tasks = queue
    headers = {"x-csrf-token": _csrf(browser), "accept": "application/json"}
    first = tasks[0]["task_uuid"]
    peek = browser.get(f"/projects/{project}/tasks/{first}/next", headers=headers).json()
    assert peek["next"]["task_uuid"] == tasks[1]["task_uuid"]
    assert api.tasks(project, stage_uuid=ANNOTATE)[1]["assignee"] is None  # a peek assigns nothing

    current, walked = first, []
    for _ in range(3):
        moved = browser.post(
            f"/projects/{project}/tasks/{current}/advance",
            json={"action": "SUBMIT"},
            headers=headers,
        )
        assert moved.status_code == 200, moved.text
        walked.append(current)
        following = moved.json()["next"]
        if following is None:
            assert "no more tasks" in moved.json()["message"]
            break
        assert following["image"] == {"url": None}  # title-only units: JSON labels, no image
        by_uuid = {t["task_uuid"]: t for t in api.tasks(project, stage_uuid=ANNOTATE)}
        assert by_uuid[following["task_uuid"]]["assignee"] == "admin"
        assert by_uuid[following["task_uuid"]]["status"] == "ASSIGNED"
        current = following["task_uuid"]
    assert walked == [t["task_uuid"] for t in tasks]
    assert len(api.tasks(project, stage_uuid=REVIEW)) == 3


def test_a_reject_needs_a_comment_and_the_history_keeps_it(
    browser: httpx.Client, api: Api, queue: tuple[str, list[dict[str, str]]]
) -> None:
    project, tasks = queue
    task = tasks[0]["task_uuid"]
    api.act(project, ANNOTATE, [{"task_uuid": task, "action": "SUBMIT"}])
    headers = {"x-csrf-token": _csrf(browser), "accept": "application/json"}
    path = f"/projects/{project}/tasks/{task}/advance"
    bare = browser.post(path, json={"action": "REJECT", "comment": "  "}, headers=headers)
    assert bare.status_code == 422
    assert "comment" in bare.json()["error"]["message"]

    note = "The box misses the mirror"
    rejected = browser.post(path, json={"action": "REJECT", "comment": note}, headers=headers)
    assert rejected.status_code == 200, rejected.text
    detail = api.request("GET", f"/projects/{project}/tasks/{task}")
    assert detail["status"] == "REOPENED" and detail["stage_uuid"] == ANNOTATE
    assert detail["history"][-1]["action"] == "REJECT"
    assert detail["history"][-1]["comment"] == note

    # The editor shows the comment when the task is opened again.
    page = browser.get(f"/projects/{project}/tasks/{task}")
    assert note in page.text

    # The REST actions API takes the comment too.
    api.act(project, ANNOTATE, [{"task_uuid": task, "action": "SUBMIT"}])
    second = "Still missing"
    api.act(project, REVIEW, [{"task_uuid": task, "action": "REJECT", "comment": second}])
    history = api.request("GET", f"/projects/{project}/tasks/{task}")["history"]
    assert [h["comment"] for h in history if h["action"] == "REJECT"] == [note, second]


@pytest.mark.settings(media_origins=["https://bucket.example.com"])
def test_the_task_page_may_show_images_from_the_media_origins_only(
    browser: httpx.Client, queue: tuple[str, list[dict[str, str]]]
) -> None:
    project, tasks = queue
    page = browser.get(f"/projects/{project}/tasks/{tasks[0]['task_uuid']}")
    policy = page.headers["content-security-policy"]
    images = next(p for p in policy.split(";") if p.strip().startswith("img-src"))
    assert images.split()[1:] == ["'self'", "data:", "blob:", "https://bucket.example.com"]
    assert "style-src-attr 'unsafe-inline'" in policy  # the annotation library's colours
    assert "script-src 'self';" in policy
    other = browser.get("/projects")
    assert "bucket.example.com" not in other.headers["content-security-policy"]

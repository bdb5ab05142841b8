"""Every page is usable on a 390 px wide phone: nothing wider than the screen except the
workflow graph, which scrolls inside its own box."""

from __future__ import annotations

import pytest
from playwright.sync_api import Page, expect

from tests.support import ui
from tests.support.api import Api
from tests.support.browser import PHONE, Server, Shot
from tests.support.receiver import Receiver
from tests.support.workflows import ANNOTATE, basic_workflow

pytestmark = pytest.mark.e2e


def _fits(page: Page) -> None:
    overflow = page.evaluate("document.documentElement.scrollWidth - window.innerWidth")
    culprits = page.evaluate(
        """[...document.querySelectorAll('main *')]
        .filter(e => e.getBoundingClientRect().right > window.innerWidth + 1)
        .slice(0, 5).map(e => `${e.tagName}.${e.className}`)"""
    )
    assert overflow <= 0, f"{page.url} is {overflow}px wider than the screen: {culprits}"


@pytest.mark.parametrize("viewport", [PHONE], ids=["phone"])
def test_pages_fit_a_phone(page: Page, server: Server, api: Api, shot: Shot) -> None:
    with Receiver() as rx:
        dataset_hash, _ = api.dataset_with_units(3, title="phone frames")
        project = api.create_project(
            "Phone check",
            [dataset_hash],
            workflow=basic_workflow(annotate_webhook=rx.url("/hook")),
        )
        project_hash = project["project_hash"]
        task = api.tasks(project_hash)[0]
        api.act(project_hash, ANNOTATE, [{"task_uuid": task["task_uuid"], "action": "SUBMIT"}])
        rx.wait_for(1, path="/hook")

        page.goto("/signin")
        _fits(page)
        shot("sign-in")
        ui.sign_in_with_key(page)
        pages = {
            "projects": "/projects",
            "overview": f"/projects/{project_hash}",
            "queue": f"/projects/{project_hash}/stages/{ANNOTATE}",
            "task": f"/projects/{project_hash}/tasks/{task['task_uuid']}",
            "deliveries": f"/projects/{project_hash}/deliveries",
            "delivery": f"/projects/{project_hash}/deliveries/1",
            "new-project": "/projects/new",
            "settings": "/settings",
            "users": "/admin/users",
        }
        for name, path in pages.items():
            page.goto(path)
            _fits(page)
            shot(name)

        page.goto(f"/projects/{project_hash}/workflow")
        _fits(page)
        # On a phone the stages are also listed as buttons under the graph.
        stages = page.get_by_role("group", name="Stages", exact=True)
        stages.get_by_role("button", name="Annotate", exact=True).click()
        popup = page.locator("dialog[open]")
        expect(popup.get_by_role("heading", name="Webhook")).to_be_visible()
        box = popup.bounding_box()
        assert box is not None and box["x"] >= 0 and box["x"] + box["width"] <= PHONE["width"]
        shot("workflow-pop-up", full_page=False)

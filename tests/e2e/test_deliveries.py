"""The deliveries page as an operator uses it when a receiver was down."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Page, expect

from tests.support import ui
from tests.support.api import Api
from tests.support.browser import Server, Shot
from tests.support.receiver import Receiver, Response
from tests.support.workflows import ANNOTATE, basic_workflow

pytestmark = pytest.mark.e2e

#: The e2e schedule (0, 0.2, 0.4) makes three attempts before a delivery has failed.
ATTEMPTS = 3


def _project(api: Api, url: str, units: int) -> tuple[str, list[str]]:
    dataset_hash, _ = api.dataset_with_units(units)
    project = api.create_project(
        "Receiver outage", [dataset_hash], workflow=basic_workflow(annotate_webhook=url)
    )
    project_hash = project["project_hash"]
    return project_hash, [t["task_uuid"] for t in api.tasks(project_hash)]


def _submit(api: Api, project_hash: str, task_uuid: str) -> None:
    api.act(project_hash, ANNOTATE, [{"task_uuid": task_uuid, "action": "SUBMIT"}])


def test_failed_delivery_is_retried_from_the_ui_and_succeeds(
    page: Page, server: Server, api: Api, shot: Shot
) -> None:
    with Receiver() as rx:
        rx.script("/hook", [Response(status=503)] * ATTEMPTS)
        project_hash, tasks = _project(api, rx.url("/hook"), 1)
        _submit(api, project_hash, tasks[0])

        ui.sign_in_with_key(page)
        page.goto(f"/projects/{project_hash}/deliveries")
        row = page.locator('tr[data-event-type="task_submitted_event"]')
        # The page reloads itself while the delivery is retrying.
        expect(row.locator("[data-status]")).to_have_text("failed", timeout=15_000)
        expect(row.locator("[data-attempts]")).to_have_text(str(ATTEMPTS))
        expect(row).to_contain_text("HTTP 503")
        health = page.get_by_role("article", name="Webhook of Annotate")
        expect(health.locator("dt:has-text('Failures in a row') + dd")).to_have_text(str(ATTEMPTS))
        shot("failed")

        row.get_by_role("link").click()
        expect(page.locator("[data-attempt]")).to_have_count(ATTEMPTS)
        expect(page.locator('[data-attempt="3"]')).to_contain_text("HTTP 503")
        page.get_by_role("button", name="Retry now").click()
        expect(page.get_by_text("queued to be sent again now")).to_be_visible()
        expect(page.locator("[data-status]").first).to_have_text("delivered", timeout=15_000)
        expect(page.locator("[data-attempt]")).to_have_count(ATTEMPTS + 1)
        expect(page.locator(f'[data-attempt="{ATTEMPTS + 1}"]')).to_contain_text("HTTP 200")
        shot("retried")
        uids = {r.webhook_id for r in rx.requests("/hook")}
        assert len(uids) == 1, "every attempt, the retry included, carries the same event uid"
        assert len(rx.requests("/hook")) == ATTEMPTS + 1


def test_disabled_webhook_is_re_enabled_and_its_failures_recovered(
    page: Page, server: Server, api: Api, shot: Shot
) -> None:
    with Receiver() as rx:
        project_hash, tasks = _project(api, rx.url("/hook"), 2)
        ui.sign_in_with_key(page)
        page.goto(f"/projects/{project_hash}/deliveries")
        health = page.get_by_role("article", name="Webhook of Annotate")
        health.get_by_role("button", name="Disable").click()
        expect(health).to_contain_text("disabled")
        expect(health).to_contain_text("disabled by a user")

        for task_uuid in tasks:
            _submit(api, project_hash, task_uuid)
        page.reload()
        failed = page.locator("tbody [data-status]", has_text="failed")
        expect(failed).to_have_count(2, timeout=15_000)
        assert rx.requests("/hook") == []
        shot("disabled")

        page.get_by_label("Status").select_option("failed")
        page.get_by_label("Event type").select_option("task_submitted_event")
        page.get_by_role("button", name="Filter").click()
        expect(page).to_have_url(re.compile(r"status=failed"))
        expect(page.locator("tbody tr")).to_have_count(2)

        health.get_by_role("button", name="Re-enable").click()
        expect(health).to_contain_text("healthy")
        health.get_by_role("button", name="Recover").click()
        expect(page.get_by_text("2 failed deliveries queued to be sent again.")).to_be_visible()
        rx.wait_for(2, path="/hook")
        page.goto(f"/projects/{project_hash}/deliveries")
        expect(page.locator("tbody [data-status]", has_text="delivered")).to_have_count(2)
        shot("recovered")

"""The seed's story in a browser: a project from a template, webhooks set in the editor,
a task driven from Annotate to Complete, and the deliveries page showing both events."""

from __future__ import annotations

import json
import re
from typing import Any

import pytest
from playwright.sync_api import Page, expect

from stagehook.receiver.verify import verify
from tests.support import ui
from tests.support.api import Api
from tests.support.browser import Server, Shot
from tests.support.receiver import Received, Receiver
from tests.support.waiting import wait_until
from tests.support.workflows import basic_workflow

pytestmark = pytest.mark.e2e


def _events(receiver: Receiver, path: str, data_hash: str) -> list[dict[str, Any]]:
    """Real events about ``data_hash`` (test events carry made-up hashes)."""
    found = []
    for request in receiver.requests(path):
        body = json.loads(request.body)
        payload = body["payload"]
        if data_hash in payload.get("data_hashes", []) or payload.get("data_hash") == data_hash:
            found.append(body)
    return found


def _requests_about(receiver: Receiver, path: str, uid: str) -> list[Received]:
    return [r for r in receiver.requests(path) if r.webhook_id == uid]


def test_task_from_annotate_to_complete_fires_both_webhooks(
    page: Page, server: Server, api: Api, shot: Shot
) -> None:
    _, data_hashes = api.dataset_with_units(2, title="street frames")
    api.create_template("Annotate and review", basic_workflow())

    with Receiver() as annotate_rx, Receiver() as complete_rx:
        annotate_url = annotate_rx.url("/annotate")
        complete_url = complete_rx.url("/complete")

        ui.sign_in_with_key(page)
        shot("projects")

        # Create a project from the template.
        page.get_by_role("link", name="New project").click()
        page.get_by_label("Title").fill("Street scenes")
        page.get_by_label("street frames").check()
        page.get_by_label("Start from").select_option(label="Annotate and review (template)")
        shot("new-project")
        page.get_by_role("button", name="Create project").click()
        expect(page.get_by_role("heading", name="Street scenes")).to_be_visible()
        project_hash = page.url.rstrip("/").rsplit("/", 1)[-1]
        annotate_row = page.get_by_role("row", name=re.compile("^Annotate"))
        expect(annotate_row).to_contain_text("new 2")
        shot("overview")

        # The seed's steps, per stage: click the stage, the pencil under "Webhook", type the
        # URL, Enter, Save (the pop-up's own Save: the pop-up covers the editor bar).
        page.get_by_role("link", name="Workflow").click()
        popup = ui.set_webhook_url(page, "Annotate", annotate_url)
        expect(popup.locator("[data-webhook-url]")).to_have_text(annotate_url)
        expect(popup).to_contain_text("Save the workflow to create this webhook's signing secret")
        shot("annotate-webhook-set")
        ui.save_workflow(page)
        stored = {s["title"]: s.get("webhook") for s in api.get_workflow(project_hash)["stages"]}
        assert stored["Annotate"] == {"url": annotate_url}

        # Saved: the same pop-up now reveals the secret and sends a test event.
        popup.get_by_role("button", name="Reveal").click()
        secret = popup.locator("[data-secret]")
        expect(secret).to_have_text(re.compile(r"^whsec_[A-Za-z0-9+/=]+$"))
        annotate_secret = secret.inner_text()
        popup.get_by_role("button", name="Send test event").click()
        expect(popup.locator("[data-test-result]")).to_have_text(
            re.compile(r"Delivered: HTTP 200 in [\d.]+ ms")
        )
        shot("secret-and-test-event")
        page.once("dialog", lambda dialog: dialog.accept())
        popup.get_by_role("button", name="Rotate").click()
        expect(secret).not_to_have_text(annotate_secret)
        expect(secret).to_have_text(re.compile(r"^whsec_[A-Za-z0-9+/=]+$"))
        annotate_secret = secret.inner_text()
        ui.close_popup(page)

        ui.set_webhook_url(page, "Complete", complete_url)
        ui.save_workflow(page)
        expect(page.locator("dialog[open] [data-webhook-url]")).to_have_text(complete_url)
        expect(page.locator("[data-status]")).to_have_text(re.compile("Saved|All changes saved"))
        ui.close_popup(page)
        stored = {s["title"]: s.get("webhook") for s in api.get_workflow(project_hash)["stages"]}
        assert stored["Complete"] == {"url": complete_url}

        # Drive a task: labels, assign to me, submit, all in the browser.
        page.get_by_role("link", name="Overview").click()
        page.get_by_role("link", name="Annotate", exact=True).click()
        expect(page.get_by_role("heading", name=re.compile("^Annotate"))).to_be_visible()
        shot("annotate-queue")
        page.locator("tbody tr").first.get_by_role("link").click()
        task_url = page.url
        data_hash = page.locator("dt:has-text('Data hash') + dd code").inner_text()
        assert data_hash in data_hashes
        labels = page.get_by_label("Label row JSON")
        labels.fill('{"objects": [{"name": "car", "bbox": [1, 2, 3, 4]}]}')
        page.get_by_role("button", name="Save labels").click()
        expect(page.get_by_text("Labels saved.")).to_be_visible()
        page.get_by_role("button", name="Assign to me").click()
        expect(page.get_by_text("1 task(s) assigned")).to_be_visible()
        shot("task-assigned")
        page.get_by_role("button", name="Submit").click()
        expect(page.get_by_text("1 task(s) submitted")).to_be_visible()

        wait_until(lambda: _events(annotate_rx, "/annotate", data_hash), what="the submit event")
        [submitted] = _events(annotate_rx, "/annotate", data_hash)
        assert submitted["event_type"] == "task_submitted_event"
        assert submitted["payload"]["project_hash"] == project_hash
        assert submitted["payload"]["data_hashes"] == [data_hash]
        [request] = _requests_about(annotate_rx, "/annotate", submitted["uid"])
        verify(annotate_secret, request.headers, request.body)  # the secret the UI revealed

        # Review: approve it from the queue; the Complete webhook fires.
        page.goto(f"/projects/{project_hash}")
        page.get_by_role("link", name="Review", exact=True).click()
        row = page.locator("tbody tr", has_text=data_hash[:8])
        row.get_by_role("button", name=re.compile("^Approve")).click()
        expect(page.get_by_text("1 task(s) approved")).to_be_visible()
        shot("approved")
        wait_until(lambda: _events(complete_rx, "/complete", data_hash), what="the complete event")
        [completed] = _events(complete_rx, "/complete", data_hash)
        assert completed["event_type"] == "task_completed_event"
        assert completed["payload"]["data_hash"] == data_hash
        page.goto(task_url)
        expect(page.locator("[data-task-status]")).to_have_text("completed")
        expect(page.get_by_label("Label row JSON")).to_contain_text('"car"')

        # The deliveries page shows both, each with its attempt.
        page.goto(f"/projects/{project_hash}/deliveries")
        for event_type in ("task_submitted_event", "task_completed_event"):
            delivery = page.locator(f'tr[data-event-type="{event_type}"]')
            expect(delivery.locator("[data-status]")).to_have_text("delivered")
            expect(delivery.locator("[data-attempts]")).to_have_text("1")
        health = page.get_by_role("article", name="Webhook of Annotate")
        expect(health).to_contain_text("healthy")
        shot("deliveries")
        page.locator('tr[data-event-type="task_submitted_event"]').get_by_role("link").click()
        expect(page.locator("[data-event-uid]")).to_have_text(submitted["uid"])
        attempt = page.locator('[data-attempt="1"]')
        expect(attempt).to_contain_text("HTTP 200")
        expect(attempt).to_contain_text("webhook-signature: v1,")
        assert json.loads(page.locator("[data-body]").inner_text()) == submitted
        shot("delivery-detail")

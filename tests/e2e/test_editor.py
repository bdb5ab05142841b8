"""The workflow editor's promises: webhook only where it belongs, the server's reasons
shown inline, keyboard use, and nothing stored until Save."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import Dialog, Page, expect

from tests.support import ui
from tests.support.api import Api
from tests.support.browser import Server, Shot
from tests.support.workflows import basic_workflow, router_workflow

pytestmark = pytest.mark.e2e


def _open_workflow(page: Page, api: Api, workflow: dict[str, object]) -> str:
    project_hash = str(api.create_project("Editor", [], workflow=workflow)["project_hash"])
    ui.sign_in_with_key(page)
    page.goto(f"/projects/{project_hash}/workflow")
    expect(ui.stage_node(page, "Start")).to_be_visible()
    return project_hash


def test_only_annotate_and_complete_pop_ups_have_a_webhook_section(
    page: Page, server: Server, api: Api, shot: Shot
) -> None:
    _open_workflow(page, api, router_workflow(archive=True))
    shot("router-graph")
    # Pathways are labelled, router branches with their percentages.
    for label in ("next", "submit", "approve", "reject", "review 50%", "complete 25%"):
        expect(page.locator(".edge-label", has_text=label)).to_have_count(1)

    for title in ("Annotate", "Complete"):
        popup = ui.open_stage(page, title)
        expect(popup.get_by_role("heading", name="Webhook")).to_be_visible()
        expect(popup.get_by_role("button", name="Edit webhook URL")).to_be_visible()
        ui.close_popup(page)

    for title in ("Start", "Review", "Sample for review", "Archive"):
        popup = ui.open_stage(page, title)
        expect(popup.get_by_role("heading", name="Webhook")).to_have_count(0)
        expect(popup.get_by_role("button", name="Edit webhook URL")).to_have_count(0)
        if title == "Review":
            shot("review-pop-up")
        popup.press("Escape")  # the keyboard closes a pop-up too
        expect(page.locator("dialog[open]")).to_have_count(0)


def test_invalid_url_shows_the_servers_reason_and_escape_cancels(
    page: Page, server: Server, api: Api, shot: Shot
) -> None:
    _open_workflow(page, api, basic_workflow())
    # Keyboard only: Tab to the Annotate stage and open it with Enter.
    ui.stage_node(page, "Annotate").focus()
    page.keyboard.press("Enter")
    popup = page.locator("dialog[open]")
    popup.get_by_role("button", name="Edit webhook URL").click()
    field = popup.get_by_label("Webhook URL")
    field.fill("ftp://example.com/hook")
    field.press("Enter")
    error = popup.get_by_role("alert")
    expect(error).to_have_text("invalid webhook URL: scheme must be http or https, got 'ftp'")
    expect(field).to_have_attribute("aria-invalid", "true")
    expect(field).to_be_focused()
    shot("invalid-url")

    field.fill("https://user:secret@example.com/hook")
    field.press("Enter")
    expect(error).to_contain_text("must not contain credentials")

    field.press("Escape")
    expect(popup).to_be_visible()  # Escape cancels the edit, not the pop-up
    expect(popup.locator("[data-webhook-url]")).to_have_text("No webhook")
    expect(popup.get_by_role("button", name="Edit webhook URL")).to_be_focused()
    ui.close_popup(page)
    expect(page.get_by_role("button", name="Save", exact=True)).to_be_disabled()


def test_unsaved_changes_are_not_kept(page: Page, server: Server, api: Api, shot: Shot) -> None:
    project_hash = _open_workflow(page, api, basic_workflow())
    before = api.get_workflow(project_hash)

    popup = ui.set_webhook_url(page, "Annotate", "https://hooks.example.com/stagehook")
    expect(popup.locator("[data-webhook-url]")).to_have_text("https://hooks.example.com/stagehook")
    popup.get_by_label("Title").fill("Label frames")
    ui.close_popup(page)
    expect(ui.stage_node(page, "Label frames")).to_be_visible()
    expect(page.locator("[data-status]")).to_have_text("Unsaved changes")
    shot("unsaved")

    # Leaving asks first; agreeing drops the draft.
    asked: list[str] = []

    def leave(dialog: Dialog) -> None:
        asked.append(dialog.type)
        dialog.accept()

    page.once("dialog", leave)
    page.reload()
    assert asked == ["beforeunload"]
    expect(ui.stage_node(page, "Annotate")).to_be_visible()
    expect(ui.stage_node(page, "Label frames")).to_have_count(0)
    popup = ui.open_stage(page, "Annotate")
    expect(popup.locator("[data-webhook-url]")).to_have_text("No webhook")
    assert api.get_workflow(project_hash) == before
    shot("after-reload")


def test_graph_edits_are_checked_by_the_server_on_save(
    page: Page, server: Server, api: Api, shot: Shot
) -> None:
    project_hash = _open_workflow(page, api, basic_workflow())
    # Add a Review stage; it is not connected yet, so saving is refused with the reason.
    page.get_by_label("Add stage").select_option("REVIEW")
    page.get_by_role("button", name="Add", exact=True).click()
    popup = page.locator("dialog[open]")
    expect(popup.get_by_role("heading", name="Review 2")).to_be_visible()
    expect(popup).to_contain_text("No pathway leads here yet")
    ui.close_popup(page)
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator("[data-error]")).to_have_text("stages not reachable from START: Review 2")
    shot("refused")

    # Connect it: Annotate submits to the new Review 2, which approves to Complete.
    popup = ui.open_stage(page, "Annotate")
    popup.get_by_label("Destination of pathway submit").select_option(label="Review 2")
    ui.close_popup(page)
    # The old Review is now unreachable: delete it.
    page.once("dialog", lambda d: d.accept())
    ui.open_stage(page, "Review").get_by_role("button", name="Delete stage").click()
    expect(ui.stage_node(page, "Review")).to_have_count(0)
    ui.save_workflow(page)
    expect(page.locator("[data-error]")).to_be_hidden()
    titles = [s["title"] for s in api.get_workflow(project_hash)["stages"]]
    assert titles == ["Start", "Annotate", "Complete", "Review 2"]
    expect(page.locator(".edge-label", has_text=re.compile("^approve$"))).to_have_count(1)
    shot("saved")


def test_the_editor_makes_templates_and_new_projects(
    page: Page, server: Server, api: Api, shot: Shot
) -> None:
    dataset_hash, _ = api.dataset_with_units(1, title="clips")
    ui.sign_in_with_key(page)

    # A template built in the editor.
    page.get_by_role("link", name="Templates").click()
    page.get_by_role("link", name="New template").click()
    page.get_by_label("Title of the new template").fill("Label only")
    ui.open_stage(page, "Annotate").get_by_label("Title").fill("Label")
    ui.close_popup(page)
    page.get_by_role("button", name="Save template").click()
    expect(page.get_by_role("heading", name="Label only", level=1)).to_be_visible()
    shot("template")
    [template] = api.request("GET", "/workflow-templates")["workflow_templates"]
    assert [s["title"] for s in template["workflow"]["stages"]] == ["Start", "Label", "Complete"]

    # Edited in place with Save (from the stage's pop-up), no copies pile up.
    page.get_by_label("Title", exact=True).first.fill("Label only v2")
    ui.open_stage(page, "Label").get_by_label("Title").fill("Draw boxes")
    ui.save_workflow(page)
    expect(page.get_by_role("heading", name="Label only v2", level=1)).to_be_visible()
    ui.close_popup(page)
    [template] = api.request("GET", "/workflow-templates")["workflow_templates"]
    assert template["title"] == "Label only v2"
    assert [s["title"] for s in template["workflow"]["stages"]][1] == "Draw boxes"
    # "Save as new" keeps this one and adds another.
    page.get_by_label("Title", exact=True).first.fill("Label only copy")
    page.get_by_role("button", name="Save as new").click()
    expect(page.get_by_role("heading", name="Label only copy", level=1)).to_be_visible()
    titles = [t.title for t in api.iter_templates()]
    assert titles == ["Label only v2", "Label only copy"]
    page.goto(f"/templates/{template['template_hash']}")

    # A new project from that template, edited (with a webhook) before it is created.
    page.goto("/projects/new")
    page.get_by_label("Title").fill("Clips")
    page.get_by_label("clips").check()
    page.get_by_label("Start from").select_option(label="Label only v2 (template)")
    expect(ui.stage_node(page, "Draw boxes")).to_be_visible()
    ui.set_webhook_url(page, "Draw boxes", "https://hooks.example.com/clips")
    ui.close_popup(page)
    shot("new-project-edited")
    page.get_by_role("button", name="Create project").click()
    expect(page.get_by_role("heading", name="Clips", level=1)).to_be_visible()
    project_hash = page.url.rsplit("/", 1)[-1]
    stages = api.get_workflow(project_hash)["stages"]
    label = next(s for s in stages if s["title"] == "Draw boxes")
    assert label["webhook"] == {"url": "https://hooks.example.com/clips"}
    assert dataset_hash in api.request("GET", f"/projects/{project_hash}")["dataset_hashes"]

    # "Save as template" on the project offers to keep its webhooks.
    page.goto(f"/projects/{project_hash}/workflow")
    page.get_by_label("Template title").fill("Clips with hooks")
    page.get_by_label("Keep the webhooks").check()
    shot("save-as-template-keeping-webhooks")
    page.get_by_role("button", name="Save as template").click()
    expect(page.get_by_role("heading", name="Clips with hooks", level=1)).to_be_visible()
    kept = next(t for t in api.iter_templates() if t.title == "Clips with hooks")
    hooked = next(s for s in kept.workflow["stages"] if s["title"] == "Draw boxes")
    assert hooked["webhook"] == {"url": "https://hooks.example.com/clips"}

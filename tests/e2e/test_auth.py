"""Signing in and out, sessions, CSRF, users, roles, and the settings page."""

from __future__ import annotations

import re

import pytest
from playwright.sync_api import BrowserContext, Page, expect

from tests.support import ui
from tests.support.api import Api
from tests.support.browser import ADMIN_KEY, EGRESS, Server, Shot
from tests.support.workflows import basic_workflow

pytestmark = pytest.mark.e2e


def test_sign_in_sign_out_and_session_cookie(
    page: Page, context: BrowserContext, server: Server, api: Api, shot: Shot
) -> None:
    page.goto("/settings")
    expect(page).to_have_url(re.compile(r"/signin\?next=/settings$"))
    shot("sign-in")

    ui.sign_in_with_password(page, "admin", "not the password", go=False)
    expect(page.get_by_role("alert")).to_have_text("wrong username or password")
    page.get_by_text("Sign in with an API key").click()
    page.get_by_label("API key").fill("shk_wrong")
    page.get_by_role("button", name="Sign in with key").click()
    expect(page.get_by_role("alert")).to_have_text("the API key is not valid")
    page.get_by_label("API key").fill(ADMIN_KEY)
    page.get_by_role("button", name="Sign in with key").click()
    expect(page).to_have_url(re.compile(r"/settings$"))  # back where they were going

    [cookie] = [c for c in context.cookies() if c["name"] == "stagehook_session"]
    assert cookie["httpOnly"] is True
    assert cookie["sameSite"] == "Lax"

    # The settings page lists the same source addresses as GET /api/v1/meta.
    meta = api.meta()
    assert meta["webhook_source_addresses"] == EGRESS
    addresses = page.locator("[data-addresses] li").all_inner_texts()
    assert addresses == meta["webhook_source_addresses"]
    expect(page.get_by_label("All addresses, one per line")).to_have_value("\n".join(EGRESS))
    shot("settings")

    # The bootstrap admin sets a password, signs out, and signs in with it.
    page.get_by_label("New password", exact=True).fill("a long passphrase")
    page.get_by_label("New password again").fill("a long passphrase")
    page.get_by_role("button", name="Set password").click()
    expect(page.get_by_text("Your password is set")).to_be_visible()
    page.get_by_role("button", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/signin$"))
    page.goto("/projects")
    expect(page).to_have_url(re.compile(r"/signin\?next=/projects$"))
    ui.sign_in_with_password(page, "admin", "a long passphrase")
    expect(page.get_by_role("heading", name="Projects", exact=True)).to_be_visible()


def test_forms_without_the_csrf_token_are_refused(page: Page, server: Server) -> None:
    ui.sign_in_with_key(page)
    refused = page.request.post("/datasets", form={"title": "forged"})
    assert refused.status == 403
    assert "reload the page" in refused.text()
    forged_json = page.request.post(
        "/ui/webhook-url",
        data={"url": "https://example.com"},
        headers={"accept": "application/json", "x-csrf-token": "guess"},
    )
    assert forged_json.status == 403
    assert forged_json.json()["error"]["code"] == "forbidden"
    page.goto("/datasets")
    expect(page.get_by_text("forged")).to_have_count(0)


def test_admin_creates_a_user_who_works_within_their_role(
    page: Page, server: Server, api: Api, shot: Shot
) -> None:
    project_hash = api.create_project("Shared", [], workflow=basic_workflow())["project_hash"]
    ui.sign_in_with_key(page)
    page.get_by_role("link", name="Users").click()
    new_user = page.get_by_role("region", name="New user")
    new_user.get_by_label("Username").fill("ana")
    new_user.get_by_label("Password").fill("ana's passphrase")
    new_user.get_by_role("button", name="Create user").click()
    expect(page.get_by_text("User ana created.")).to_be_visible()

    page.get_by_label("For user").select_option(label="ana")
    page.get_by_label("Key name").fill("ana's script")
    page.get_by_role("button", name="Create API key").click()
    key = page.get_by_label("The new API key").input_value()
    assert key.startswith("shk_")
    with Api(server.url, key) as as_ana:
        assert as_ana.request("GET", "/projects")["projects"] == []
    shot("users")

    page.goto(f"/projects/{project_hash}")
    page.get_by_label("Username").fill("ana")
    page.get_by_label("Role").select_option("annotator")
    page.get_by_role("button", name="Add or change").click()
    expect(page.get_by_text("ana is now annotator on this project.")).to_be_visible()

    page.get_by_role("button", name="Sign out").click()
    ui.sign_in_with_password(page, "ana", "ana's passphrase")
    expect(page.get_by_role("link", name="Users")).to_have_count(0)
    page.get_by_role("link", name="Shared").click()
    page.get_by_role("link", name="Workflow").click()
    # An annotator sees the graph but cannot change it.
    popup = ui.open_stage(page, "Annotate")
    expect(popup.get_by_role("button", name="Edit webhook URL")).to_have_count(0)
    expect(popup.get_by_label("Title")).to_be_disabled()
    expect(page.get_by_role("button", name="Save", exact=True)).to_have_count(0)
    shot("annotator-workflow")
    page.goto("/admin/users")
    expect(page.get_by_role("alert")).to_have_text("only an admin can do this")

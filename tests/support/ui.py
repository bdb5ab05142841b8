"""Steps a person takes in the browser, shared by the e2e tests."""

from __future__ import annotations

import re

from playwright.sync_api import Locator, Page, expect

from tests.support.browser import ADMIN_KEY


def sign_in_with_key(page: Page, key: str = ADMIN_KEY) -> None:
    page.goto("/signin")
    page.get_by_text("Sign in with an API key").click()
    page.get_by_label("API key").fill(key)
    page.get_by_role("button", name="Sign in with key").click()
    expect(page.get_by_role("heading", name="Projects", exact=True)).to_be_visible()


def sign_in_with_password(page: Page, username: str, password: str, *, go: bool = True) -> None:
    """``go=False`` signs in on the sign-in page already open (keeping where it leads)."""
    if go:
        page.goto("/signin")
    page.get_by_label("Username").fill(username)
    page.get_by_label("Password", exact=True).fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()


def stage_node(page: Page, title: str) -> Locator:
    return page.locator(f'svg [data-stage-title="{title}"]')


def open_stage(page: Page, title: str) -> Locator:
    """Click the stage in the graph; returns its pop-up."""
    stage_node(page, title).click()
    popup = page.locator("dialog[open]")
    expect(popup.get_by_role("heading", name=title, level=2)).to_be_visible()
    return popup


def set_webhook_url(page: Page, stage_title: str, url: str) -> Locator:
    """The seed's steps: click the stage, the pencil under "Webhook", type, Enter."""
    popup = open_stage(page, stage_title)
    webhook = popup.locator("section", has=page.get_by_role("heading", name="Webhook"))
    webhook.get_by_role("button", name="Edit webhook URL").click()
    field = webhook.get_by_label("Webhook URL")
    field.fill(url)
    field.press("Enter")
    return popup


def close_popup(page: Page) -> None:
    page.locator("dialog[open]").get_by_role("button", name="Done").click()
    expect(page.locator("dialog[open]")).to_have_count(0)


def save_workflow(page: Page) -> None:
    """Click Save: the open pop-up's (it covers the editor bar), else the editor bar's."""
    popup = page.locator("dialog[open]")
    scope = popup if popup.count() else page
    scope.get_by_role("button", name="Save", exact=True).click()
    expect(page.locator("[data-status]")).to_have_text(re.compile("Saved|All changes saved"))

"""Browser sessions end when they must: each way, on both backends, across processes."""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from stagehook.clock import FakeClock
from stagehook.store.context import Store
from tests.support.api import ADMIN_KEY, Api
from tests.support.processes import free_port, kill, start_api, worker_env
from tests.support.waiting import wait_until
from tests.support.web import WebClient
from tests.support.workflows import ANNOTATE, basic_workflow


@pytest.fixture
def base_url(server: tuple[str, Store]) -> str:
    return server[0]


@pytest.fixture
def browser(base_url: str) -> Iterator[WebClient]:
    with WebClient(base_url) as client:
        yield client


def test_revoking_the_key_ends_the_session_it_opened(
    api: Api, browser: WebClient, base_url: str
) -> None:
    dataset_hash, _ = api.dataset_with_units(1)
    project_hash = api.create_project("p", [dataset_hash], workflow=basic_workflow())[
        "project_hash"
    ]
    anna = api.new_user("anna")
    api.request(
        "PUT",
        f"/projects/{project_hash}/members",
        json={"user_id": anna["user_id"], "role": "annotator"},
    )
    assert browser.sign_in(key=anna["api_key"]).status_code == 303
    assert browser.is_signed_in()
    queue = f"/projects/{project_hash}/stages/{ANNOTATE}"
    assert browser.get(queue).status_code == 200
    token = browser.csrf(queue)

    api.raw("DELETE", f"/api-keys/{anna['key_id']}").raise_for_status()

    assert api.as_key(anna["api_key"]).raw("GET", "/projects").status_code == 401
    task = api.tasks(project_hash)[0]
    assign = browser.post(
        f"{queue}/actions", data={"csrf": token, "one": f"{task['task_uuid']}:ASSIGN"}
    )
    assert assign.status_code == 303 and assign.headers["location"].startswith("/signin")
    assert api.tasks(project_hash)[0]["assignee"] is None
    assert browser.get(queue).status_code == 303


def test_signing_out_kills_the_old_cookie_value(browser: WebClient, base_url: str) -> None:
    browser.sign_in(key=ADMIN_KEY)
    old = browser.cookie
    browser.form("/signout", {})
    assert not browser.is_signed_in()
    with WebClient(base_url, cookies={"stagehook_session": old}) as replay:
        assert not replay.is_signed_in()


def test_password_reset_ends_sessions_and_own_change_keeps_this_one(
    api: Api, base_url: str
) -> None:
    api.new_user("rex", password="first password")
    with (
        WebClient(base_url) as laptop,
        WebClient(base_url) as phone,
        WebClient(base_url) as admin,
    ):
        laptop.sign_in(username="rex", password="first password")
        phone.sign_in(username="rex", password="first password")
        assert laptop.is_signed_in() and phone.is_signed_in()
        # rex changes his password on the laptop: the phone's session ends, not this one
        changed = laptop.form(
            "/settings/password",
            {"current": "first password", "password": "second pass", "confirm": "second pass"},
        )
        assert changed.status_code == 303
        assert laptop.is_signed_in() and not phone.is_signed_in()
        # an admin resets it: the laptop's session ends too
        admin.sign_in(key=ADMIN_KEY)
        users = api.request("GET", "/users")["users"]
        rex_id = next(u["user_id"] for u in users if u["username"] == "rex")
        admin.form(f"/admin/users/{rex_id}/password", {"password": "third pass"}, "/admin/users")
        assert not laptop.is_signed_in()


def test_deactivation_ends_sessions_and_keys(api: Api, browser: WebClient) -> None:
    otto = api.new_user("otto", password="otto's password")
    browser.sign_in(username="otto", password="otto's password")
    assert browser.is_signed_in()
    api.request("POST", f"/users/{otto['user_id']}/deactivate")
    assert not browser.is_signed_in()
    assert api.as_key(otto["api_key"]).raw("GET", "/projects").status_code == 401
    refused = browser.sign_in(username="otto", password="otto's password")
    assert refused.status_code == 401 and "deactivated" in refused.text
    api.request("POST", f"/users/{otto['user_id']}/reactivate")
    assert browser.sign_in(username="otto", password="otto's password").status_code == 303


def test_a_role_change_applies_to_the_next_request(api: Api, browser: WebClient) -> None:
    project_hash = api.create_project("p", [], workflow=basic_workflow())["project_hash"]
    tim = api.new_user("tim")
    members = f"/projects/{project_hash}/members"
    api.request("PUT", members, json={"user_id": tim["user_id"], "role": "team_manager"})
    api.set_webhook(project_hash, ANNOTATE, "http://127.0.0.1:9/hook")
    browser.sign_in(key=tim["api_key"])
    reveal = f"/projects/{project_hash}/stages/{ANNOTATE}/webhook/secret"
    headers = {"x-csrf-token": browser.csrf(), "accept": "application/json"}
    assert browser.post(reveal, headers=headers).status_code == 200
    api.request("PUT", members, json={"user_id": tim["user_id"], "role": "annotator"})
    assert browser.post(reveal, headers=headers).status_code == 403


def test_sessions_are_listed_and_revocable_on_the_users_page(api: Api, base_url: str) -> None:
    api.new_user("ivy", password="ivy's password")
    with WebClient(base_url) as one, WebClient(base_url) as two:
        one.sign_in(username="ivy", password="ivy's password")
        two.sign_in(username="ivy", password="ivy's password")
        page = one.get("/settings").text
        assert page.count("data-session=") == 2 and "this session" in page
        [target] = re.findall(r'action="/settings/sessions/([^/"]+)/end"', page)
        one.form(f"/settings/sessions/{target}/end", {})
        assert one.is_signed_in() and not two.is_signed_in()


@pytest.mark.settings(session_idle_timeout=600, session_absolute_timeout=3600)
class TestTimeouts:
    @pytest.fixture
    def clock(self) -> FakeClock:
        return FakeClock(start=1_800_000_000.0)

    def test_idle_timeout(self, browser: WebClient, clock: FakeClock) -> None:
        browser.sign_in(key=ADMIN_KEY)
        clock.advance(500)
        assert browser.is_signed_in()  # activity moves the idle deadline
        clock.advance(500)
        assert browser.is_signed_in()
        clock.advance(601)
        assert not browser.is_signed_in()

    def test_absolute_timeout(self, browser: WebClient, clock: FakeClock) -> None:
        browser.sign_in(key=ADMIN_KEY)
        for _ in range(7):
            clock.advance(500)
            assert browser.is_signed_in()
        clock.advance(200)
        assert not browser.is_signed_in()


@pytest.mark.slow
def test_sessions_work_across_api_processes(
    db_url: str, tmp_path: Path, server: tuple[str, Store]
) -> None:
    """Sign in on one process, use and end the session on another."""
    env = worker_env(db_url, tmp_path)
    port = free_port()
    other = start_api(env, tmp_path / "api2.log", port)
    try:
        other_url = f"http://127.0.0.1:{port}"

        def up() -> bool:
            try:
                with WebClient(other_url) as probe:
                    return probe.get("/healthz").status_code == 200
            except httpx.TransportError:
                return False

        wait_until(up, timeout=60)
        with WebClient(server[0]) as here:
            here.sign_in(key=ADMIN_KEY)
            with WebClient(other_url, cookies={"stagehook_session": here.cookie}) as there:
                assert there.is_signed_in()
                there.form("/signout", {})
            assert not here.is_signed_in()
    finally:
        kill(other)

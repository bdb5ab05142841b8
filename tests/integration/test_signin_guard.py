"""The sign-in throttle (per username, per address, in the database) and Secure cookies."""

from __future__ import annotations

import pytest

from stagehook.clock import FakeClock
from stagehook.store.context import Store
from tests.support.api import ADMIN_KEY, Api
from tests.support.web import COOKIE, WebClient


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=1_800_000_000.0)


def _set_cookie(response: object) -> str:
    [cookie] = [
        c
        for c in response.headers.get_list("set-cookie")  # type: ignore[attr-defined]
        if c.startswith(COOKIE + "=")
    ]
    return str(cookie).lower()


@pytest.mark.settings(signin_max_failures_per_user=5, signin_window_seconds=600)
def test_wrong_passwords_lock_the_username_out(
    api: Api, server: tuple[str, Store], clock: FakeClock
) -> None:
    api.new_user("mia", password="the right one")
    with WebClient(server[0]) as browser:
        statuses = [
            browser.sign_in(username="mia", password=f"guess {i}").status_code for i in range(8)
        ]
        assert statuses == [401] * 5 + [429] * 3
        locked = browser.sign_in(username="mia", password="the right one")
        assert locked.status_code == 429  # the right password does not get in either
        assert 1 <= int(locked.headers["retry-after"]) <= 600
        assert "too many failed sign-ins" in locked.text
        # another account from the same address is not locked (its limit is higher)
        api.new_user("noa", password="noa's password")
        assert browser.sign_in(username="noa", password="noa's password").status_code == 303
        clock.advance(601)
        assert browser.sign_in(username="mia", password="the right one").status_code == 303


@pytest.mark.settings(
    signin_max_failures_per_user=100,
    signin_max_failures_per_address=4,
    trusted_proxies=["127.0.0.1"],
)
def test_one_address_is_throttled_across_usernames_and_keys(server: tuple[str, Store]) -> None:
    with WebClient(server[0], headers={"x-forwarded-for": "203.0.113.7"}) as attacker:
        statuses = [
            attacker.sign_in(username=f"user{i}", password="x" * 8).status_code for i in range(3)
        ]
        statuses.append(attacker.sign_in(key="shk_guess").status_code)
        statuses.append(attacker.sign_in(key=ADMIN_KEY).status_code)
        assert statuses == [401, 401, 401, 401, 429]
    with WebClient(server[0], headers={"x-forwarded-for": "198.51.100.9"}) as other:
        assert other.sign_in(key=ADMIN_KEY).status_code == 303


def test_cookie_is_not_secure_over_plain_http(server: tuple[str, Store]) -> None:
    with WebClient(server[0], headers={"x-forwarded-proto": "https"}) as browser:
        # the forwarded header comes from an address that is not a trusted proxy
        cookie = _set_cookie(browser.sign_in(key=ADMIN_KEY))
        assert "httponly" in cookie and "samesite=lax" in cookie
        assert "secure" not in cookie


@pytest.mark.settings(trusted_proxies=["127.0.0.0/8"])
def test_cookie_is_secure_behind_a_trusted_https_proxy(server: tuple[str, Store]) -> None:
    with WebClient(server[0], headers={"x-forwarded-proto": "https"}) as browser:
        assert "; secure" in _set_cookie(browser.sign_in(key=ADMIN_KEY))
    with WebClient(server[0], headers={"x-forwarded-proto": "http"}) as browser:
        assert "secure" not in _set_cookie(browser.sign_in(key=ADMIN_KEY))


@pytest.mark.settings(cookie_secure=True)
def test_cookie_secure_can_be_forced(server: tuple[str, Store]) -> None:
    with WebClient(server[0]) as browser:
        assert "; secure" in _set_cookie(browser.sign_in(key=ADMIN_KEY))

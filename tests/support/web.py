"""A cookie-carrying HTTP client for the web UI: sign in through the form, post forms."""

from __future__ import annotations

import re
from typing import Any

import httpx

CSRF = re.compile(r'name="csrf" value="([^"]+)"')
COOKIE = "stagehook_session"


class WebClient(httpx.Client):
    def __init__(self, base_url: str, **kwargs: Any) -> None:
        super().__init__(base_url=base_url, follow_redirects=False, timeout=30, **kwargs)

    def csrf(self, path: str = "/signin") -> str:
        page = self.get(path)
        match = CSRF.search(page.text)
        assert match, f"no CSRF token on {path}: {page.status_code}"
        return match.group(1)

    def sign_in(self, *, key: str = "", username: str = "", password: str = "") -> httpx.Response:
        form = {"csrf": self.csrf(), "api_key": key, "username": username, "password": password}
        return self.post("/signin", data=form)

    def form(self, path: str, data: dict[str, Any], page: str = "/settings") -> httpx.Response:
        """POST a form with the CSRF token from a page the user can see."""
        return self.post(path, data={"csrf": self.csrf(page), **data})

    def is_signed_in(self) -> bool:
        response = self.get("/settings")
        if response.status_code == 303:
            assert response.headers["location"].startswith("/signin")
            return False
        assert response.status_code == 200, response.status_code
        return True

    @property
    def cookie(self) -> str:
        return str(self.cookies[COOKIE])

"""The test-side API client: the real Python client plus raw requests for bad input."""

from __future__ import annotations

from typing import Any

import httpx

from stagehook.client import Client

#: The admin key the integration tests' server is bootstrapped with.
ADMIN_KEY = "shk_test_admin_key"


class Api(Client):
    def raw(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        return self.http.request(method, path, **kwargs)

    def as_key(self, key: str) -> Api:
        return Api(str(self.http.base_url).rstrip("/").removesuffix("/api/v1"), key)

    def dataset_with_units(self, n: int, title: str = "frames") -> tuple[str, list[str]]:
        dataset = self.create_dataset(title)
        units = self.add_data_units(
            dataset["dataset_hash"], [{"title": f"frame-{i:04d}.jpg"} for i in range(n)]
        )
        return dataset["dataset_hash"], [u["data_hash"] for u in units]

    def new_user(
        self, username: str, *, password: str | None = None, is_admin: bool = False
    ) -> dict[str, str]:
        """A user with one API key: ``{user_id, username, key_id, api_key}``."""
        body: dict[str, Any] = {"username": username, "is_admin": is_admin}
        if password is not None:
            body["password"] = password
        user = self.request("POST", "/users", json=body)
        key = self.request("POST", "/api-keys", json={"user_id": user["user_id"], "name": "k"})
        return {
            "user_id": user["user_id"],
            "username": username,
            "key_id": key["key_id"],
            "api_key": key["api_key"],
        }


def user_key(api: Api, username: str, *, is_admin: bool = False) -> tuple[str, str]:
    user = api.request("POST", "/users", json={"username": username, "is_admin": is_admin})
    key = api.request("POST", "/api-keys", json={"user_id": user["user_id"], "name": "k"})
    return user["user_id"], key["api_key"]

"""HTTP for the client: one error type, path templates, page iteration.

Every operation names its route exactly as the server declares it (``"/projects/{project_hash}"``),
so a test can compare the client against the app's route table.
"""

from __future__ import annotations

from collections.abc import Iterator
from types import TracebackType
from typing import Any, Self, TypeVar
from urllib.parse import quote

import httpx
from pydantic import BaseModel

M = TypeVar("M", bound=BaseModel)


class ApiError(Exception):
    """Any answer of 400 or more: ``status``, the stable ``code`` and the server's ``message``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


def raise_for_error(response: httpx.Response) -> None:
    if response.status_code < 400:
        return
    try:
        error = response.json()["error"]
        code, message = str(error["code"]), str(error["message"])
    except (ValueError, KeyError, TypeError):
        code, message = "http_error", response.text
    raise ApiError(response.status_code, code, message)


class Transport:
    def __init__(self, base_url: str, api_key: str, *, timeout: float = 30.0) -> None:
        #: The server's base URL (the REST API is under ``/api/v1``).
        self.url = base_url.rstrip("/")
        self.http = httpx.Client(
            base_url=base_url.rstrip("/") + "/api/v1",
            headers={"authorization": f"Bearer {api_key}"},
            timeout=timeout,
        )

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        self.http.close()

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        """A raw call (``path`` below ``/api/v1``): the decoded JSON, or None when empty."""
        response = self.http.request(method, path, **kwargs)
        raise_for_error(response)
        return response.json() if response.content else None

    @staticmethod
    def path(route: str, at: dict[str, str]) -> str:
        """``route`` is the server's path template; ``at`` fills it in (URL-quoted)."""
        return route.format(**{k: quote(v, safe="") for k, v in at.items()})

    def call(self, method: str, route: str, at: dict[str, str], /, **kwargs: Any) -> Any:
        path = self.path(route, at)
        if "params" in kwargs:
            kwargs["params"] = {k: v for k, v in kwargs["params"].items() if v is not None}
        return self.request(method, path, **kwargs)

    def one(
        self, model: type[M], method: str, route: str, /, at: dict[str, str], **kwargs: Any
    ) -> M:
        return model.model_validate(self.call(method, route, at, **kwargs))

    def pages(
        self, model: type[M], route: str, key: str, at: dict[str, str], /, **query: Any
    ) -> Iterator[M]:
        """Every item of a paginated list, fetching the next page only when needed."""
        cursor: str | None = None
        while True:
            page = self.call("GET", route, at, params={**query, "cursor": cursor})
            for item in page[key]:
                yield model.model_validate(item)
            cursor = page.get("next_cursor")
            if not cursor:
                return

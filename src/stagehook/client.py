"""Python client for the stagehook REST API.

from stagehook.client import Client
with Client("http://127.0.0.1:8000", api_key) as sh:
    ds = sh.create_dataset("frames")
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from types import TracebackType
from typing import Any, BinaryIO

import httpx


class ApiError(Exception):
    """A 4xx/5xx answer: ``status``, the stable ``code`` and the server's ``message``."""

    def __init__(self, status: int, code: str, message: str) -> None:
        super().__init__(f"{status} {code}: {message}")
        self.status = status
        self.code = code
        self.message = message


class Client:
    def __init__(self, base_url: str, api_key: str, *, timeout: float = 30.0) -> None:
        self.http = httpx.Client(
            base_url=base_url.rstrip("/") + "/api/v1",
            headers={"authorization": f"Bearer {api_key}"},
            timeout=timeout,
        )

    def __enter__(self) -> Client:
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

    @staticmethod
    def _check(response: httpx.Response) -> None:
        if response.status_code >= 400:
            try:
                error = response.json()["error"]
                raise ApiError(response.status_code, error["code"], error["message"])
            except (ValueError, KeyError, TypeError):
                raise ApiError(response.status_code, "http_error", response.text) from None

    def request(self, method: str, path: str, **kwargs: Any) -> Any:
        response = self.http.request(method, path, **kwargs)
        self._check(response)
        return response.json() if response.content else None

    def paginate(self, path: str, key: str, **params: Any) -> Iterator[dict[str, Any]]:
        cursor: str | None = None
        while True:
            query = {k: v for k, v in params.items() if v is not None}
            if cursor:
                query["cursor"] = cursor
            page = self.request("GET", path, params=query)
            yield from page[key]
            cursor = page.get("next_cursor")
            if not cursor:
                return

    # datasets
    def create_dataset(self, title: str) -> dict[str, Any]:
        return dict(self.request("POST", "/datasets", json={"title": title}))

    def add_data_units(self, dataset_hash: str, items: Sequence[dict[str, Any]]) -> list[Any]:
        body = self.request("POST", f"/datasets/{dataset_hash}/data-units", json={"items": items})
        return list(body["data_units"])

    def upload_images(
        self, dataset_hash: str, files: Sequence[tuple[str, bytes | BinaryIO]]
    ) -> list[dict[str, Any]]:
        """Upload images (name, bytes or an open binary file); file objects are streamed."""
        parts = [("files", (name, content)) for name, content in files]
        body = self.request("POST", f"/datasets/{dataset_hash}/uploads", files=parts)
        return list(body["data_units"])

    def data_units(self, dataset_hash: str, *, sha256: str | None = None) -> Iterator[Any]:
        path = f"/datasets/{dataset_hash}/data-units"
        return self.paginate(path, "data_units", sha256=sha256, limit=500)

    def export(
        self,
        project_hash: str,
        format: str = "encord",
        *,
        stage_uuid: str | None = None,
        status: str | None = None,
    ) -> Iterator[bytes]:
        """The export file, chunk by chunk, as the server streams it."""
        params = {"format": format, "stage_uuid": stage_uuid, "status": status}
        query = {k: v for k, v in params.items() if v is not None}
        with self.http.stream("GET", f"/projects/{project_hash}/export", params=query) as response:
            if response.status_code >= 400:
                response.read()
                self._check(response)
            yield from response.iter_bytes()

    # ontologies
    def create_ontology(self, title: str, structure: dict[str, Any]) -> dict[str, Any]:
        body = {"title": title, "structure": structure}
        return dict(self.request("POST", "/ontologies", json=body))

    def get_ontology(self, ontology_hash: str) -> dict[str, Any]:
        return dict(self.request("GET", f"/ontologies/{ontology_hash}"))

    def put_ontology(
        self, ontology_hash: str, title: str, structure: dict[str, Any]
    ) -> dict[str, Any]:
        body = {"title": title, "structure": structure}
        return dict(self.request("PUT", f"/ontologies/{ontology_hash}", json=body))

    # templates and projects
    def create_template(self, title: str, workflow: dict[str, Any]) -> dict[str, Any]:
        body = {"title": title, "workflow": workflow}
        return dict(self.request("POST", "/workflow-templates", json=body))

    def create_project(
        self,
        title: str,
        dataset_hashes: Sequence[str],
        *,
        workflow: dict[str, Any] | None = None,
        workflow_template_hash: str | None = None,
        ontology_hash: str | None = None,
    ) -> dict[str, Any]:
        body: dict[str, Any] = {"title": title, "dataset_hashes": list(dataset_hashes)}
        if workflow is not None:
            body["workflow"] = workflow
        if workflow_template_hash is not None:
            body["workflow_template_hash"] = workflow_template_hash
        if ontology_hash is not None:
            body["ontology_hash"] = ontology_hash
        return dict(self.request("POST", "/projects", json=body))

    def get_workflow(self, project_hash: str) -> dict[str, Any]:
        return dict(self.request("GET", f"/projects/{project_hash}/workflow"))

    def put_workflow(self, project_hash: str, workflow: dict[str, Any]) -> dict[str, Any]:
        return dict(self.request("PUT", f"/projects/{project_hash}/workflow", json=workflow))

    def set_webhook(self, project_hash: str, stage_uuid: str, url: str) -> dict[str, Any]:
        path = f"/projects/{project_hash}/workflow/stages/{stage_uuid}/webhook"
        return dict(self.request("PUT", path, json={"url": url}))

    def delete_webhook(self, project_hash: str, stage_uuid: str) -> None:
        self.request("DELETE", f"/projects/{project_hash}/workflow/stages/{stage_uuid}/webhook")

    # tasks
    def tasks(
        self, project_hash: str, *, stage_uuid: str | None = None, status: str | None = None
    ) -> list[dict[str, Any]]:
        path = f"/projects/{project_hash}/tasks"
        return list(self.paginate(path, "tasks", stage_uuid=stage_uuid, status=status, limit=500))

    def act(
        self, project_hash: str, stage_uuid: str, actions: Sequence[dict[str, Any]]
    ) -> dict[str, Any]:
        path = f"/projects/{project_hash}/workflow/stages/{stage_uuid}/actions"
        return dict(self.request("POST", path, json={"actions": list(actions)}))

    def get_label_row(self, project_hash: str, label_hash: str) -> dict[str, Any]:
        return dict(self.request("GET", f"/projects/{project_hash}/label-rows/{label_hash}"))

    def put_label_row(
        self, project_hash: str, label_hash: str, labels: dict[str, Any], version: int
    ) -> dict[str, Any]:
        path = f"/projects/{project_hash}/label-rows/{label_hash}"
        return dict(self.request("PUT", path, json={"labels": labels, "version": version}))

    # deployment
    def meta(self) -> dict[str, Any]:
        return dict(self.request("GET", "/meta"))

"""Shared steps for the delivery tests: a project whose stages point at a receiver."""

from __future__ import annotations

from typing import Any

from tests.support.api import Api
from tests.support.waiting import wait_until
from tests.support.workflows import ANNOTATE, basic_workflow


def project_with_hook(
    api: Api, url: str, n: int = 1, *, complete_url: str | None = None
) -> tuple[str, list[dict[str, Any]], str]:
    """Returns (project_hash, tasks, annotate signing secret)."""
    dataset_hash, _ = api.dataset_with_units(n)
    project = api.create_project(
        "p",
        [dataset_hash],
        workflow=basic_workflow(annotate_webhook=url, complete_webhook=complete_url),
    )
    project_hash = project["project_hash"]
    secret = api.request("GET", f"/projects/{project_hash}/workflow/stages/{ANNOTATE}/webhook")[
        "signing_secret"
    ]
    return project_hash, api.tasks(project_hash), secret


def submit(api: Api, project_hash: str, tasks: list[dict[str, Any]]) -> str:
    result = api.act(
        project_hash, ANNOTATE, [{"task_uuid": t["task_uuid"], "action": "SUBMIT"} for t in tasks]
    )
    return str(result["event_uids"][0])


def deliveries(api: Api, project_hash: str, **params: Any) -> list[dict[str, Any]]:
    return list(
        api.request("GET", f"/projects/{project_hash}/deliveries", params=params)["deliveries"]
    )


def wait_status(api: Api, project_hash: str, status: str, timeout: float = 15.0) -> dict[str, Any]:
    def check() -> dict[str, Any] | None:
        rows = deliveries(api, project_hash)
        return rows[0] if rows and rows[0]["status"] == status else None

    return dict(wait_until(check, timeout, f"a delivery with status {status}"))

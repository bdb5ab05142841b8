"""Client operations on datasets, tasks, stage actions and label rows."""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from stagehook.client.models import ActionsResult, Dataset, DataUnit, LabelRow, MoveResult, Task
from stagehook.client.transport import Transport

_TASKS = "/projects/{project_hash}/tasks"
_LABEL_ROW = "/projects/{project_hash}/label-rows/{label_hash}"


class WorkApi(Transport):
    # datasets
    def create_dataset(self, title: str) -> Dataset:
        return self.one(Dataset, "POST", "/datasets", at={}, json={"title": title})

    def iter_datasets(self, *, page_size: int = 100) -> Iterator[Dataset]:
        return self.pages(Dataset, "/datasets", "datasets", {}, limit=page_size)

    def add_data_units(self, dataset_hash: str, items: Sequence[dict[str, Any]]) -> list[DataUnit]:
        """``items``: ``{"title", "uri"?, "metadata"?}`` each."""
        body = self.call(
            "POST",
            "/datasets/{dataset_hash}/data-units",
            {"dataset_hash": dataset_hash},
            json={"items": list(items)},
        )
        return [DataUnit.model_validate(unit) for unit in body["data_units"]]

    def iter_data_units(
        self, dataset_hash: str, *, sha256: str | None = None, page_size: int = 100
    ) -> Iterator[DataUnit]:
        """``sha256`` finds the units of one uploaded image."""
        route = "/datasets/{dataset_hash}/data-units"
        params = {"dataset_hash": dataset_hash}
        return self.pages(DataUnit, route, "data_units", params, sha256=sha256, limit=page_size)

    # tasks
    def iter_tasks(
        self,
        project_hash: str,
        *,
        stage_uuid: str | None = None,
        status: str | None = None,
        page_size: int = 500,
    ) -> Iterator[Task]:
        return self.pages(
            Task,
            _TASKS,
            "tasks",
            {"project_hash": project_hash},
            stage_uuid=stage_uuid,
            status=status,
            limit=page_size,
        )

    def tasks(
        self, project_hash: str, *, stage_uuid: str | None = None, status: str | None = None
    ) -> list[Task]:
        """All of ``iter_tasks`` at once."""
        return list(self.iter_tasks(project_hash, stage_uuid=stage_uuid, status=status))

    def get_task(self, project_hash: str, task_uuid: str) -> Task:
        """One task with its ``history``."""
        params = {"project_hash": project_hash, "task_uuid": task_uuid}
        return self.one(Task, "GET", _TASKS + "/{task_uuid}", at=params)

    def move_task(self, project_hash: str, task_uuid: str, stage_uuid: str) -> MoveResult:
        """Project admins only: put a task at any stage (fires that stage's events)."""
        params = {"project_hash": project_hash, "task_uuid": task_uuid}
        route = _TASKS + "/{task_uuid}/move"
        return self.one(MoveResult, "POST", route, at=params, json={"stage_uuid": stage_uuid})

    def act(
        self, project_hash: str, stage_uuid: str, actions: Sequence[dict[str, Any]]
    ) -> ActionsResult:
        """``actions``: ``{"task_uuid", "action", "assignee"?}`` each; all apply or none."""
        return self.one(
            ActionsResult,
            "POST",
            "/projects/{project_hash}/workflow/stages/{stage_uuid}/actions",
            at={"project_hash": project_hash, "stage_uuid": stage_uuid},
            json={"actions": list(actions)},
        )

    # label rows
    def get_label_row(self, project_hash: str, label_hash: str) -> LabelRow:
        params = {"project_hash": project_hash, "label_hash": label_hash}
        return self.one(LabelRow, "GET", _LABEL_ROW, at=params)

    def put_label_row(
        self, project_hash: str, label_hash: str, labels: dict[str, Any], version: int
    ) -> LabelRow:
        """``version`` is the one you read: a concurrent save in between answers 409."""
        params = {"project_hash": project_hash, "label_hash": label_hash}
        body = {"labels": labels, "version": version}
        return self.one(LabelRow, "PUT", _LABEL_ROW, at=params, json=body)

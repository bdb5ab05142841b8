"""What the REST API answers, as pydantic models.

Unknown fields are kept (``extra="allow"``), so a newer server never breaks an older
client. Models also read like the JSON they came from (``task["task_uuid"]``), so code
written against plain dictionaries keeps working.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from pydantic import BaseModel, ConfigDict, Field


class Record(BaseModel):
    model_config = ConfigDict(extra="allow")

    def __getitem__(self, name: str) -> Any:
        try:
            return getattr(self, name)
        except AttributeError:
            raise KeyError(name) from None

    def get(self, name: str, default: Any = None) -> Any:
        return getattr(self, name, default)

    def __eq__(self, other: object) -> bool:
        """Equal to the JSON object it was read from, too."""
        if isinstance(other, Mapping):
            return self.model_dump(exclude_unset=True) == dict(other)
        return super().__eq__(other)


class Dataset(Record):
    dataset_hash: str
    title: str
    created_by: str | None = None
    created_at: float | None = None


class DataUnit(Record):
    data_hash: str
    dataset_hash: str | None = None
    title: str
    uri: str | None = None
    metadata: dict[str, Any] | None = None
    mime_type: str | None = None
    width: int | None = None
    height: int | None = None
    sha256: str | None = None
    size_bytes: int | None = None
    created_at: float | None = None


class ProjectRef(Record):
    project_hash: str
    title: str


class Ontology(Record):
    ontology_hash: str
    title: str
    description: str = ""
    #: ``{"objects": [...], "classifications": [...]}`` with the hashes filled in.
    structure: dict[str, Any]
    created_at: float | None = None
    last_edited_at: float | None = None
    #: Projects labeling with it (single reads, create and update).
    projects: list[ProjectRef] | None = None


class WorkflowTemplate(Record):
    template_hash: str
    title: str
    #: The workflow document (``{"stages": [...]}``), the API's ``Workflow`` schema.
    workflow: dict[str, Any]
    #: The ontology projects made from it label with, if any.
    ontology_hash: str | None = None
    created_at: float | None = None


class Project(Record):
    project_hash: str
    title: str
    created_at: float | None = None
    workflow_version: int | None = None
    dataset_hashes: list[str] = Field(default_factory=list)
    workflow: dict[str, Any] | None = None
    ontology_hash: str | None = None
    #: Your role in the project (``GET /projects/{p}`` only).
    your_role: str | None = None


class Webhook(Record):
    webhook_id: str
    project_hash: str
    stage_uuid: str
    url: str
    enabled: bool
    disabled_reason: str | None = None
    failing_since: float | None = None
    created_at: float | None = None
    #: Present on the answers of set, get, rotate, enable and disable.
    signing_secret: str | None = None
    consecutive_failures: int | None = None
    circuit_open: bool | None = None
    last_success_at: float | None = None
    last_failure_at: float | None = None


class TaskHistoryEntry(Record):
    task_uuid: str
    at: float
    actor: str | None = None
    action: str
    from_stage: str | None = None
    to_stage: str | None = None
    from_status: str | None = None
    to_status: str | None = None


class Task(Record):
    task_uuid: str
    data_hash: str
    label_hash: str
    stage_uuid: str
    status: str
    assignee: str | None = None
    #: ``get_task`` only: every transition, oldest first.
    history: list[TaskHistoryEntry] | None = None


class ActionsResult(Record):
    tasks: list[Task]
    event_uids: list[str]


class MoveResult(Record):
    task: Task
    event_uids: list[str]


class LabelRow(Record):
    label_hash: str
    data_hash: str
    project_hash: str
    labels: dict[str, Any]
    version: int
    updated_at: float | None = None


class Attempt(Record):
    attempt_no: int
    started_at: float
    duration_ms: float | None = None
    status_code: int | None = None
    error_class: str | None = None
    error: str | None = None


class Delivery(Record):
    id: int
    event_uid: str
    event_type: str
    stage_uuid: str
    webhook_id: str | None = None
    url: str
    status: str
    attempts: int
    next_attempt_at: float | None = None
    created_at: float
    completed_at: float | None = None
    last_status_code: int | None = None
    last_error: str | None = None
    attempts_log: list[Attempt] = Field(default_factory=list)
    #: ``get_delivery`` and ``retry_delivery``: the exact bytes every attempt sends.
    body: str | None = None


class Recovered(Record):
    requeued: int


class TestSend(Record):
    __test__ = False  # not a pytest class

    url: str
    event_uid: str
    event_type: str
    success: bool
    status_code: int | None = None
    duration_ms: float | None = None
    error_class: str | None = None
    error: str | None = None
    response_excerpt: str | None = None


class User(Record):
    user_id: str
    username: str
    is_admin: bool


class UserActive(Record):
    user_id: str
    username: str
    active: bool


class ApiKey(Record):
    key_id: str
    user_id: str
    name: str
    #: The key itself: shown only in this answer.
    api_key: str


class Membership(Record):
    project_hash: str
    user_id: str
    role: str


class Meta(Record):
    deployment: str
    egress_cidrs: list[str]
    webhook_source_addresses: list[str] = Field(default_factory=list)
    event_source: str
    version: str

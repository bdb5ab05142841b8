"""What responses expose: one ``…Public`` model per shape a route answers with.

Each route names its model (``response_model=``), so storage fields never leak (a row's
``seq`` or a webhook's previous secret are simply not fields here) and a client generated
from ``/openapi.json`` gets real types. A field the store adds reaches clients only once
it is added here.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel

from stagehook.store.access import Role
from stagehook.store.outbox.records import DeliveryStatus
from stagehook.workflow.stages import TaskStatus, Workflow


class Page(BaseModel):
    #: Pass it as ``cursor`` for the next page; None on the last one.
    next_cursor: str | None


# ------------------------------------------------------------------ datasets
class DatasetPublic(BaseModel):
    dataset_hash: str
    title: str
    created_by: str
    created_at: float


class DatasetsPage(Page):
    datasets: list[DatasetPublic]


class DataUnitPublic(BaseModel):
    data_hash: str
    dataset_hash: str
    title: str
    uri: str | None
    metadata: dict[str, Any] | None
    created_at: float
    #: what an uploaded image's file is (None for a unit added by URI, unless given)
    sha256: str | None
    mime_type: str | None
    size_bytes: int | None
    width: int | None
    height: int | None


class DataUnitsPublic(BaseModel):
    data_units: list[DataUnitPublic]


class DataUnitsPage(Page):
    data_units: list[DataUnitPublic]


# ------------------------------------------------------------------ uploads and ontologies
class ProjectRef(BaseModel):
    project_hash: str
    title: str


class OntologyPublic(BaseModel):
    ontology_hash: str
    title: str
    description: str
    structure: dict[str, Any]
    created_at: float
    last_edited_at: float
    #: Projects labeling with this ontology (on single reads, create and update).
    projects: list[ProjectRef] | None = None


class OntologiesPage(Page):
    ontologies: list[OntologyPublic]


class UploadedUnitPublic(BaseModel):
    data_hash: str
    title: str
    mime_type: str
    width: int
    height: int
    sha256: str
    size_bytes: int


class UploadedUnitsPublic(BaseModel):
    data_units: list[UploadedUnitPublic]


# ------------------------------------------------------------------ workflow templates
class WorkflowTemplatePublic(BaseModel):
    template_hash: str
    title: str
    workflow: Workflow
    #: the ontology projects made from it label with, if any
    ontology_hash: str | None
    created_at: float


class WorkflowTemplatesPage(Page):
    workflow_templates: list[WorkflowTemplatePublic]


# ------------------------------------------------------------------ projects
class ProjectSummaryPublic(BaseModel):
    project_hash: str
    title: str
    created_at: float


class ProjectsPage(Page):
    projects: list[ProjectSummaryPublic]


class ProjectPublic(ProjectSummaryPublic):
    workflow_version: int
    dataset_hashes: list[str]
    workflow: Workflow
    ontology_hash: str | None


class ProjectDetailPublic(ProjectPublic):
    #: stage uuid -> task status -> number of tasks
    task_counts: dict[str, dict[str, int]]
    your_role: Role


class MemberPublic(BaseModel):
    project_hash: str
    user_id: str
    role: Role


# ------------------------------------------------------------------ webhooks
class _WebhookFields(BaseModel):
    webhook_id: str
    project_hash: str
    stage_uuid: str
    url: str
    enabled: bool
    disabled_reason: str | None
    failing_since: float | None
    created_at: float


class WebhookPublic(_WebhookFields):
    #: ``whsec_…``: receivers verify signatures with it.
    signing_secret: str


class WebhookHealthPublic(_WebhookFields):
    """A webhook with its receiver's health; the secret is not listed."""

    consecutive_failures: int
    circuit_open: bool
    last_success_at: float | None
    last_failure_at: float | None


class WebhooksPublic(BaseModel):
    webhooks: list[WebhookHealthPublic]


class RequeuedPublic(BaseModel):
    requeued: int


class WebhookTestPublic(BaseModel):
    """One signed attempt, answered synchronously; it is not stored or retried."""

    url: str
    event_uid: str
    event_type: str
    success: bool
    status_code: int | None
    duration_ms: float
    error_class: str | None
    error: str | None
    response_excerpt: str | None


# ------------------------------------------------------------------ tasks and labels
class TaskPublic(BaseModel):
    task_uuid: str
    data_hash: str
    label_hash: str
    stage_uuid: str
    status: TaskStatus
    assignee: str | None


class TasksPage(Page):
    tasks: list[TaskPublic]


class TaskHistoryPublic(BaseModel):
    task_uuid: str
    at: float
    actor: str
    #: an action (SUBMIT, ...), CREATE or MOVE
    action: str
    from_stage: str | None
    to_stage: str
    from_status: TaskStatus | None
    to_status: TaskStatus
    #: why (a reviewer's note on REJECT), when one was given
    comment: str | None = None


class TaskDetailPublic(TaskPublic):
    history: list[TaskHistoryPublic]


class TaskMovedPublic(BaseModel):
    task: TaskPublic
    event_uids: list[str]


class ActionsAppliedPublic(BaseModel):
    tasks: list[TaskPublic]
    #: the events the batch fired (their deliveries are on their way)
    event_uids: list[str]


class LabelRowPublic(BaseModel):
    label_hash: str
    data_hash: str
    project_hash: str
    labels: dict[str, Any]
    version: int
    updated_at: float


# ------------------------------------------------------------------ deliveries
class AttemptPublic(BaseModel):
    attempt_no: int
    started_at: float
    duration_ms: float
    status_code: int | None
    error_class: str | None
    error: str | None
    response_excerpt: str | None
    request_headers: dict[str, str] | None
    worker: str | None


class DeliveryPublic(BaseModel):
    id: int
    event_uid: str
    event_type: str
    stage_uuid: str
    webhook_id: str
    url: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: float
    created_at: float
    completed_at: float | None
    last_status_code: int | None
    last_error: str | None
    attempts_log: list[AttemptPublic]


class DeliveriesPage(Page):
    deliveries: list[DeliveryPublic]


class DeliveryDetailPublic(DeliveryPublic):
    #: the exact bytes every attempt sends
    body: str


# ------------------------------------------------------------------ users and meta
class UserPublic(BaseModel):
    user_id: str
    username: str
    is_admin: bool


class UsersPage(Page):
    users: list[UserPublic]


class UserActivePublic(BaseModel):
    """A user after (de)activation: a deactivated one's sessions and keys are dead."""

    user_id: str
    username: str
    active: bool


class ApiKeyCreatedPublic(BaseModel):
    key_id: str
    user_id: str
    name: str
    #: shown once: only its hash is stored
    api_key: str


class MetaPublic(BaseModel):
    deployment: str
    egress_cidrs: list[str]
    #: the addresses webhooks leave from, for receivers' allow-lists
    webhook_source_addresses: list[str]
    event_source: str
    version: str


class HealthPublic(BaseModel):
    status: str

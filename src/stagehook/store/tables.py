"""SQLAlchemy Core tables. Times are UTC epoch seconds (float) on every dialect."""

from __future__ import annotations

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Column,
    Double,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    MetaData,
    String,
    Table,
    Text,
    UniqueConstraint,
    text,
)

from stagehook.store.outbox.records import due_condition

metadata = MetaData(
    naming_convention={
        "ix": "ix_%(column_0_label)s",
        "uq": "uq_%(table_name)s_%(column_0_name)s",
        "fk": "fk_%(table_name)s_%(column_0_name)s_%(referred_table_name)s",
        "pk": "pk_%(table_name)s",
    }
)

Id = BigInteger().with_variant(Integer(), "sqlite")
Hash = String(64)

users = Table(
    "users",
    metadata,
    Column("user_id", Hash, primary_key=True),
    Column("username", String(200), nullable=False, unique=True),
    Column("is_admin", Boolean, nullable=False, default=False),
    Column("password_hash", String(400)),
    Column("created_at", Double, nullable=False),
    # A deactivated user keeps their history but can no longer sign in or use keys.
    Column("disabled_at", Double),
)

api_keys = Table(
    "api_keys",
    metadata,
    Column("key_id", Hash, primary_key=True),
    Column("key_hash", String(128), nullable=False, unique=True),
    Column("user_id", Hash, ForeignKey("users.user_id"), nullable=False),
    Column("name", String(200), nullable=False),
    Column("created_at", Double, nullable=False),
    Column("revoked_at", Double),
)

# Browser sessions, known to the server so they can end (sign-out, key revoke, ...).
sessions = Table(
    "sessions",
    metadata,
    Column("session_id", Hash, primary_key=True),
    # sha256 of the cookie's token: a database dump does not hold usable sessions.
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("user_id", Hash, ForeignKey("users.user_id"), nullable=False),
    # The API key the session was opened with, if any: revoking it ends the session.
    Column("key_id", Hash, ForeignKey("api_keys.key_id")),
    Column("created_at", Double, nullable=False),
    Column("last_seen_at", Double, nullable=False),
    Column("ended_at", Double),
    Column("address", String(64)),
    Column("user_agent", String(300)),
    Index("ix_sessions_user", "user_id", "ended_at"),
    Index("ix_sessions_key", "key_id"),
)

# Failed sign-ins, per username and per client address, for the sign-in throttle.
signin_failures = Table(
    "signin_failures",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("subject", String(300), nullable=False),
    Column("at", Double, nullable=False),
    Index("ix_signin_failures_subject", "subject", "at"),
)

datasets = Table(
    "datasets",
    metadata,
    Column("dataset_hash", Hash, primary_key=True),
    Column("title", String(500), nullable=False),
    Column("created_by", Hash, nullable=False),
    Column("created_at", Double, nullable=False),
)

data_units = Table(
    "data_units",
    metadata,
    Column("seq", Id, primary_key=True, autoincrement=True),
    Column("data_hash", Hash, nullable=False, unique=True),
    Column("dataset_hash", Hash, ForeignKey("datasets.dataset_hash"), nullable=False),
    Column("title", String(1000), nullable=False),
    Column("uri", String(2048)),
    Column("metadata", JSON),
    Column("created_at", Double, nullable=False),
    # Uploaded images: the content-addressed file and what was read from its bytes.
    Column("sha256", String(64)),
    Column("mime_type", String(100)),
    Column("size_bytes", BigInteger),
    Column("width", Integer),
    Column("height", Integer),
    Index("ix_data_units_dataset", "dataset_hash", "seq"),
    Index("ix_data_units_sha256", "dataset_hash", "sha256"),
)

workflow_templates = Table(
    "workflow_templates",
    metadata,
    Column("seq", Id, primary_key=True, autoincrement=True),
    Column("template_hash", Hash, nullable=False, unique=True),
    Column("title", String(500), nullable=False),
    Column("workflow", JSON, nullable=False),
    Column("created_at", Double, nullable=False),
    Column("ontology_hash", Hash),
)

ontologies = Table(
    "ontologies",
    metadata,
    Column("seq", Id, primary_key=True, autoincrement=True),
    Column("ontology_hash", Hash, nullable=False, unique=True),
    Column("title", String(500), nullable=False),
    Column("description", String(2000), nullable=False, default=""),
    # Encord's ontology JSON: objects, classifications (featureNodeHash on every element).
    Column("structure", JSON, nullable=False),
    Column("created_by", Hash, nullable=False),
    Column("created_at", Double, nullable=False),
    Column("last_edited_at", Double, nullable=False),
)

projects = Table(
    "projects",
    metadata,
    Column("seq", Id, primary_key=True, autoincrement=True),
    Column("project_hash", Hash, nullable=False, unique=True),
    Column("title", String(500), nullable=False),
    # The stage graph without webhooks; ``webhooks`` is the source of truth for those.
    Column("workflow", JSON, nullable=False),
    Column("workflow_version", Integer, nullable=False, default=1),
    Column("created_at", Double, nullable=False),
    Column("ontology_hash", Hash),
)

project_datasets = Table(
    "project_datasets",
    metadata,
    Column("project_hash", Hash, ForeignKey("projects.project_hash"), primary_key=True),
    Column("dataset_hash", Hash, ForeignKey("datasets.dataset_hash"), primary_key=True),
)

memberships = Table(
    "memberships",
    metadata,
    Column("project_hash", Hash, ForeignKey("projects.project_hash"), primary_key=True),
    Column("user_id", Hash, ForeignKey("users.user_id"), primary_key=True),
    Column("role", String(32), nullable=False),
)

tasks = Table(
    "tasks",
    metadata,
    Column("seq", Id, primary_key=True, autoincrement=True),
    Column("task_uuid", Hash, nullable=False, unique=True),
    Column("project_hash", Hash, ForeignKey("projects.project_hash"), nullable=False),
    Column("data_hash", Hash, nullable=False),
    Column("label_hash", Hash, nullable=False, unique=True),
    Column("stage_uuid", Hash, nullable=False),
    Column("status", String(16), nullable=False),  # a TaskStatus
    Column("assignee", String(200)),
    Column("updated_at", Double, nullable=False),
    UniqueConstraint("project_hash", "data_hash", name="uq_tasks_project_data"),
    Index("ix_tasks_project_stage", "project_hash", "stage_uuid", "seq"),
    # "Submit & next" first looks for the tasks a person already holds at a stage.
    Index("ix_tasks_stage_assignee", "project_hash", "stage_uuid", "assignee", "seq"),
    Index("ix_tasks_project_seq", "project_hash", "seq"),
)

# How many tasks each (stage, status) holds, kept in the transaction of every change, so
# no page counts a project's tasks. Several shards per key spread concurrent writers'
# row locks on PostgreSQL; a count is the sum over its shards (migration 0005).
task_counts = Table(
    "task_counts",
    metadata,
    Column("project_hash", Hash, primary_key=True),
    Column("stage_uuid", Hash, primary_key=True),
    Column("status", String(16), primary_key=True),
    Column("shard", Integer, primary_key=True),
    Column("n", BigInteger, nullable=False),
)

label_rows = Table(
    "label_rows",
    metadata,
    Column("label_hash", Hash, primary_key=True),
    Column("project_hash", Hash, ForeignKey("projects.project_hash"), nullable=False),
    Column("data_hash", Hash, nullable=False),
    Column("labels", JSON, nullable=False),
    Column("version", Integer, nullable=False),
    Column("updated_at", Double, nullable=False),
)

# Which ontology features each label row uses, kept with the row: removing a feature from
# an ontology asks this index how many labels use it instead of scanning every row's JSON.
label_features = Table(
    "label_features",
    metadata,
    Column("label_hash", Hash, ForeignKey("label_rows.label_hash"), primary_key=True),
    Column("feature_hash", String(100), primary_key=True),
    Column("project_hash", Hash, nullable=False),
    Column("uses", Integer, nullable=False),
    Index("ix_label_features_feature", "feature_hash", "project_hash"),
)

task_history = Table(
    "task_history",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("task_uuid", Hash, nullable=False),
    Column("project_hash", Hash, nullable=False),
    Column("at", Double, nullable=False),
    Column("actor", String(200), nullable=False),
    Column("action", String(16), nullable=False),
    Column("from_stage", Hash),
    Column("to_stage", Hash, nullable=False),
    Column("from_status", String(16)),
    Column("to_status", String(16), nullable=False),
    Column("comment", String(2000)),
    Index("ix_task_history_task", "task_uuid", "id"),
)

webhooks = Table(
    "webhooks",
    metadata,
    Column("webhook_id", Hash, primary_key=True),
    Column("project_hash", Hash, ForeignKey("projects.project_hash"), nullable=False),
    Column("stage_uuid", Hash, nullable=False),
    Column("url", String(2048), nullable=False),
    Column("secret", String(400), nullable=False),
    Column("previous_secret", String(400)),
    Column("previous_secret_expires_at", Double),
    Column("enabled", Boolean, nullable=False, default=True),
    Column("disabled_reason", String(500)),
    Column("failing_since", Double),
    Column("created_at", Double, nullable=False),
    Column("deleted_at", Double),
    Index("ix_webhooks_stage", "project_hash", "stage_uuid"),
)

events = Table(
    "events",
    metadata,
    Column("seq", Id, primary_key=True, autoincrement=True),
    Column("uid", Hash, nullable=False, unique=True),
    Column("project_hash", Hash, nullable=False),
    Column("stage_uuid", Hash, nullable=False),
    Column("event_type", String(64), nullable=False),
    Column("body", LargeBinary, nullable=False),
    Column("created_at", Double, nullable=False),
    Index("ix_events_project", "project_hash", "seq"),
)

deliveries = Table(
    "deliveries",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("event_uid", Hash, ForeignKey("events.uid"), nullable=False),
    Column("webhook_id", Hash, ForeignKey("webhooks.webhook_id"), nullable=False),
    Column("project_hash", Hash, nullable=False),
    Column("stage_uuid", Hash, nullable=False),
    Column("event_type", String(64), nullable=False),
    Column("url", String(2048), nullable=False),
    Column("status", String(16), nullable=False),  # a DeliveryStatus
    Column("attempts", Integer, nullable=False, default=0),
    # attempts made before the last manual retry: the schedule restarts from there
    Column("retry_base", Integer, nullable=False, default=0),
    Column("next_attempt_at", Double, nullable=False),
    Column("lease_owner", String(100)),
    Column("lease_expires_at", Double),
    Column("created_at", Double, nullable=False),
    Column("completed_at", Double),
    Column("last_status_code", Integer),
    Column("last_error", String(1000)),
    # The claim only ever scans undelivered rows: delivered ones may run into millions.
    Index(
        "ix_deliveries_due",
        "next_attempt_at",
        postgresql_where=text(due_condition()),
        sqlite_where=text(due_condition()),
    ),
    Index("ix_deliveries_project", "project_hash", "id"),
    Index("ix_deliveries_webhook", "webhook_id", "status"),
)

delivery_attempts = Table(
    "delivery_attempts",
    metadata,
    Column("id", Id, primary_key=True, autoincrement=True),
    Column("delivery_id", Id, ForeignKey("deliveries.id"), nullable=False),
    Column("attempt_no", Integer, nullable=False),
    Column("started_at", Double, nullable=False),
    Column("duration_ms", Double, nullable=False),
    Column("status_code", Integer),
    Column("error_class", String(100)),
    Column("error", String(1000)),
    Column("response_excerpt", Text),
    Column("request_headers", JSON),
    Column("worker", String(100)),
    Index("ix_delivery_attempts_delivery", "delivery_id", "id"),
    Index("ix_delivery_attempts_started", "started_at"),
)

endpoints = Table(
    "endpoints",
    metadata,
    Column("url", String(2048), primary_key=True),
    Column("consecutive_failures", Integer, nullable=False, default=0),
    Column("circuit_open", Boolean, nullable=False, default=False),
    Column("probe_after", Double),
    Column("last_success_at", Double),
    Column("last_failure_at", Double),
)

workers = Table(
    "workers",
    metadata,
    Column("worker_id", String(100), primary_key=True),
    Column("hostname", String(200), nullable=False),
    Column("pid", Integer, nullable=False),
    Column("started_at", Double, nullable=False),
    Column("heartbeat_at", Double, nullable=False),
)

# One row whose value goes up in the same transaction as anything that takes access
# away (a revoked key, a changed membership): every process's authentication cache
# compares it on each request, so a revocation holds on the very next request (0005).
auth_epoch = Table(
    "auth_epoch",
    metadata,
    Column("id", Integer, primary_key=True),
    Column("value", BigInteger, nullable=False),
)

"""Stage webhooks: URL, signing secret (with rotation) and enabled state."""

from __future__ import annotations

from typing import Any

from sqlalchemy import Connection, insert, select, update

from stagehook.errors import InvalidWorkflow, NotFound
from stagehook.store.context import Store, new_hash
from stagehook.store.outbox.health import endpoint_health, ensure_endpoint
from stagehook.store.outbox.log import requeue_failed
from stagehook.store.outbox.write import readdress_undelivered
from stagehook.store.projects_read import load_workflow
from stagehook.store.secret_box import SecretBox, secret_box
from stagehook.store.tables import webhooks
from stagehook.webhook_secret import generate_secret
from stagehook.webhook_targets import TargetGuard, check_literal_target, validate_webhook_url
from stagehook.workflow.graph import WEBHOOK_STAGE_MESSAGE
from stagehook.workflow.stages import WEBHOOK_STAGE_TYPES


def _public(row: Any, box: SecretBox | None = None) -> dict[str, Any]:
    """The API shape; with ``box``, the decrypted signing secret too."""
    data: dict[str, Any] = {
        "webhook_id": row.webhook_id,
        "project_hash": row.project_hash,
        "stage_uuid": row.stage_uuid,
        "url": row.url,
        "enabled": bool(row.enabled),
        "disabled_reason": row.disabled_reason,
        "failing_since": row.failing_since,
        "created_at": row.created_at,
    }
    if box is not None:
        data["signing_secret"] = box.open(row.secret)
    return data


def live_webhook(conn: Connection, project_hash: str, stage_uuid: str) -> Any | None:
    return conn.execute(
        select(webhooks).where(
            webhooks.c.project_hash == project_hash,
            webhooks.c.stage_uuid == stage_uuid,
            webhooks.c.deleted_at.is_(None),
        )
    ).first()


def require_webhook(conn: Connection, project_hash: str, stage_uuid: str) -> Any:
    row = live_webhook(conn, project_hash, stage_uuid)
    if row is None:
        raise NotFound(f"stage {stage_uuid} has no webhook")
    return row


def vet_url(store: Store, url: str) -> str:
    """The one check for a webhook URL, wherever one is saved (projects, templates)."""
    url = validate_webhook_url(url)
    # A literal address the guard would refuse is refused now, with the reason, rather
    # than at the first delivery; names are resolved (and vetted) only when sending.
    check_literal_target(url, TargetGuard(store.settings.allowed_target_networks))
    return url


def upsert_webhook(
    conn: Connection, store: Store, project_hash: str, stage_uuid: str, url: str
) -> Any:
    """Set a stage's URL; an existing webhook keeps its secret and is re-enabled."""
    url = vet_url(store, url)
    existing = live_webhook(conn, project_hash, stage_uuid)
    ensure_endpoint(conn, url)
    if existing is not None:
        conn.execute(
            update(webhooks)
            .where(webhooks.c.webhook_id == existing.webhook_id)
            .values(url=url, enabled=True, disabled_reason=None, failing_since=None)
        )
        readdress_undelivered(conn, existing.webhook_id, url)
        webhook_id = existing.webhook_id
    else:
        webhook_id = new_hash()
        conn.execute(
            insert(webhooks).values(
                webhook_id=webhook_id,
                project_hash=project_hash,
                stage_uuid=stage_uuid,
                url=url,
                secret=secret_box(store.settings).seal(generate_secret()),
                enabled=True,
                created_at=store.clock.now(),
            )
        )
    return conn.execute(select(webhooks).where(webhooks.c.webhook_id == webhook_id)).one()


def remove_webhook(conn: Connection, store: Store, project_hash: str, stage_uuid: str) -> bool:
    result = conn.execute(
        update(webhooks)
        .where(
            webhooks.c.project_hash == project_hash,
            webhooks.c.stage_uuid == stage_uuid,
            webhooks.c.deleted_at.is_(None),
        )
        .values(deleted_at=store.clock.now())
    )
    return result.rowcount > 0


def set_stage_webhook(store: Store, project_hash: str, stage_uuid: str, url: str) -> dict[str, Any]:
    with store.db.write() as conn:
        stage = load_workflow(conn, project_hash).stage(stage_uuid)
        if stage is None:
            raise NotFound(f"stage {stage_uuid} is not in this project's workflow")
        if stage.stage_type not in WEBHOOK_STAGE_TYPES:
            raise InvalidWorkflow(WEBHOOK_STAGE_MESSAGE)
        row = upsert_webhook(conn, store, project_hash, stage_uuid, url)
    return _public(row, secret_box(store.settings))


def delete_stage_webhook(store: Store, project_hash: str, stage_uuid: str) -> None:
    with store.db.write() as conn:
        if not remove_webhook(conn, store, project_hash, stage_uuid):
            raise NotFound(f"stage {stage_uuid} has no webhook")


def get_stage_webhook(store: Store, project_hash: str, stage_uuid: str) -> dict[str, Any]:
    with store.db.read() as conn:
        row = require_webhook(conn, project_hash, stage_uuid)
    return _public(row, secret_box(store.settings))


def rotate_secret(store: Store, project_hash: str, stage_uuid: str) -> dict[str, Any]:
    """New secret now; the old one stays valid (and is still signed with) for the grace."""
    with store.db.write() as conn:
        row = require_webhook(conn, project_hash, stage_uuid)
        conn.execute(
            update(webhooks)
            .where(webhooks.c.webhook_id == row.webhook_id)
            .values(
                secret=secret_box(store.settings).seal(generate_secret()),
                previous_secret=row.secret,
                previous_secret_expires_at=store.clock.now()
                + store.settings.secret_rotation_grace_seconds,
            )
        )
        row = require_webhook(conn, project_hash, stage_uuid)
    return _public(row, secret_box(store.settings))


def set_enabled(store: Store, project_hash: str, stage_uuid: str, enabled: bool) -> dict[str, Any]:
    with store.db.write() as conn:
        row = require_webhook(conn, project_hash, stage_uuid)
        conn.execute(
            update(webhooks)
            .where(webhooks.c.webhook_id == row.webhook_id)
            .values(
                enabled=enabled,
                disabled_reason=None if enabled else "disabled by a user",
                failing_since=None,
            )
        )
        row = require_webhook(conn, project_hash, stage_uuid)
    return _public(row, secret_box(store.settings))


def recover_failed(store: Store, project_hash: str, stage_uuid: str, since: float) -> int:
    """Queue every failed delivery of a stage's webhook created since ``since`` again."""
    with store.db.write() as conn:
        hook = require_webhook(conn, project_hash, stage_uuid)
        return requeue_failed(conn, store, hook.webhook_id, since)


def list_project_webhooks(store: Store, project_hash: str) -> list[dict[str, Any]]:
    """Each live webhook with its receiver's health (circuit, last success/failure)."""
    with store.db.read() as conn:
        rows = conn.execute(
            select(webhooks).where(
                webhooks.c.project_hash == project_hash, webhooks.c.deleted_at.is_(None)
            )
        ).all()
        health = endpoint_health(conn, (r.url for r in rows))
    unknown = {
        "consecutive_failures": 0,
        "circuit_open": False,
        "last_success_at": None,
        "last_failure_at": None,
    }
    return [_public(r) | health.get(r.url, unknown) for r in rows]

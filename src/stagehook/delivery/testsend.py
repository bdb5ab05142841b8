""" "Send test event": one signed attempt to a stage's webhook, answered synchronously.

The test event has the real shape of the stage's event type with placeholder hashes; it
is not stored in the outbox, so it never reaches the delivery log or a retry.
"""

from __future__ import annotations

import uuid
from typing import Any

from stagehook.delivery.sender import Sender
from stagehook.events import TASK_COMPLETED, TASK_SUBMITTED, encode_event
from stagehook.store.context import Store
from stagehook.store.projects_read import load_workflow
from stagehook.store.secret_box import secret_box
from stagehook.store.webhooks import require_webhook
from stagehook.workflow.stages import StageType


def _sample(project_hash: str, stage_type: StageType) -> tuple[str, dict[str, Any]]:
    data_hash, label_hash = str(uuid.uuid4()), str(uuid.uuid4())
    if stage_type == StageType.COMPLETE:
        return TASK_COMPLETED, {
            "label_hash": label_hash,
            "project_hash": project_hash,
            "data_hash": data_hash,
        }
    return TASK_SUBMITTED, {
        "project_hash": project_hash,
        "data_hashes": [data_hash],
        "label_hashes": [label_hash],
    }


async def send_test_event(store: Store, project_hash: str, stage_uuid: str) -> dict[str, Any]:
    with store.db.read() as conn:
        hook = require_webhook(conn, project_hash, stage_uuid)
        stage = load_workflow(conn, project_hash).stage(stage_uuid)
    assert stage is not None  # a live webhook's stage exists
    event_type, payload = _sample(project_hash, stage.stage_type)
    uid, body = encode_event(
        event_type=event_type,
        payload=payload,
        source=store.settings.event_source,
        created=store.clock.utcnow(),
    )
    sender = Sender(store.settings)
    try:
        secret = secret_box(store.settings).open(hook.secret)
        headers = sender.headers([secret], uid, body)
        result = await sender.send(hook.url, headers, body)
    finally:
        await sender.close()
    return {
        "url": hook.url,
        "event_uid": uid,
        "event_type": event_type,
        "success": result.success,
        "status_code": result.status_code,
        "duration_ms": round(result.duration_ms, 1),
        "error_class": result.error_class,
        "error": result.error,
        "response_excerpt": result.response_excerpt,
    }

"""Wire models of the webhook events: the published contract receivers rely on.

Key order is part of the contract: ``uid, version, source, event_type,
event_created_timestamp, payload``. The bytes are produced once, when the event is
created, and stored; every delivery attempt sends those same bytes.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Final, Literal

from pydantic import BaseModel, Field, TypeAdapter

TASK_SUBMITTED: Final = "task_submitted_event"
TASK_COMPLETED: Final = "task_completed_event"
#: Every event type there is (filters and docs list these).
EVENT_TYPES: Final = (TASK_SUBMITTED, TASK_COMPLETED)
EVENT_VERSION = 1


class TaskSubmittedPayload(BaseModel):
    project_hash: str
    data_hashes: list[str]
    label_hashes: list[str]


class TaskCompletedPayload(BaseModel):
    label_hash: str
    project_hash: str
    data_hash: str


class _EventBase(BaseModel):
    uid: str
    version: int = EVENT_VERSION
    source: str
    event_created_timestamp: datetime


class TaskSubmittedEvent(_EventBase):
    event_type: Literal["task_submitted_event"] = TASK_SUBMITTED
    payload: TaskSubmittedPayload


class TaskCompletedEvent(_EventBase):
    event_type: Literal["task_completed_event"] = TASK_COMPLETED
    payload: TaskCompletedPayload


Event = Annotated[TaskSubmittedEvent | TaskCompletedEvent, Field(discriminator="event_type")]
_event_adapter: TypeAdapter[TaskSubmittedEvent | TaskCompletedEvent] = TypeAdapter(Event)


def format_timestamp(moment: datetime) -> str:
    """ISO 8601 in UTC with exactly six fractional digits and ``+00:00``."""
    return moment.astimezone(UTC).isoformat(timespec="microseconds")


def encode_event(
    *,
    event_type: str,
    payload: dict[str, Any],
    source: str,
    created: datetime,
    uid: str | None = None,
) -> tuple[str, bytes]:
    """Build the event JSON in contract key order; returns ``(uid, body_bytes)``."""
    uid = uid or str(uuid.uuid4())
    document = {
        "uid": uid,
        "version": EVENT_VERSION,
        "source": source,
        "event_type": event_type,
        "event_created_timestamp": format_timestamp(created),
        "payload": payload,
    }
    return uid, json.dumps(document, separators=(",", ":")).encode()


def parse_event(body: bytes | str) -> TaskSubmittedEvent | TaskCompletedEvent:
    """Parse a received body into its typed event (raises ``pydantic.ValidationError``)."""
    return _event_adapter.validate_json(body)

"""The wire format of webhook events, as receivers see it."""

from __future__ import annotations

import json
import re
import uuid
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from pydantic import ValidationError

from stagehook.events import (
    TASK_COMPLETED,
    TASK_SUBMITTED,
    TaskCompletedEvent,
    TaskSubmittedEvent,
    encode_event,
    format_timestamp,
    parse_event,
)

KEYS = ["uid", "version", "source", "event_type", "event_created_timestamp", "payload"]
TIMESTAMP = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}\+00:00$")
CREATED = datetime(2024, 3, 25, 15, 18, 55, 406529, tzinfo=UTC)
PROJECT = "0f8fad5b-d9cb-469f-a165-70867728950e"
SUBMITTED_PAYLOAD: dict[str, Any] = {
    "project_hash": PROJECT,
    "data_hashes": ["7c9e6679-7425-40de-944b-e07fc1f90ae7", "16fd2706-8baf-433b-82eb-8c7fada847da"],
    "label_hashes": [
        "9b2f1c1e-1e0a-4d0a-9f3e-2a1b7d3c4e5f",
        "3f2504e0-4f89-41d3-9a0c-0305e82c3301",
    ],
}
COMPLETED_PAYLOAD: dict[str, Any] = {
    "label_hash": "9b2f1c1e-1e0a-4d0a-9f3e-2a1b7d3c4e5f",
    "project_hash": PROJECT,
    "data_hash": "7c9e6679-7425-40de-944b-e07fc1f90ae7",
}


def encoded(event_type: str, payload: dict[str, Any], **kwargs: Any) -> tuple[str, bytes]:
    options: dict[str, Any] = {"source": "stagehook", "created": CREATED} | kwargs
    return encode_event(event_type=event_type, payload=payload, **options)


@pytest.mark.parametrize(
    ("event_type", "payload"),
    [(TASK_SUBMITTED, SUBMITTED_PAYLOAD), (TASK_COMPLETED, COMPLETED_PAYLOAD)],
)
def test_keys_come_in_contract_order(event_type: str, payload: dict[str, Any]) -> None:
    uid, body = encoded(event_type, payload, source="Encord")
    document = json.loads(body)
    assert list(document) == KEYS
    assert body.startswith(b'{"uid":')
    assert document == {
        "uid": uid,
        "version": 1,
        "source": "Encord",
        "event_type": event_type,
        "event_created_timestamp": "2024-03-25T15:18:55.406529+00:00",
        "payload": payload,
    }
    assert list(document["payload"]) == list(payload)


def test_uid_is_a_fresh_uuid4() -> None:
    uids = {encoded(TASK_COMPLETED, COMPLETED_PAYLOAD)[0] for _ in range(50)}
    assert len(uids) == 50
    for uid in uids:
        parsed = uuid.UUID(uid)
        assert parsed.version == 4
        assert str(parsed) == uid


def test_a_given_uid_is_kept_so_retries_carry_the_same_id() -> None:
    uid = "d3b07384-d9a0-4c9b-8a3e-1f0c2b3a4d5e"
    first = encoded(TASK_COMPLETED, COMPLETED_PAYLOAD, uid=uid)
    second = encoded(TASK_COMPLETED, COMPLETED_PAYLOAD, uid=uid)
    assert first == second
    assert first[0] == uid
    assert json.loads(first[1])["uid"] == uid


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (CREATED, "2024-03-25T15:18:55.406529+00:00"),
        (datetime(2024, 3, 25, 15, 18, 55, tzinfo=UTC), "2024-03-25T15:18:55.000000+00:00"),
        (
            datetime(2024, 3, 25, 17, 18, 55, 500000, tzinfo=timezone(timedelta(hours=2))),
            "2024-03-25T15:18:55.500000+00:00",
        ),
        (
            datetime(2024, 12, 31, 20, 0, 0, 1, tzinfo=timezone(timedelta(hours=-5, minutes=-30))),
            "2025-01-01T01:30:00.000001+00:00",
        ),
    ],
    ids=["utc", "whole-second", "plus-two-hours", "minus-five-thirty-next-year"],
)
def test_timestamp_is_utc_with_six_fractional_digits(moment: datetime, expected: str) -> None:
    assert format_timestamp(moment) == expected
    _, body = encoded(TASK_SUBMITTED, SUBMITTED_PAYLOAD, created=moment)
    assert json.loads(body)["event_created_timestamp"] == expected


@given(
    moment=st.datetimes(
        min_value=datetime(1971, 1, 1),
        max_value=datetime(2200, 1, 1),
        timezones=st.builds(
            timezone, st.timedeltas(min_value=timedelta(hours=-23), max_value=timedelta(hours=23))
        ),
    )
)
def test_any_aware_timestamp_formats_to_the_same_instant(moment: datetime) -> None:
    text = format_timestamp(moment)
    assert TIMESTAMP.match(text), text
    assert datetime.fromisoformat(text) == moment


def test_submitted_event_roundtrips() -> None:
    uid, body = encoded(TASK_SUBMITTED, SUBMITTED_PAYLOAD, source="Encord")
    event = parse_event(body)
    assert isinstance(event, TaskSubmittedEvent)
    assert (event.uid, event.version, event.source) == (uid, 1, "Encord")
    assert event.event_type == TASK_SUBMITTED
    assert event.event_created_timestamp == CREATED
    assert event.payload.model_dump() == SUBMITTED_PAYLOAD
    assert parse_event(body.decode()) == event


def test_completed_event_roundtrips() -> None:
    uid, body = encoded(TASK_COMPLETED, COMPLETED_PAYLOAD)
    event = parse_event(body)
    assert isinstance(event, TaskCompletedEvent)
    assert (event.uid, event.version, event.source) == (uid, 1, "stagehook")
    assert event.event_type == TASK_COMPLETED
    assert event.event_created_timestamp == CREATED
    assert event.payload.model_dump() == COMPLETED_PAYLOAD
    # Re-encoding what was parsed reproduces the stored bytes exactly.
    again = encode_event(
        event_type=event.event_type,
        payload=event.payload.model_dump(),
        source=event.source,
        created=event.event_created_timestamp,
        uid=event.uid,
    )
    assert again == (uid, body)


def test_parse_event_refuses_an_unknown_event_type() -> None:
    _, body = encoded("task_exploded_event", COMPLETED_PAYLOAD)
    with pytest.raises(ValidationError):
        parse_event(body)


def test_parse_event_refuses_a_payload_of_the_other_type() -> None:
    _, body = encoded(TASK_COMPLETED, SUBMITTED_PAYLOAD)
    with pytest.raises(ValidationError):
        parse_event(body)

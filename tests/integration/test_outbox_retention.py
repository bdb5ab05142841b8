"""Retention: old attempts and delivered events are purged, undelivered never."""

from __future__ import annotations

import pytest

from stagehook.clock import FakeClock
from stagehook.store.context import Store
from stagehook.store.outbox.retention import purge
from tests.support.api import Api
from tests.support.deliveries import project_with_hook, submit, wait_status
from tests.support.receiver import Receiver
from tests.support.workflows import ANNOTATE


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock(start=1_800_000_000.0)


def test_retention_purges_old_delivered_events_but_never_undelivered(
    api: Api, store: Store, clock: FakeClock
) -> None:
    with Receiver() as receiver:
        project_hash, tasks, _ = project_with_hook(api, receiver.url("/ok"), 2)
        submit(api, project_hash, tasks[:1])
        wait_status(api, project_hash, "delivered")
    # the receiver is gone: the second event stays undelivered
    api.request("POST", f"/projects/{project_hash}/workflow/stages/{ANNOTATE}/webhook/disable")
    submit(api, project_hash, tasks[1:])
    clock.advance(31 * 86400)
    attempts_deleted, events_deleted = purge(store)
    assert attempts_deleted >= 1
    assert events_deleted == 1
    rows = api.request("GET", f"/projects/{project_hash}/deliveries")["deliveries"]
    assert [r["status"] for r in rows] == ["failed"]
    assert rows[0]["event_uid"]

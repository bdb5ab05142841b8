"""The authentication cache never outlives access: a revoked key or a changed role is
refused on the very next request, in this process and in another API process; a
submit whose answers are cached checks the access epoch in its own task read."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest

from stagehook.config import Settings
from stagehook.store import users
from stagehook.store.access import Principal, Role
from stagehook.store.auth_cache import StaleAccess, read_epoch
from stagehook.store.context import Store
from stagehook.store.tables import events, tasks
from stagehook.store.tasks import StageBatch, apply_stage_batch
from stagehook.workflow.stages import Action
from stagehook.workflow.task_machine import ActionRequest
from tests.support.api import Api, user_key
from tests.support.processes import free_port, kill, start_api, worker_env
from tests.support.statements import captured
from tests.support.waiting import wait_until
from tests.support.workflows import ANNOTATE, basic_workflow, submit_to_complete_workflow


def _key_id(store: Store, user_id: str) -> str:
    return next(k["key_id"] for k in users.list_api_keys(store) if k["user_id"] == user_id)


def _project(api: Api) -> tuple[str, list[str]]:
    dataset_hash, _ = api.dataset_with_units(3)
    project = api.create_project("p", [dataset_hash], workflow=basic_workflow())
    return project["project_hash"], [t["task_uuid"] for t in api.tasks(project["project_hash"])]


def _annotator(api: Api, name: str) -> tuple[str, str, str, list[str]]:
    """A new user with a key, an annotator of a new project: (user id, key, project
    hash, its task uuids)."""
    user_id, key = user_key(api, name)
    project_hash, task_uuids = _project(api)
    api.request(
        "PUT", f"/projects/{project_hash}/members", json={"user_id": user_id, "role": "annotator"}
    )
    return user_id, key, project_hash, task_uuids


def _submit(client: Api, project_hash: str, task_uuid: str) -> httpx.Response:
    return client.raw(
        "POST",
        f"/projects/{project_hash}/workflow/stages/{ANNOTATE}/actions",
        json={"actions": [{"task_uuid": task_uuid, "action": "SUBMIT"}]},
    )


def test_revoked_key_is_refused_on_the_next_request(api: Api, store: Store) -> None:
    user_id, key, project_hash, _ = _annotator(api, "kim")
    with api.as_key(key) as kim:
        for _ in range(3):  # cached by now
            assert kim.raw("GET", f"/projects/{project_hash}/tasks").status_code == 200
        users.revoke_api_key(store, _key_id(store, user_id))
        refused = kim.raw("GET", f"/projects/{project_hash}/tasks")
        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == "unauthorized"


def test_changed_role_holds_on_the_next_request(api: Api) -> None:
    user_id, key, project_hash, task_uuids = _annotator(api, "ann")
    members = f"/projects/{project_hash}/members"
    with api.as_key(key) as ann:
        ann.act(project_hash, ANNOTATE, [{"task_uuid": task_uuids[0], "action": "SUBMIT"}])
        api.request("PUT", members, json={"user_id": user_id, "role": "reviewer"})
        denied = _submit(ann, project_hash, task_uuids[1])
        assert denied.status_code == 403


def test_a_cached_submit_reads_the_epoch_with_its_tasks(
    api: Api, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Once a key's owner and role are cached, a submit reads no epoch of its own: its
    task read carries it (one round trip less on PostgreSQL)."""
    _, key, project_hash, task_uuids = _annotator(api, "cy")
    epoch_reads: list[str] = []
    real = store.db.read_value

    async def counting(sql: str) -> Any:
        epoch_reads.append(sql)
        return await real(sql)

    monkeypatch.setattr(store.db, "read_value", counting)
    with api.as_key(key) as cy:
        assert _submit(cy, project_hash, task_uuids[0]).status_code == 200  # caches both
        assert epoch_reads, "the first submit authenticates the usual way"
        epoch_reads.clear()
        with captured(store.db.engine, "SELECT CAST(p.workflow") as reads:
            assert _submit(cy, project_hash, task_uuids[1]).status_code == 200
    assert epoch_reads == []
    assert len(reads) == 1  # the task read, which checked the epoch


def test_a_key_revoked_after_a_cached_submit_is_refused_on_the_next_submit(
    api: Api, store: Store
) -> None:
    user_id, key, project_hash, task_uuids = _annotator(api, "dee")
    with api.as_key(key) as dee:
        assert _submit(dee, project_hash, task_uuids[0]).status_code == 200
        users.revoke_api_key(store, _key_id(store, user_id))
        refused = _submit(dee, project_hash, task_uuids[1])
        assert refused.status_code == 401, refused.text
    assert api.tasks(project_hash)[1]["status"] != "COMPLETED"
    assert [t["stage_uuid"] for t in api.tasks(project_hash)].count(ANNOTATE) == 2


ADMIN = Principal("admin-id", "admin", is_admin=True)


@pytest.mark.parametrize("size", [1, 2], ids=["one task", "two tasks"])
def test_a_batch_checked_against_an_older_epoch_writes_nothing(
    api: Api, store: Store, size: int
) -> None:
    """One task goes through PostgreSQL's statement groups, two through the locked
    transaction (SQLite: the group commit); either way the read refuses the batch
    before anything is written, and the same batch under the current epoch goes through."""
    dataset_hash, _ = api.dataset_with_units(3)
    flow = submit_to_complete_workflow(annotate_webhook="http://127.0.0.1:9/submitted")
    project_hash = api.create_project("p", [dataset_hash], workflow=flow)["project_hash"]
    task_uuids = [t["task_uuid"] for t in api.tasks(project_hash)]
    with store.db.read() as conn:
        now = read_epoch(conn)
        before = conn.execute(tasks.select().order_by(tasks.c.task_uuid)).all()
        events_before = conn.execute(events.select()).all()
    requests = [ActionRequest(t, Action.SUBMIT) for t in task_uuids[:size]]

    def batch(epoch: int) -> StageBatch:
        return StageBatch(project_hash, ANNOTATE, requests, ADMIN, Role.ADMIN, epoch)

    with pytest.raises(StaleAccess):
        asyncio.run(apply_stage_batch(store, batch(now - 1)))
    with store.db.read() as conn:
        assert conn.execute(tasks.select().order_by(tasks.c.task_uuid)).all() == before
        assert conn.execute(events.select()).all() == events_before
    changed, uids = asyncio.run(apply_stage_batch(store, batch(now)))
    assert sorted(t["task_uuid"] for t in changed) == sorted(task_uuids[:size])
    assert uids, "the submit made its event"
    assert all(t["stage_uuid"] != ANNOTATE for t in changed)


@pytest.fixture
def second_api(settings: Settings, server: tuple[str, Store], tmp_path: Path) -> Iterator[str]:
    """Another ``stagehook serve`` process on the same database."""
    assert settings.database_url is not None
    port = free_port()
    env = worker_env(settings.database_url, tmp_path / "second")
    process = start_api(env, tmp_path / "second-api.log", port)
    url = f"http://127.0.0.1:{port}"

    def up() -> bool:
        try:
            return httpx.get(url + "/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    try:
        wait_until(up, timeout=60, what="the second API process")
        yield url
    finally:
        kill(process, signal.SIGTERM)


@pytest.mark.parametrize("call", ["read", "submit"])
def test_revocation_in_one_process_holds_in_another(
    api: Api, store: Store, second_api: str, call: str
) -> None:
    """A read, and a submit (whose task read checks the epoch), in a second process that
    has the key's owner and role cached."""
    user_id, key, project_hash, task_uuids = _annotator(api, "otto")
    headers = {"authorization": f"Bearer {key}"}
    with httpx.Client(base_url=f"{second_api}/api/v1", headers=headers, timeout=30) as other:

        def request(n: int) -> int:
            if call == "read":
                return other.get(f"/projects/{project_hash}").status_code
            body = {"actions": [{"task_uuid": task_uuids[n], "action": "SUBMIT"}]}
            path = f"/projects/{project_hash}/workflow/stages/{ANNOTATE}/actions"
            return other.post(path, json=body).status_code

        for n in range(2):  # the other process has the key and the role cached
            assert request(n) == 200
        users.revoke_api_key(store, _key_id(store, user_id))  # committed by this process
        assert request(2) == 401


def test_the_epoch_read_survives_its_connection_being_cut(api: Api, store: Store) -> None:
    """The event loop reads the epoch on a connection of its own (``Database.read_value``);
    on PostgreSQL a server that dropped it (a restart, an admin) costs no failed request."""
    assert api.raw("GET", "/projects").status_code == 200
    if not store.db.is_sqlite:
        with store.db.write() as conn:
            cut = conn.exec_driver_sql(
                "SELECT pg_terminate_backend(pid) FROM pg_stat_activity"
                " WHERE datname = current_database() AND pid <> pg_backend_pid()"
                " AND query LIKE '%%auth_epoch%%'"
            ).all()
        assert cut, "the loop's epoch connection was found and cut"
    for _ in range(3):
        assert api.raw("GET", "/projects").status_code == 200

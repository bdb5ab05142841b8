"""The authentication cache never outlives access: a revoked key or a changed role is
refused on the very next request, in this process and in another API process."""

from __future__ import annotations

import signal
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from stagehook.config import Settings
from stagehook.store import users
from stagehook.store.context import Store
from tests.support.api import Api, user_key
from tests.support.processes import free_port, kill, start_api, worker_env
from tests.support.waiting import wait_until
from tests.support.workflows import ANNOTATE, basic_workflow


def _key_id(store: Store, user_id: str) -> str:
    return next(k["key_id"] for k in users.list_api_keys(store) if k["user_id"] == user_id)


def _project(api: Api) -> tuple[str, list[str]]:
    dataset_hash, _ = api.dataset_with_units(3)
    project = api.create_project("p", [dataset_hash], workflow=basic_workflow())
    return project["project_hash"], [t["task_uuid"] for t in api.tasks(project["project_hash"])]


def test_revoked_key_is_refused_on_the_next_request(api: Api, store: Store) -> None:
    user_id, key = user_key(api, "kim")
    project_hash, _ = _project(api)
    api.request(
        "PUT", f"/projects/{project_hash}/members", json={"user_id": user_id, "role": "annotator"}
    )
    with api.as_key(key) as kim:
        for _ in range(3):  # cached by now
            assert kim.raw("GET", f"/projects/{project_hash}/tasks").status_code == 200
        users.revoke_api_key(store, _key_id(store, user_id))
        refused = kim.raw("GET", f"/projects/{project_hash}/tasks")
        assert refused.status_code == 401
        assert refused.json()["error"]["code"] == "unauthorized"


def test_changed_role_holds_on_the_next_request(api: Api) -> None:
    user_id, key = user_key(api, "ann")
    project_hash, task_uuids = _project(api)
    members = f"/projects/{project_hash}/members"
    api.request("PUT", members, json={"user_id": user_id, "role": "annotator"})
    with api.as_key(key) as ann:
        ann.act(project_hash, ANNOTATE, [{"task_uuid": task_uuids[0], "action": "SUBMIT"}])
        api.request("PUT", members, json={"user_id": user_id, "role": "reviewer"})
        denied = ann.raw(
            "POST",
            f"/projects/{project_hash}/workflow/stages/{ANNOTATE}/actions",
            json={"actions": [{"task_uuid": task_uuids[1], "action": "SUBMIT"}]},
        )
        assert denied.status_code == 403


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


def test_revocation_in_one_process_holds_in_another(
    api: Api, store: Store, second_api: str
) -> None:
    user_id, key = user_key(api, "otto")
    project_hash, _ = _project(api)
    api.request(
        "PUT", f"/projects/{project_hash}/members", json={"user_id": user_id, "role": "annotator"}
    )
    path = f"{second_api}/api/v1/projects/{project_hash}"
    headers = {"authorization": f"Bearer {key}"}
    with httpx.Client(headers=headers, timeout=30) as other:
        for _ in range(3):  # the other process has the key and the role cached
            assert other.get(path).status_code == 200
        users.revoke_api_key(store, _key_id(store, user_id))  # committed by this process
        assert other.get(path).status_code == 401


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

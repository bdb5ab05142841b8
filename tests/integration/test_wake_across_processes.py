"""A commit in one process wakes the dispatcher of another, on both backends
(PostgreSQL's NOTIFY, SQLite's wake board: store/sqlite_processes.py)."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from stagehook.store.context import Store
from tests.support.api import Api
from tests.support.deliveries import project_with_hook, submit
from tests.support.processes import kill, start_worker, worker_env
from tests.support.receiver import Receiver


@pytest.mark.settings(poll_interval=60)
def test_commit_in_api_process_wakes_a_worker_process(
    api: Api, store: Store, db_url: str, tmp_path: Path
) -> None:
    """The API's own dispatcher takes nothing and the worker polls once a minute: only a
    wake-up from the API's commit gets each event delivered within seconds."""
    with Receiver() as receiver:
        project_hash, tasks, _ = project_with_hook(api, receiver.url("/h"), 3)
        env = worker_env(db_url, tmp_path, poll_interval="60")
        log = tmp_path / "worker.log"
        worker = start_worker(env, log, "listener")
        try:
            time.sleep(2.0)  # the worker is up and listening, idle on a 60 s poll
            store.settings.max_in_flight = 0  # the embedded dispatcher takes nothing now
            for n, task in enumerate(tasks, start=1):
                submit(api, project_hash, [task])
                assert len(receiver.wait_for(n, "/h", timeout=10)) >= n
        finally:
            assert kill(worker, 15) == 0, log.read_text()[-2000:]
        worker_ids = {r.headers["webhook-id"] for r in receiver.requests("/h")}
        assert len(worker_ids) == 3

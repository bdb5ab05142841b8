"""A commit in one process wakes the dispatcher of another, on both backends
(PostgreSQL's NOTIFY, SQLite's wake board: store/sqlite_processes.py)."""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from pathlib import Path

import pytest

from stagehook.store.context import Store
from stagehook.store.db import Database
from stagehook.store.migrate import migrate
from stagehook.store.pg_notify import Notifier
from tests.support.api import Api
from tests.support.deliveries import project_with_hook, submit
from tests.support.processes import kill, start_worker, worker_env
from tests.support.receiver import Receiver
from tests.support.waiting import wait_until


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


def test_a_commit_that_made_work_wakes_another_processs_listener(db_url: str) -> None:
    """``Database.notify`` inside a write: the listener of another ``Database`` on the
    same database wakes once it commits; a rollback, or a commit that made no work, wakes
    nobody."""
    db = Database(db_url)
    migrate(db)
    listener = Database(db_url)  # another process's handle on the same database
    wakes: list[int] = []
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()
    thread = threading.Thread(
        target=loop.run_until_complete, args=(listener.listen(lambda: wakes.append(1), stop),)
    )
    thread.start()
    wait_until(lambda: len(wakes) == 1, what="listening")  # it wakes once on start
    with db.write() as conn:
        conn.exec_driver_sql("SELECT 1")
    with pytest.raises(RuntimeError), db.write() as conn:
        db.notify(conn)
        raise RuntimeError("rolled back: nothing to wake for")
    with db.write() as conn:
        db.notify(conn)
    wait_until(lambda: len(wakes) == 2, what="the commit's wake-up")
    time.sleep(0.5)  # nothing else arrives
    assert len(wakes) == 2
    loop.call_soon_threadsafe(stop.set)
    thread.join(timeout=30)
    loop.close()
    db.dispose()
    listener.dispose()


def test_a_notifier_that_cannot_reach_the_database_backs_off_and_stops(
    caplog: pytest.LogCaptureFixture,
) -> None:
    notifier = Notifier("postgresql://postgres@127.0.0.1:9/nowhere")
    with caplog.at_level(logging.WARNING, logger="stagehook.store.pg_notify"):
        for _ in range(200):
            notifier.ring()  # from the committing threads: never raises, never blocks
        time.sleep(1.0)
        started = time.monotonic()
        notifier.close()
        assert time.monotonic() - started < 5
    tries = [r for r in caplog.records if "NOTIFY failed" in r.getMessage()]
    assert 1 <= len(tries) <= 3  # 0.5 s, then 1 s apart: no retry per ring

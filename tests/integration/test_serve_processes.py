"""The processes ``stagehook serve`` runs: ``--workers N`` API processes on one port
(PostgreSQL), and with several cores the dispatcher as a worker child (both backends)."""

from __future__ import annotations

import contextlib
import os
import re
import signal
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import httpx

from tests.support.api import Api
from tests.support.processes import children, free_port, kill, worker_env
from tests.support.receiver import Receiver
from tests.support.waiting import wait_until
from tests.support.workflows import ANNOTATE, submit_to_complete_workflow


def _serve(env: dict[str, str], log: Path, port: int, workers: int) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "stagehook",
            "serve",
            "--port",
            str(port),
            "--workers",
            str(workers),
        ],
        env=env,
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


def test_several_api_processes_share_one_port(backend: str, db_url: str, tmp_path: Path) -> None:
    env = worker_env(db_url, tmp_path, bootstrap_api_key="shk_workers")
    port = free_port()
    log = tmp_path / "serve.log"
    proc = _serve(env, log, port, 2)
    try:
        if backend == "sqlite":  # one writer: more processes would only wait on each other
            assert proc.wait(timeout=60) != 0
            assert "PostgreSQL" in log.read_text()
            return
        base = f"http://127.0.0.1:{port}"

        def answers() -> bool:
            try:
                return httpx.get(f"{base}/healthz", timeout=2).status_code == 200
            except httpx.HTTPError:
                return False

        wait_until(answers, timeout=60, what="serve --workers 2")
        headers = {"authorization": "Bearer shk_workers"}
        for _ in range(4):
            assert httpx.get(f"{base}/api/v1/projects", headers=headers).status_code == 200
        wait_until(lambda: log.read_text().count("Application startup complete") == 2, 60)
    finally:
        kill(proc, signal.SIGTERM)


@contextlib.contextmanager
def _serving(
    db_url: str, tmp_path: Path, key: str, **settings: str
) -> Iterator[tuple[subprocess.Popen[bytes], str, Path]]:
    """One ``serve`` process, answering; stopped by SIGTERM, which must end it cleanly."""
    env = worker_env(db_url, tmp_path, bootstrap_api_key=key, **settings)
    port = free_port()
    log = tmp_path / "serve.log"
    proc = _serve(env, log, port, 1)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _answers(base), timeout=60, what="serve")
        yield proc, base, log
    finally:
        assert kill(proc, signal.SIGTERM) == 0


def test_serve_delivers_from_a_worker_child(db_url: str, tmp_path: Path) -> None:
    """With several cores the dispatcher is a child process; SIGTERM stops both."""
    with _serving(db_url, tmp_path, "shk_child") as (proc, base, log):
        _submit_one_and_receive_it(base, "shk_child")
        spawned = children(proc.pid)
        assert len(spawned) == 1
        # on the API's event loop (uvloop), not asyncio's default one
        assert re.search(r"worker \S+ started on uvloop", log.read_text()), log.read_text()
    for pid in spawned:
        wait_until(lambda pid=pid: not Path(f"/proc/{pid}").exists(), 30, "the child to stop")


def _answers(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def test_serve_keeps_the_dispatcher_inside_when_told_to(db_url: str, tmp_path: Path) -> None:
    """``STAGEHOOK_DISPATCHER_PROCESS=false``: one process, and deliveries still go out."""
    with _serving(db_url, tmp_path, "shk_one", dispatcher_process="false") as (proc, base, _):
        _submit_one_and_receive_it(base, "shk_one")
        assert children(proc.pid) == []


def test_a_worker_child_that_dies_is_replaced(db_url: str, tmp_path: Path) -> None:
    """SIGKILL to the worker child: ``serve`` starts another, and deliveries go on."""
    with _serving(db_url, tmp_path, "shk_again", dispatcher_process="true") as (proc, base, log):
        wait_until(lambda: len(children(proc.pid)) == 1, timeout=60, what="the worker child")
        (first,) = children(proc.pid)
        os.kill(first, signal.SIGKILL)
        wait_until(
            lambda: [c for c in children(proc.pid) if c != first and _alive(c)],
            timeout=60,
            what="another worker child",
        )
        _submit_one_and_receive_it(base, "shk_again")
        assert "the delivery worker child exited" in log.read_text()


def _alive(pid: int) -> bool:
    """Running, not a zombie waiting to be reaped."""
    try:
        return Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0] != "Z"
    except OSError:
        return False


def _submit_one_and_receive_it(base: str, key: str) -> None:
    with Receiver() as receiver, Api(base, key) as api:
        dataset_hash, _ = api.dataset_with_units(1)
        flow = submit_to_complete_workflow(complete_webhook=receiver.url("/done"))
        project_hash = api.create_project("p", [dataset_hash], workflow=flow)["project_hash"]
        task = api.tasks(project_hash)[0]
        api.act(project_hash, ANNOTATE, [{"task_uuid": task["task_uuid"], "action": "SUBMIT"}])
        receiver.wait_for(1, path="/done", timeout=30)

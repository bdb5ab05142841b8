"""The processes ``stagehook serve`` runs: ``--workers N`` API processes on one port
(PostgreSQL), and with several cores the dispatcher as a worker child (both backends)."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import httpx

from tests.support.api import Api
from tests.support.processes import free_port, kill, worker_env
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


def test_serve_delivers_from_a_worker_child(backend: str, db_url: str, tmp_path: Path) -> None:
    """With several cores the dispatcher is a child process; SIGTERM stops both."""
    env = worker_env(db_url, tmp_path, bootstrap_api_key="shk_child")
    port = free_port()
    log = tmp_path / "serve.log"
    proc = _serve(env, log, port, 1)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _answers(base), timeout=60, what="serve")
        with Receiver() as receiver, Api(base, "shk_child") as api:
            dataset_hash, _ = api.dataset_with_units(1)
            flow = submit_to_complete_workflow(complete_webhook=receiver.url("/done"))
            project_hash = api.create_project("p", [dataset_hash], workflow=flow)["project_hash"]
            task = api.tasks(project_hash)[0]
            api.act(project_hash, ANNOTATE, [{"task_uuid": task["task_uuid"], "action": "SUBMIT"}])
            receiver.wait_for(1, path="/done", timeout=30)
        children = _children(proc.pid)
        assert len(children) == 1
    finally:
        assert kill(proc, signal.SIGTERM) == 0
    for pid in children:
        wait_until(lambda pid=pid: not Path(f"/proc/{pid}").exists(), 30, "the child to stop")


def _answers(base: str) -> bool:
    try:
        return httpx.get(f"{base}/healthz", timeout=2).status_code == 200
    except httpx.HTTPError:
        return False


def _children(pid: int) -> list[int]:
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def test_serve_keeps_the_dispatcher_inside_when_told_to(
    backend: str, db_url: str, tmp_path: Path
) -> None:
    """``STAGEHOOK_DISPATCHER_PROCESS=false``: one process, and deliveries still go out."""
    env = worker_env(db_url, tmp_path, bootstrap_api_key="shk_one", dispatcher_process="false")
    port = free_port()
    log = tmp_path / "serve.log"
    proc = _serve(env, log, port, 1)
    base = f"http://127.0.0.1:{port}"
    try:
        wait_until(lambda: _answers(base), timeout=60, what="serve")
        with Receiver() as receiver, Api(base, "shk_one") as api:
            dataset_hash, _ = api.dataset_with_units(1)
            flow = submit_to_complete_workflow(complete_webhook=receiver.url("/done"))
            project_hash = api.create_project("p", [dataset_hash], workflow=flow)["project_hash"]
            task = api.tasks(project_hash)[0]
            api.act(project_hash, ANNOTATE, [{"task_uuid": task["task_uuid"], "action": "SUBMIT"}])
            receiver.wait_for(1, path="/done", timeout=30)
        assert _children(proc.pid) == []
    finally:
        assert kill(proc, signal.SIGTERM) == 0

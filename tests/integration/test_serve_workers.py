"""``stagehook serve --workers N``: several API processes on one port (PostgreSQL)."""

from __future__ import annotations

import signal
import subprocess
import sys
from pathlib import Path

import httpx

from tests.support.processes import free_port, kill, worker_env
from tests.support.waiting import wait_until


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

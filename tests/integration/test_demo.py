"""``stagehook demo`` as a user runs it: exit 0 only when both events arrived verified."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from tests.support.processes import kill

pytestmark = pytest.mark.slow  # each starts servers and runs the whole story


def _env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STAGEHOOK_")}
    env.update(extra)
    return env


def demo(data_dir: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "stagehook", "demo", "--data-dir", str(data_dir), "--no-stay"],
        env=_env(),
        capture_output=True,
        text=True,
        timeout=120,
    )


def serve(data_dir: Path, log: Path, **settings: str) -> subprocess.Popen[bytes]:
    env = _env(STAGEHOOK_DATA_DIR=str(data_dir), STAGEHOOK_PORT="0", **settings)
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "stagehook", "serve"], env=env, stdout=out, stderr=out
        )
    deadline = time.monotonic() + 60
    while not (data_dir / "server.json").exists():
        assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
        time.sleep(0.1)
    return proc


def test_demo_on_an_empty_data_dir_gets_both_events_verified(tmp_path: Path) -> None:
    data_dir = tmp_path / "empty"
    result = demo(data_dir)
    assert result.returncode == 0, result.stdout + result.stderr
    out = result.stdout
    assert "started a server" in out
    assert "task_submitted_event uid=" in out and "task_completed_event uid=" in out
    assert out.count("delivered after 1 attempt(s), HTTP 204") == 2
    assert f"stagehook serve --data-dir {data_dir}" in out
    assert not (data_dir / "server.json").exists(), "the server it started is gone"
    assert (data_dir / "admin-api-key").exists()


def test_demo_uses_the_running_server(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    server = serve(
        data_dir, tmp_path / "serve.log", STAGEHOOK_ALLOWED_TARGET_NETWORKS="127.0.0.0/8"
    )
    try:
        result = demo(data_dir)
        assert result.returncode == 0, result.stdout + result.stderr
        assert "using the server running at" in result.stdout
        url = result.stdout.split("open ", 1)[1].split(" ", 1)[0]
        key = (data_dir / "admin-api-key").read_text().strip()
        project = httpx.get(
            url.replace("/projects/", "/api/v1/projects/"),
            headers={"authorization": f"Bearer {key}"},
        ).json()
        assert project["title"] == "Demo: cats" and project["ontology_hash"]
        # The other commands find the same server and key the same way.
        exported = subprocess.run(
            [
                sys.executable,
                "-m",
                "stagehook",
                "export",
                project["project_hash"],
                "--format",
                "coco",
            ],
            env=_env(STAGEHOOK_DATA_DIR=str(data_dir)),
            capture_output=True,
            timeout=60,
        )
        assert exported.returncode == 0, exported.stderr
        assert b"cat-001.png" in exported.stdout
    finally:
        kill(server, 15)


def test_demo_says_why_when_the_server_refuses_loopback(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    server = serve(data_dir, tmp_path / "serve.log")  # the default SSRF guard
    try:
        result = demo(data_dir)
    finally:
        kill(server, 15)
    assert result.returncode == 1
    assert "stagehook demo failed" in result.stderr
    assert "STAGEHOOK_ALLOWED_TARGET_NETWORKS=127.0.0.0/8" in result.stderr

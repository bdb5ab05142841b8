"""The commands as a user runs them: serve on the embedded default, migrate, key file."""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import time
from pathlib import Path

import httpx

from tests.support.processes import free_port, kill
from tests.support.waiting import wait_until
from tests.support.workflows import ANNOTATE, basic_workflow


def env_without_stagehook() -> dict[str, str]:
    return {k: v for k, v in os.environ.items() if not k.startswith("STAGEHOOK_")}


def serve(data_dir: Path, log: Path) -> tuple[subprocess.Popen[bytes], str]:
    port = free_port()
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "stagehook",
            "serve",
            "--port",
            str(port),
            "--data-dir",
            str(data_dir),
        ],
        env=env_without_stagehook(),
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )
    base = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                return proc, base
        except httpx.HTTPError:
            time.sleep(0.1)
    kill(proc)
    raise AssertionError(log.read_text())


def test_first_start_creates_an_admin_key_once(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    log = tmp_path / "serve.log"
    proc, base = serve(data_dir, log)
    try:
        key_file = data_dir / "admin-api-key"
        key = key_file.read_text().strip()
        assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
        assert key in log.read_text(), "the generated key is printed once"
        projects = httpx.get(f"{base}/api/v1/projects", headers={"authorization": f"Bearer {key}"})
        assert projects.status_code == 200
        assert (data_dir / "stagehook.db").exists()
        assert httpx.get(f"{base}/openapi.json").json()["info"]["title"] == "stagehook"
    finally:
        assert kill(proc, 15) == 0
    proc, base = serve(data_dir, log)
    try:
        assert log.read_text().count("created the admin API key") == 1
        assert (data_dir / "admin-api-key").read_text().strip() == key
    finally:
        kill(proc, 15)


def test_migrate_on_an_empty_data_dir(tmp_path: Path) -> None:
    result = subprocess.run(
        [sys.executable, "-m", "stagehook", "migrate", "--data-dir", str(tmp_path / "d")],
        env=env_without_stagehook(),
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 0, result.stderr
    assert "migrations applied" in result.stdout
    assert (tmp_path / "d" / "stagehook.db").exists()
    assert stat.S_IMODE((tmp_path / "d").stat().st_mode) == 0o700
    assert stat.S_IMODE((tmp_path / "d" / "stagehook.db").stat().st_mode) == 0o600


def test_rekey_command(tmp_path: Path) -> None:
    def run(*args: str) -> str:
        result = subprocess.run(
            [sys.executable, "-m", "stagehook", *args, "--data-dir", str(tmp_path / "d")],
            env=env_without_stagehook(),
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert result.returncode == 0, result.stderr
        return result.stdout

    assert len(run("rekey", "--print-new-key").strip()) == 44
    assert "re-encrypted 0 webhook secret(s)" in run("rekey")


def test_data_dir_and_database_files_are_private_and_hold_no_clear_secret(
    tmp_path: Path,
) -> None:
    data_dir = tmp_path / "data"
    log = tmp_path / "serve.log"
    old_umask = os.umask(0o022)
    try:
        proc, base = serve(data_dir, log)
    finally:
        os.umask(old_umask)
    try:
        key = (data_dir / "admin-api-key").read_text().strip()
        headers = {"authorization": f"Bearer {key}"}
        project = httpx.post(
            f"{base}/api/v1/projects",
            headers=headers,
            json={
                "title": "p",
                "workflow": basic_workflow(annotate_webhook="https://example.com/h"),
            },
        ).json()
        hook = httpx.get(
            f"{base}/api/v1/projects/{project['project_hash']}/workflow/stages/{ANNOTATE}/webhook",
            headers=headers,
        ).json()
        secret = hook["signing_secret"]
        assert secret.startswith("whsec_")
        wake = data_dir / "stagehook.db-wake"  # the delivery worker child listens there
        wait_until(lambda: wake.is_dir() and any(wake.iterdir()), what="the worker listening")
        modes = {
            p.name: stat.S_IMODE(p.stat().st_mode)
            for p in data_dir.iterdir()
            if p.name.startswith("stagehook.db") or p.name == "secret-key"
        }
        assert modes == {
            "stagehook.db": 0o600,
            "stagehook.db-wal": 0o600,
            "stagehook.db-shm": 0o600,
            "stagehook.db-writer.lock": 0o600,
            "stagehook.db-wake": 0o700,
            "secret-key": 0o600,
        }
        assert all(stat.S_IMODE(m.stat().st_mode) == 0o600 for m in wake.iterdir())
        assert stat.S_IMODE(data_dir.stat().st_mode) == 0o700
        for name in ("stagehook.db", "stagehook.db-wal"):
            assert secret.encode() not in (data_dir / name).read_bytes()
    finally:
        kill(proc, 15)
    assert secret not in log.read_text()


def test_listen_prints_one_line_per_event_when_piped(tmp_path: Path) -> None:
    """Piped to a file or a log collector, nothing wraps: the timestamp stays on its line."""
    from datetime import UTC, datetime

    from stagehook.delivery.signing import build_headers
    from stagehook.events import encode_event

    secret = "whsec_" + "MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
    port = free_port()
    out = tmp_path / "listen.out"
    with out.open("wb") as handle:
        proc = subprocess.Popen(
            [sys.executable, "-m", "stagehook", "listen", "--port", str(port), "--secret", secret],
            env=env_without_stagehook(),
            stdout=handle,
            stderr=subprocess.STDOUT,
        )
    try:
        deadline = time.monotonic() + 30
        while "listening on" not in out.read_text():
            assert proc.poll() is None and time.monotonic() < deadline, out.read_text()
            time.sleep(0.1)
        long_hash = "f" * 36
        payload = {
            "project_hash": long_hash,
            "data_hashes": [long_hash],
            "label_hashes": [long_hash],
        }
        now = datetime.now(UTC)
        uid, body = encode_event(
            event_type="task_submitted_event", payload=payload, source="stagehook", created=now
        )
        headers = build_headers([secret], uid, now, body, "test")
        answer = httpx.post(f"http://127.0.0.1:{port}/", content=body, headers=headers)
        assert answer.status_code == 204
        deadline = time.monotonic() + 10
        while uid not in out.read_text():
            assert time.monotonic() < deadline, out.read_text()
            time.sleep(0.05)
    finally:
        kill(proc, 15)
    [line] = [x for x in out.read_text().splitlines() if uid in x]
    assert line.startswith("task_submitted_event uid=")
    assert line.endswith(now.isoformat()), "the timestamp is on the event's own line"

"""Start stagehook processes for chaos tests, bounded and always cleaned up."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path


def worker_env(database_url: str, data_dir: Path, **settings: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("STAGEHOOK_")}
    env.update(
        STAGEHOOK_DATABASE_URL=database_url,
        STAGEHOOK_DATA_DIR=str(data_dir),
        STAGEHOOK_ALLOWED_TARGET_NETWORKS="127.0.0.0/8",
    )
    env.update({f"STAGEHOOK_{k.upper()}": v for k, v in settings.items()})
    return env


def start_worker(env: dict[str, str], log: Path, worker_id: str) -> subprocess.Popen[bytes]:
    handle = log.open("ab")
    return subprocess.Popen(
        [sys.executable, "-m", "stagehook", "worker", "--id", worker_id],
        env=env,
        stdout=handle,
        stderr=subprocess.STDOUT,
    )


def kill(process: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> int:
    if process.poll() is None:
        process.send_signal(sig)
    try:
        return process.wait(timeout=30)
    except subprocess.TimeoutExpired:
        process.kill()
        return process.wait(timeout=10)


def start_api(env: dict[str, str], log: Path, port: int) -> subprocess.Popen[bytes]:
    """An API-only ``stagehook serve`` (separate workers deliver)."""
    handle = log.open("ab")
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "stagehook",
            "serve",
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--no-dispatcher",
        ],
        env=env,
        stdout=handle,
        stderr=subprocess.STDOUT,
    )


def free_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def restart_postgres() -> None:
    """Restart this machine's PostgreSQL cluster (the scale-out chaos test)."""
    version = sorted(Path("/etc/postgresql").iterdir())[0].name
    subprocess.run(
        ["pg_ctlcluster", "--skip-systemctl-redirect", version, "main", "restart"],
        check=True,
        timeout=120,
        capture_output=True,
    )


def children(pid: int) -> list[int]:
    """The running (or not yet reaped) child processes of ``pid``, from /proc."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found

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

"""docs/quickstart.md as a new user runs it: a copy of the repository, a fresh virtualenv,
a random port, a temporary data dir, and the page's commands pasted in order.

The virtualenv sees the system's site-packages so the dependencies need not download on
every run; ``pip install .`` still builds and installs stagehook itself into it, and the
page then runs the installed copy (no PYTHONPATH).
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

from tests.support.docs_runner import run_page
from tests.support.processes import free_port

ROOT = Path(__file__).resolve().parents[2]
LISTENER_PORT = 9000  # the port the page's receiver uses


def copy_of_the_repository(dest: Path) -> Path:
    """What a fresh clone has: tracked and new (not ignored) files, as in the worktree."""
    files = subprocess.run(
        ["git", "ls-files", "-co", "--exclude-standard", "-z"],
        cwd=ROOT,
        capture_output=True,
        check=True,
    ).stdout.split(b"\0")
    archive = dest.parent / "repo.tar"
    with tarfile.open(archive, "w") as tar:
        for name in filter(None, files):
            path = ROOT / name.decode()
            if path.is_file():
                tar.add(path, arcname=name.decode())
    with tarfile.open(archive) as tar:
        tar.extractall(dest, filter="data")
    return dest


def fresh_venv(path: Path) -> Path:
    subprocess.run(
        [sys.executable, "-m", "venv", "--system-site-packages", str(path)],
        check=True,
        timeout=300,
    )
    return path / "bin"


def port_is_free(port: int) -> bool:
    """Bindable the way uvicorn binds (SO_REUSEADDR: closed connections may linger)."""
    with socket.socket() as sock:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


@pytest.mark.slow
def test_quickstart_pasted_in_a_fresh_venv_gets_both_events(tmp_path: Path) -> None:
    assert port_is_free(LISTENER_PORT), f"the quickstart's receiver needs port {LISTENER_PORT}"
    clone = copy_of_the_repository(tmp_path / "clone")
    bin_dir = fresh_venv(tmp_path / "venv")
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("STAGEHOOK_") and k not in ("PYTHONPATH", "PYTHONHOME")
    }
    env.update(
        PATH=f"{bin_dir}{os.pathsep}{env['PATH']}",
        VIRTUAL_ENV=str(bin_dir.parent),
        # "any port and data dir": the page must not assume 8000 or the default data dir.
        STAGEHOOK_PORT=str(free_port()),
        STAGEHOOK_DATA_DIR=str(tmp_path / "somewhere else"),
    )
    transcript = run_page(
        ROOT / "docs" / "quickstart.md",
        clone,
        env,
        [
            "listening on http://127.0.0.1:9000/",
            "task_submitted_event uid=",  # what the listener prints once verified
            "task_completed_event uid=",
        ],
    )
    assert f"talking to http://127.0.0.1:{env['STAGEHOOK_PORT']}/api/v1" in transcript
    assert str(tmp_path / "venv") in (
        subprocess.run(
            ["bash", "-c", "command -v stagehook"], env=env, capture_output=True, text=True
        ).stdout
    ), "the page ran the stagehook it installed into the fresh venv"

"""Every runnable code block in docs/ runs here, against a real server, as a reader pastes it.

The quickstart is the strictest: a copy of the repository, a fresh virtualenv, the
server on a random port and a temporary data dir, and nothing but the page's own
commands (see ``test_quickstart.py``). The other pages run against a server this test
starts the way the quickstart does; ``tests/support/docs_runner.py`` and docs/README.md
document the fence convention.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.docs_runner import run_page, runnable
from tests.support.processes import kill

DOCS = Path(__file__).resolve().parents[2] / "docs"
#: What each page's reader sees at the end; every other page just has to run cleanly.
EXPECT = {
    "client.md": ["409 conflict", "annotator"],
    "receiving-webhooks.md": [
        "received task_submitted_event",
        "received task_completed_event",
    ],
}
#: Pages that start their own server (their own test).
OWN_SERVER = {"quickstart.md"}


def page_env(data_dir: Path) -> dict[str, str]:
    """This environment's ``stagehook``, ``uvicorn`` and ``python3`` first on PATH."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("STAGEHOOK_")}
    env["STAGEHOOK_DATA_DIR"] = str(data_dir)
    env["PATH"] = f"{Path(sys.executable).parent}{os.pathsep}{env.get('PATH', '')}"
    return env


@pytest.fixture
def server_data_dir(tmp_path: Path) -> Iterator[Path]:
    """``stagehook serve`` as the quickstart starts it, on a free port and its own data dir."""
    data_dir = tmp_path / "data"
    env = page_env(data_dir) | {
        "STAGEHOOK_PORT": "0",
        "STAGEHOOK_ALLOWED_TARGET_NETWORKS": "127.0.0.0/8",
    }
    log = tmp_path / "server.log"
    with log.open("wb") as out:
        proc = subprocess.Popen(
            [sys.executable, "-m", "stagehook", "serve"], env=env, stdout=out, stderr=out
        )
    try:
        deadline = time.monotonic() + 60
        while not (data_dir / "server.json").exists():
            assert proc.poll() is None and time.monotonic() < deadline, log.read_text()
            time.sleep(0.1)
        json.loads((data_dir / "server.json").read_text())
        yield data_dir
    finally:
        kill(proc, 15)


def pages_with_code() -> list[str]:
    return sorted(p.name for p in DOCS.glob("*.md") if runnable(p) and p.name not in OWN_SERVER)


@pytest.mark.slow
@pytest.mark.parametrize("page", pages_with_code())
def test_page_runs_as_written(page: str, server_data_dir: Path, tmp_path: Path) -> None:
    workdir = tmp_path / "work"
    workdir.mkdir()
    env = page_env(server_data_dir) | {"HOME": str(workdir)}  # "~" stays in the sandbox
    run_page(DOCS / page, workdir, env, EXPECT.get(page, []))


def test_every_page_with_expectations_has_code() -> None:
    """A renamed page or a block turned into ``console`` must not silently skip its check."""
    assert set(EXPECT) <= set(pages_with_code())

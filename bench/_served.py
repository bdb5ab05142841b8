"""A ``stagehook serve`` with a project and many tasks, built from outside the server.

The project is made through the HTTP API and the tasks are bulk-inserted by SQL, so the
server can run any checkout's code (``--src``): a before/after comparison then runs both
servers side by side in one run, on the same machine load.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

import httpx
from _bulk import BulkTasks
from _common import ROOT, scratch_database, workflow
from _http import AUTH, Server, serve_process


@contextlib.contextmanager
def served_project(
    backend: str,
    receiver_url: str,
    tasks: int,
    *,
    annotate_tenths: int = 10,
    src: Path = ROOT / "src",
) -> Iterator[tuple[Server, str, BulkTasks]]:
    """``(server, project_hash, tasks)``: Start -> Annotate (webhook) -> Complete."""
    with (
        scratch_database(backend) as (database_url, data_dir),
        serve_process(database_url, data_dir, src=src) as server,
    ):
        with httpx.Client(base_url=server.url + "/api/v1", headers=AUTH, timeout=60) as api:
            dataset = api.post("/datasets", json={"title": "bench"}).json()
            flow = workflow(f"{receiver_url}/hook/{backend}").model_dump(
                mode="json", exclude_none=True
            )
            project = api.post(
                "/projects",
                json={
                    "title": "bench",
                    "dataset_hashes": [dataset["dataset_hash"]],
                    "workflow": flow,
                },
            ).json()
        url = database_url or f"sqlite:///{data_dir / 'stagehook.db'}"
        bulk = BulkTasks(tasks, annotate_tenths=annotate_tenths)
        seconds = bulk.insert(url, project["project_hash"])
        print(f"  {backend} ({src}): {tasks} tasks inserted in {seconds:.1f}s", flush=True)
        yield server, project["project_hash"], bulk

"""Goal 7: does a page or API call cost the same at 1M tasks as at 10k?

Two ``serve`` processes side by side on the same backend, one over a project of
``small`` tasks and one over ``big`` (7 in 10 at Annotate, the rest completed). Each
call an annotator, a reviewer or the editor makes is timed ``reps`` times on both,
alternating, one request at a time (a signed-in browser session for the pages, the API
key for the API); the ratio of the medians is what grows with the work. The server's CPU
time per call (its threads' schedstat, ns) is shown beside the wall time: a call whose
wall time grows but not its CPU is waiting (on a disk flush, a lock), not working.
"""

from __future__ import annotations

import contextlib
import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass

import aiohttp
from _bulk import BulkTasks
from _common import ANNOTATE
from _http import AUTH, Server, session, sign_in
from _served import served_project
from idle_cpu import cpu_seconds_fine

#: Which task index an endpoint uses on repetition ``rep`` (distinct per endpoint, all
#: at Annotate, spread over the whole table).
Pick = Callable[[int], int]


@dataclass
class Side:
    label: str
    server: Server
    project_hash: str
    bulk: BulkTasks
    http: aiohttp.ClientSession
    reps: int
    csrf: str = ""

    def index(self, rep: int, lane: int) -> int:
        """Warm-up repetitions (``rep < 0``) sit 10 rows after a measured one."""
        step = max(20, self.bulk.count // (self.reps + 4) // 10 * 10)
        return (abs(rep) * step + lane + (10 if rep < 0 else 0)) % self.bulk.count


async def _call(side: Side, name: str, rep: int) -> tuple[float, float]:
    """Wall and server CPU seconds of one call."""
    p = side.project_hash
    api = f"/api/v1/projects/{p}"
    requests: dict[str, tuple[str, str, dict[str, object] | None, int]] = {
        "API GET /projects/{p} (counts)": ("GET", api, None, 0),
        "API stage queue (50 tasks)": (
            "GET",
            f"{api}/tasks?stage_uuid={ANNOTATE}&limit=50",
            None,
            0,
        ),
        "API GET task": ("GET", f"{api}/tasks/{side.bulk.task(side.index(rep, 0))}", None, 0),
        "API GET label row": (
            "GET",
            f"{api}/label-rows/{side.bulk.label(side.index(rep, 1))}",
            None,
            0,
        ),
        "API PUT label row": (
            "PUT",
            f"{api}/label-rows/{side.bulk.label(side.index(rep, 2))}",
            {"labels": {"objects": []}, "version": 0},
            0,
        ),
        "API submit (1 task)": (
            "POST",
            f"{api}/workflow/stages/{ANNOTATE}/actions",
            {"actions": [{"task_uuid": side.bulk.task(side.index(rep, 3)), "action": "SUBMIT"}]},
            0,
        ),
        "UI project overview": ("GET", f"/projects/{p}", None, 1),
        "UI stage queue": ("GET", f"/projects/{p}/stages/{ANNOTATE}", None, 1),
        "UI task page": (
            "GET",
            f"/projects/{p}/tasks/{side.bulk.task(side.index(rep, 4))}",
            None,
            1,
        ),
        "UI workflow editor": ("GET", f"/projects/{p}/workflow", None, 1),
        "UI projects list": ("GET", "/projects", None, 1),
        "UI next task (peek)": (
            "GET",
            f"/projects/{p}/tasks/{side.bulk.task(side.index(rep, 5))}/next",
            None,
            2,
        ),
        "UI submit & next": (
            "POST",
            f"/projects/{p}/tasks/{side.bulk.task(side.index(rep, 6))}/advance",
            {"action": "SUBMIT"},
            2,
        ),
    }
    method, path, body, kind = requests[name]
    headers = (AUTH, None, {"accept": "application/json", "x-csrf-token": side.csrf})[kind]
    cpu = cpu_seconds_fine(side.server.pid)
    started = time.perf_counter()
    async with side.http.request(
        method, path, json=body, headers=headers, allow_redirects=False
    ) as response:
        await response.read()
        assert response.status == 200, (name, response.status, await response.text())
    return time.perf_counter() - started, cpu_seconds_fine(side.server.pid) - cpu


ENDPOINTS = (
    "API GET /projects/{p} (counts)",
    "API stage queue (50 tasks)",
    "API GET task",
    "API GET label row",
    "API PUT label row",
    "API submit (1 task)",
    "UI project overview",
    "UI stage queue",
    "UI task page",
    "UI workflow editor",
    "UI projects list",
    "UI next task (peek)",
    "UI submit & next",
)


async def scale_phase(backend: str, receiver_url: str, small: int, big: int, reps: int) -> None:
    with contextlib.ExitStack() as stack:
        sides: list[Side] = []
        for count in (small, big):
            server, project_hash, bulk = stack.enter_context(
                served_project(backend, receiver_url, count, annotate_tenths=7)
            )
            http = session(server.url, 1)
            csrf = await sign_in(http)
            sides.append(Side(f"{count}", server, project_hash, bulk, http, reps, csrf))
        try:
            print(
                f"\n{backend}: median ms per call, {big} vs {small} tasks"
                f" ({reps} each, alternating); wall, and the server's CPU"
            )
            worst = 0.0
            for name in ENDPOINTS:
                times: dict[str, list[tuple[float, float]]] = {s.label: [] for s in sides}
                for warm in range(1, 4):
                    for s in sides:
                        await _call(s, name, -warm)
                for rep in range(reps):
                    for s in sides if rep % 2 else reversed(sides):
                        times[s.label].append(await _call(s, name, rep))
                a, b = (statistics.median(t for t, _ in times[s.label]) * 1000 for s in sides)
                ca, cb = (statistics.median(c for _, c in times[s.label]) * 1000 for s in sides)
                worst = max(worst, b / a)
                print(
                    f"  {name:34} {a:7.2f} -> {b:7.2f} ms  {b / a:5.2f}x"
                    f"   CPU {ca:6.2f} -> {cb:6.2f} ms  {cb / ca:5.2f}x",
                    flush=True,
                )
            print(f"  worst ratio {worst:.2f}x (goal: <= 1.25x)")
        finally:
            for s in sides:
                await s.http.close()

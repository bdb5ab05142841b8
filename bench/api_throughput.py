"""The API's hot path: a real ``stagehook serve`` under loopback load, ratios side by side.

One run measures, for SQLite and PostgreSQL (issue 11's goals):

1. single-task SUBMIT throughput ÷ ``GET /api/v1/meta`` on the same server;
3. submit → receiver latency at 50 % and 90 % of the measured (closed-loop) submit
   capacity; the end-to-end capacity (submits over the time until the receiver had all
   their events) is printed beside it;
4. PostgreSQL's time per submit ÷ SQLite's;
5. ``GET /projects`` and ``GET /tasks?limit=500`` ÷ ``/meta``;
6. RSS of ``serve`` after ``--memory-seconds`` of 50 clients (and, with ``--soak``, over
   a longer soak);
7. every call an annotator, reviewer or editor makes, at 1M tasks ÷ at 10k tasks (two
   servers side by side, requests alternating).

The server is ``python -m stagehook serve`` (embedded dispatcher on); the receiver is
``tests/support/receiver.py`` in its own process; every submit makes one event whose
delivery the receiver logs with its arrival time. Tasks are bulk-inserted by SQL.

    python bench/api_throughput.py                       # everything, ~10 min
    python bench/api_throughput.py --only throughput --backend sqlite
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import statistics
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import aiohttp
from _bulk import BulkTasks
from _common import ANNOTATE, ROOT, machine, percentile, pg_version, receiver_process
from _http import AUTH, Load, Server, closed_loop, open_loop, rss_sampler, session
from _scale import scale_phase
from _served import served_project

PHASES = ("throughput", "latency", "memory", "scale")


class Target:
    """One backend's server with its project and a supply of tasks waiting at Annotate."""

    def __init__(self, backend: str, server: Server, project_hash: str, bulk: BulkTasks) -> None:
        self.backend = backend
        self.server = server
        self.project_hash = project_hash
        self.bulk = bulk
        self._next = 0
        self.sent: dict[str, tuple[float, float]] = {}  # event uid -> (sent, answered)

    def take_task(self) -> str:
        if self._next >= self.bulk.count:
            raise AssertionError("out of tasks: raise --tasks")
        self._next += 1
        return self.bulk.task(self._next - 1)

    async def meta(self, http: aiohttp.ClientSession, _: int) -> None:
        async with http.get("/api/v1/meta", headers=AUTH) as response:
            await response.read()
            assert response.status == 200, response.status

    async def projects(self, http: aiohttp.ClientSession, _: int) -> None:
        async with http.get("/api/v1/projects", headers=AUTH) as response:
            await response.read()
            assert response.status == 200, response.status

    async def tasks500(self, http: aiohttp.ClientSession, _: int) -> None:
        path = f"/api/v1/projects/{self.project_hash}/tasks?limit=500"
        async with http.get(path, headers=AUTH) as response:
            await response.read()
            assert response.status == 200, response.status

    async def submit(self, http: aiohttp.ClientSession, _: int) -> None:
        body = {"actions": [{"task_uuid": self.take_task(), "action": "SUBMIT"}]}
        path = f"/api/v1/projects/{self.project_hash}/workflow/stages/{ANNOTATE}/actions"
        sent = time.time()
        async with http.post(path, json=body, headers=AUTH) as response:
            data = await response.json()
            answered = time.time()
            assert response.status == 200, (response.status, data)
        for uid in data["event_uids"]:
            self.sent[uid] = (sent, answered)

    async def mixed(self, http: aiohttp.ClientSession, n: int) -> None:
        await (self.meta, self.submit, self.projects, self.tasks500)[n % 4](http, n)


@contextlib.contextmanager
def target(backend: str, receiver_url: str, tasks: int, label: str, src: Path) -> Iterator[Target]:
    with served_project(backend, receiver_url, tasks, src=src) as (server, project_hash, bulk):
        yield Target(f"{label}{backend}".strip(), server, project_hash, bulk)


# --------------------------------------------------------------------------- goals 1, 4, 5
ENDPOINTS = ("meta", "submit", "projects", "tasks500")


async def throughput(
    targets: list[Target], args: argparse.Namespace, log: Path
) -> tuple[dict[str, float], dict[str, float]]:
    """Closed-loop rates, alternating target by target and endpoint by endpoint.

    Also the server process's CPU per request (utime + stime): on a machine shared with
    other work the rates follow the CPU share the server gets, its CPU per request much
    less (PostgreSQL's own backends are not in it).

    Returns two capacities per target: the closed-loop submit rate, and the end-to-end
    rate: a window's submits over the time until the receiver had all their events
    (deliveries may lag behind a closed loop of submits and catch up after it).
    """
    rates: dict[tuple[str, str], list[float]] = {}
    cpu: dict[tuple[str, str], list[float]] = {}
    child_cpu: dict[str, list[float]] = {}
    end_to_end: dict[str, list[float]] = {}
    for _round in range(args.rounds):
        for t in targets:
            async with session(t.server.url, args.clients) as http:
                for name in ENDPOINTS:
                    before = t.server.cpu_seconds()
                    before_child = t.server.children_cpu_seconds()
                    t.sent.clear()
                    started = time.time()
                    load = await closed_loop(http, getattr(t, name), args.clients, args.seconds)
                    spent = (t.server.cpu_seconds() - before) / max(load.done, 1) * 1000
                    cpu.setdefault((t.backend, name), []).append(spent)
                    if name == "submit":  # its deliveries, until the last one arrived
                        last = await _last_arrival(t, log)
                        end_to_end.setdefault(t.backend, []).append(load.done / (last - started))
                        await _settled(t.server)
                        child = t.server.children_cpu_seconds() - before_child
                        child_cpu.setdefault(t.backend, []).append(child / load.done * 1000)
                    rates.setdefault((t.backend, name), []).append(load.rate)
                    _show(f"{t.backend:18} {name:9}", load)
    print(
        f"\n{'server':18} {'meta/s':>8} {'submit/s':>9} {'projects/s':>11} {'tasks500/s':>11}"
        "  submit÷meta  projects÷meta  tasks÷meta"
    )
    capacity: dict[str, float] = {}
    for t in targets:
        med = {n: statistics.median(rates[(t.backend, n)]) for n in ENDPOINTS}
        capacity[t.backend] = med["submit"]
        print(
            f"{t.backend:18} {med['meta']:8.0f} {med['submit']:9.0f} {med['projects']:11.0f}"
            f" {med['tasks500']:11.0f}  {med['submit'] / med['meta']:10.1%}"
            f"  {med['projects'] / med['meta']:12.1%}  {med['tasks500'] / med['meta']:10.1%}"
        )
    print(
        f"\n{'server CPU ms/request':22}"
        + "".join(f"{n:>10}" for n in ENDPOINTS)
        + "  meta÷submit (CPU)"
    )
    for t in targets:
        med = {n: statistics.median(cpu[(t.backend, n)]) for n in ENDPOINTS}
        print(
            f"{t.backend:22}"
            + "".join(f"{med[n]:10.2f}" for n in ENDPOINTS)
            + f"  {med['meta'] / med['submit']:10.1%}"
            + f"   (+ worker child {statistics.median(child_cpu[t.backend]):.2f} per submit)"
        )
    sustained = {t.backend: statistics.median(end_to_end[t.backend]) for t in targets}
    print("\nsubmit capacity, closed loop vs end to end (until the receiver had every event):")
    for t in targets:
        print(
            f"{t.backend:22} {capacity[t.backend]:8.0f}/s vs {sustained[t.backend]:8.0f}/s"
            f"  ({sustained[t.backend] / capacity[t.backend]:.0%})"
        )
    for label in sorted({t.backend.rsplit(" ", 1)[0] for t in targets if " " in t.backend}) or [""]:
        sq, pg = f"{label} sqlite".strip(), f"{label} postgresql".strip()
        if sq in capacity and pg in capacity:
            print(
                f"goal 4 ({label or 'this tree'}): PostgreSQL time per submit ÷ SQLite's = "
                f"{capacity[sq] / capacity[pg]:.2f}x"
            )
    return capacity, sustained


async def _last_arrival(t: Target, log: Path, limit: float = 60.0) -> float:
    """When the receiver had the last event of the submits in ``t.sent`` (bounded)."""
    deadline = time.monotonic() + limit
    got = _received(log)
    while not all(uid in got for uid in t.sent) and time.monotonic() < deadline:
        await asyncio.sleep(0.05)
        got = _received(log)
    missing = [uid for uid in t.sent if uid not in got]
    assert not missing, f"{len(missing)} events never arrived"
    return max(got[uid] for uid in t.sent)


async def _settled(server: Server, quiet: float = 0.3, limit: float = 30.0) -> None:
    """Until the serve's children used no CPU for ``quiet`` seconds (bounded)."""
    deadline = time.monotonic() + limit
    last = server.children_cpu_seconds()
    while time.monotonic() < deadline:
        await asyncio.sleep(quiet)
        now = server.children_cpu_seconds()
        if now == last:
            return
        last = now


def _show(label: str, load: Load) -> None:
    lat = sorted(load.latencies)
    print(
        f"  {label} {load.rate:7.0f}/s  ({load.done} in {load.seconds:.1f}s, {load.errors} errors,"
        f" p50 {percentile(lat, 50) * 1000:.1f} ms, p99 {percentile(lat, 99) * 1000:.1f} ms)",
        flush=True,
    )


# --------------------------------------------------------------------------- goal 3
def _received(path: Path) -> dict[str, float]:
    got: dict[str, float] = {}
    if path.exists():
        for line in path.read_text().splitlines():
            parts = line.split("\t")
            if len(parts) == 3:
                got.setdefault(parts[0], float(parts[2]))
    return got


async def latency(
    targets: list[Target],
    capacities: dict[str, dict[str, float]],
    args: argparse.Namespace,
    log: Path,
) -> None:
    print(
        "\nserver             load                     rate/s  n     from request: p50   p99"
        "    max   | from answer: p50   p99"
    )
    for t in targets:
        for (which, capacity), share in (
            (item, share) for item in capacities.items() for share in (0.5, 0.9)
        ):
            rate = capacity[t.backend] * share
            t.sent.clear()
            before = t.server.cpu_seconds()
            async with session(t.server.url, 256) as http:
                load = await open_loop(http, t.submit, rate, args.latency_seconds)
            cpu = (t.server.cpu_seconds() - before) / max(load.done, 1) * 1000
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                got = _received(log)
                if all(uid in got for uid in t.sent):
                    break
                await asyncio.sleep(0.2)
            got = _received(log)
            lost = [uid for uid in t.sent if uid not in got]
            from_sent = sorted((got[u] - s) * 1000 for u, (s, _) in t.sent.items() if u in got)
            from_answer = sorted((got[u] - a) * 1000 for u, (_, a) in t.sent.items() if u in got)
            print(
                f"{t.backend:18} {share:4.0%} of {which:18} {rate:7.0f} {load.done:5}"
                f"  {percentile(from_sent, 50):16.1f} {percentile(from_sent, 99):6.1f}"
                f" {max(from_sent, default=float('nan')):6.1f}"
                f"   | {percentile(from_answer, 50):14.1f} {percentile(from_answer, 99):6.1f}"
                f"   (API CPU {cpu:.2f} ms/submit)"
                f"{'  NOT RECEIVED: ' + str(len(lost)) if lost else ''}"
                f"{'  errors: ' + str(load.errors) if load.errors else ''}",
                flush=True,
            )


# --------------------------------------------------------------------------- goal 6
async def memory(targets: list[Target], args: argparse.Namespace) -> None:
    print(
        "\nserver             RSS idle  after load  load/s"
        "  (50 clients, mixed meta/submit/projects/tasks500)"
    )
    for t in targets:
        idle = t.server.rss_mb()
        samples, child_samples, stop = rss_sampler(t.server, 60.0)
        async with session(t.server.url, 50) as http:
            load = await closed_loop(http, t.mixed, 50, args.memory_seconds)
            after = t.server.rss_mb()
            print(
                f"{t.backend:18} {idle:6.0f} MB {after:7.0f} MB {load.rate:7.0f}"
                f"   (its worker child: {t.server.children_rss_mb():.0f} MB)",
                flush=True,
            )
            if args.soak:
                load = await closed_loop(http, t.mixed, 50, args.soak)
        stop.set()
        if args.soak:
            soak = samples[1:] or samples
            per_minute = ", ".join(f"{s:.0f}" for s in samples)
            print(
                f"{t.backend:18} soak {args.soak:.0f}s: RSS per minute {per_minute} MB;"
                f" max ÷ min after the first minute {max(soak) / min(soak):.3f}; {load.rate:.0f}/s",
                flush=True,
            )
            child = child_samples[1:] or child_samples
            if child and min(child) > 0:
                print(
                    f"{'':18} its worker child: "
                    + ", ".join(f"{s:.0f}" for s in child_samples)
                    + f" MB; max ÷ min after the first minute {max(child) / min(child):.3f}",
                    flush=True,
                )


# --------------------------------------------------------------------------- main
async def main_async(args: argparse.Namespace) -> None:
    # one file per run: two runs side by side must not share (or delete) each other's log
    log = Path(args.receiver_log or tempfile.mkstemp(prefix="stagehook-bench-receiver-")[1])
    log.unlink(missing_ok=True)
    needs_soak = int(args.soak * 400)
    with receiver_process(log, "--timestamps") as receiver_url, contextlib.ExitStack() as stack:
        if set(args.only) & {"throughput", "latency", "memory"}:
            targets = [
                stack.enter_context(target(b, receiver_url, args.tasks + needs_soak, label, src))
                for b in args.backend
                for label, src in args.src
            ]
            # the end-to-end capacity is printed; it has matched the closed loop's (the
            # deliveries keep pace), so the latency phase loads shares of the one
            capacities = {"closed loop": {t.backend: args.capacity for t in targets}}
            if "throughput" in args.only:
                closed, _ = await throughput(targets, args, log)
                capacities = {"closed loop": closed}
            if "latency" in args.only:
                await latency(targets, capacities, args, log)
            if "memory" in args.only:
                await memory(targets, args)
            stack.close()
        if "scale" in args.only:
            for backend in args.backend:
                await scale_phase(backend, receiver_url, args.small, args.big, args.reps)
    if not args.receiver_log:
        log.unlink(missing_ok=True)  # a log asked for is kept, to be read afterwards


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", action="append", choices=["sqlite", "postgresql"])
    parser.add_argument("--only", action="append", choices=PHASES, help="repeatable")
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--seconds", type=float, default=4.0, help="per throughput window")
    parser.add_argument("--rounds", type=int, default=3, help="alternating throughput rounds")
    parser.add_argument("--tasks", type=int, default=60_000, help="tasks per backend")
    parser.add_argument(
        "--capacity",
        type=float,
        default=200.0,
        help="submits/s to assume when the throughput phase is skipped",
    )
    parser.add_argument("--latency-seconds", type=float, default=10.0)
    parser.add_argument("--memory-seconds", type=float, default=60.0)
    parser.add_argument("--soak", type=float, default=0.0, help="seconds of soak after that")
    parser.add_argument("--small", type=int, default=10_000)
    parser.add_argument("--big", type=int, default=1_000_000)
    parser.add_argument("--reps", type=int, default=30, help="requests per endpoint and size")
    parser.add_argument(
        "--src",
        action="append",
        metavar="LABEL=PATH",
        help="run servers from this source tree too (repeatable; e.g. before=/tmp/old/src):"
        " every phase but scale measures them side by side",
    )
    parser.add_argument(
        "--receiver-log",
        default=None,
        help="file the receiver logs arrivals to, kept after the run"
        " (default: a temporary file, removed)",
    )
    args = parser.parse_args()
    args.backend = args.backend or ["sqlite", "postgresql"]
    args.only = args.only or list(PHASES)
    if args.src:
        args.src = [
            (f"{s.split('=', 1)[0]} ", Path(s.split("=", 1)[1]).resolve()) for s in args.src
        ]
    else:
        args.src = [("", ROOT / "src")]
    extra = f"; PostgreSQL {pg_version()}" if "postgresql" in args.backend else ""
    print(f"machine: {machine()}{extra}", flush=True)
    asyncio.run(main_async(args))


if __name__ == "__main__":
    main()

"""End-to-end delivery throughput: store -> Dispatcher -> a real receiver answering 200.

For each backend (SQLite, PostgreSQL) and each setting (batched: claim_batch=100,
max_in_flight=64; unbatched: claim_batch=1, max_in_flight=1) this creates N events in a
fresh scratch database, starts ``Dispatcher(store).run()`` in-process and times until the
deliveries table says all N are delivered. The receiver (tests/support/receiver.py) runs
in its own process on 127.0.0.1. Events are spread over ``--urls`` webhook URLs so the
per-URL cap (default 8) does not cap the batched run at 8 in flight.

With ``--ceiling`` each batched run is paired with the **raw POST ceiling**: the same
number of POSTs of an event-sized signed body from a bare aiohttp client (64 in flight
over the same 8 paths) to the same receiver process, nothing stored, measured right
before and right after (the mean of the two: on a shared machine one burst of other
work moves a single measurement a lot); the ratio says how close delivery comes to what
a plain client could do. The run also prints this process's CPU per delivered event
(``time.process_time``: the dispatcher, plus the bench's 50 ms polling).

    python bench/delivery_throughput.py                 # 5,000 events, both backends
    python bench/delivery_throughput.py -n 1000 --backend sqlite
    python bench/delivery_throughput.py --config batched --ceiling
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import subprocess
import sys
import time
import uuid
from collections import defaultdict
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import aiohttp
from _common import (
    ANNOTATE,
    Project,
    bulk_events,
    count_writes,
    machine,
    make_project,
    new_store,
    pg_started_at,
    pg_version,
    receiver_process,
    scratch_database,
)
from sqlalchemy import func, select

from stagehook.delivery.dispatcher import Dispatcher
from stagehook.delivery.outcome import AttemptResult
from stagehook.delivery.sender import Sender
from stagehook.store.context import Store
from stagehook.store.outbox import claim, record
from stagehook.store.outbox.records import DeliveryStatus
from stagehook.store.outbox.write import write_events
from stagehook.store.tables import deliveries, delivery_attempts
from stagehook.workflow.task_machine import EventIntent

CONFIGS: dict[str, dict[str, Any]] = {
    "batched": {"claim_batch": 100, "max_in_flight": 64},
    "unbatched": {"claim_batch": 1, "max_in_flight": 1},
}


async def raw_ceiling(base_url: str, events: int, urls: int, in_flight: int = 64) -> float:
    """POSTs per second from a bare aiohttp client to the receiver (nothing stored)."""
    body = json.dumps(
        {
            "uid": str(uuid.uuid4()),
            "version": 1,
            "source": "stagehook",
            "event_type": "task_submitted_event",
            "event_created_timestamp": "2026-11-29T00:00:00.000000+00:00",
            "payload": {"project_hash": str(uuid.uuid4()), "data_hashes": [], "label_hashes": []},
        }
    ).encode()
    counter = iter(range(events))
    connector = aiohttp.TCPConnector(limit=in_flight)
    async with aiohttp.ClientSession(connector=connector) as http:

        async def client(lane: int) -> None:
            for n in counter:
                headers = {
                    "content-type": "application/json",
                    "webhook-id": f"ceiling-{n}",
                    "webhook-timestamp": str(int(time.time())),
                    "webhook-signature": "v1,c2lnbmF0dXJl",
                }
                async with http.post(
                    f"{base_url}/hook/{lane % urls}", data=body, headers=headers
                ) as r:
                    await r.read()

        started = time.perf_counter()
        await asyncio.gather(*(client(i) for i in range(in_flight)))
        return events / (time.perf_counter() - started)


@dataclass
class Result:
    backend: str
    config: str
    events: int
    seconds: float
    writes: int
    attempts: int
    received: int
    breakdown: dict[str, tuple[int, float]] = field(default_factory=dict)
    ceiling: float = 0.0
    #: CPU seconds this process (the dispatcher, plus the bench's polling) spent in the run
    cpu: float = 0.0
    #: CPU seconds this process (the dispatcher, plus the bench's polling) spent in the run
    cpu: float = 0.0

    @property
    def rate(self) -> float:
        return self.events / self.seconds


@contextlib.contextmanager
def breakdown() -> Iterator[dict[str, tuple[int, float]]]:
    """Time spent in the outbox functions the dispatcher calls (calls, seconds summed).

    Sends overlap (many in flight), so their sum exceeds the wall time; the others run
    one at a time per dispatcher (claims in the loop, records in the writer).
    """
    totals: dict[str, list[float]] = defaultdict(lambda: [0, 0.0])
    out: dict[str, tuple[int, float]] = {}
    # the health step is part of recording
    modules = {"claim_due": claim, "next_due": claim, "record_attempts": record}
    modules["record_health"] = record
    originals: dict[str, Callable[..., object]] = {
        n: getattr(module, n) for n, module in modules.items()
    }

    def timed(name: str, fn: Callable[..., object]) -> Callable[..., object]:
        def wrapper(*args: object, **kwargs: object) -> object:
            started = time.perf_counter()
            try:
                return fn(*args, **kwargs)
            finally:
                totals[name][0] += 1
                totals[name][1] += time.perf_counter() - started

        return wrapper

    original_send = Sender.send

    async def send(self: Sender, url: str, headers: dict[str, str], body: bytes) -> AttemptResult:
        started = time.perf_counter()
        try:
            return await original_send(self, url, headers, body)
        finally:
            totals["send"][0] += 1
            totals["send"][1] += time.perf_counter() - started

    # (older source trees, measured side by side, have no ``_exchange``)
    original_exchange = getattr(Dispatcher, "_exchange", None)

    def exchange(self: Dispatcher, *args: Any) -> Any:
        # CPU of the thread running the cycle's transaction (sqlite3 and psycopg release
        # the GIL while they wait, so this is work, not waiting)
        started = time.thread_time()
        try:
            assert original_exchange is not None
            return original_exchange(self, *args)
        finally:
            totals["cycle CPU"][0] += 1
            totals["cycle CPU"][1] += time.thread_time() - started

    for name, fn in originals.items():
        setattr(modules[name], name, timed(name, fn))
    Sender.send = send  # type: ignore[method-assign]
    if original_exchange is not None:
        Dispatcher._exchange = exchange  # type: ignore[method-assign]
    try:
        yield out
    finally:
        for name, fn in originals.items():
            setattr(modules[name], name, fn)
        Sender.send = original_send  # type: ignore[method-assign]
        if original_exchange is not None:
            Dispatcher._exchange = original_exchange  # type: ignore[method-assign]
        out.update({k: (int(v[0]), v[1]) for k, v in totals.items()})


def interleaved_events(store: Store, made: list[Project], events: int, chunk: int = 500) -> None:
    """``events`` events taking turns over the projects' URLs, as the ceiling's POSTs do.

    One project after the other would queue all of URL 0's deliveries before URL 1's,
    and the claim, which takes the earliest due rows, would then send to one URL at a
    time: at most ``max_in_flight_per_url`` (8 then) in flight instead of 64.
    """
    for start in range(0, events, chunk):
        with store.db.write() as conn:
            for n in range(start, min(start + chunk, events)):
                project = made[n % len(made)]
                intent = EventIntent(
                    "task_submitted_event",
                    ANNOTATE,
                    {
                        "project_hash": project.project_hash,
                        "data_hashes": [str(uuid.uuid4())],
                        "label_hashes": [str(uuid.uuid4())],
                    },
                )
                write_events(conn, store, project.project_hash, [intent])


def _delivered(store: Store) -> int:
    try:
        with store.db.read() as conn:
            query = select(func.count()).where(deliveries.c.status == DeliveryStatus.DELIVERED)
            return int(conn.execute(query).scalar_one())
    except Exception:  # the server restarting under us: the run is retried, keep polling
        return -1


def _attempts(store: Store) -> int:
    with store.db.read() as conn:
        return int(conn.execute(select(func.count()).select_from(delivery_attempts)).scalar_one())


def _lines(path: Path) -> int:
    return len(path.read_text().splitlines()) if path.exists() else 0


async def run_one(
    backend: str,
    config: str,
    events: int,
    urls: int,
    base_url: str,
    out: Path,
    timeout: float,
    profile: bool,
    by_url: bool = False,
    analyze: bool = False,
) -> Result:
    with scratch_database(backend) as (database_url, data_dir):
        store = new_store(database_url, data_dir, **CONFIGS[config])
        try:
            made = [make_project(store, f"{base_url}/hook/{i}") for i in range(urls)]
            if by_url:  # all of URL 0's events, then URL 1's, ...: one URL at a time
                for i, project in enumerate(made):
                    bulk_events(store, project, events // urls + (1 if i < events % urls else 0))
            else:
                interleaved_events(store, made, events)
            if analyze and not store.db.is_sqlite:
                with store.db.write() as conn:
                    conn.exec_driver_sql("ANALYZE deliveries")
                    conn.exec_driver_sql("ANALYZE events")
            received_before = _lines(out)
            writes = count_writes(store)
            dispatcher = Dispatcher(store, worker_id=f"bench-{config}")
            timing: contextlib.AbstractContextManager[dict[str, tuple[int, float]]]
            timing = breakdown() if profile else contextlib.nullcontext({})
            with timing as spent:
                started = time.perf_counter()
                cpu_started = time.process_time()
                task = asyncio.create_task(dispatcher.run())
                try:
                    deadline = started + timeout
                    while await asyncio.to_thread(_delivered, store) < events:
                        if time.perf_counter() > deadline or task.done():
                            raise RuntimeError(f"{backend}/{config}: not done in {timeout}s")
                        await asyncio.sleep(0.05)
                    seconds = time.perf_counter() - started
                    cpu = time.process_time() - cpu_started
                    write_count = writes()
                finally:
                    dispatcher.stop()
                    await task
            attempts = await asyncio.to_thread(_attempts, store)
            received = _lines(out) - received_before
        finally:
            store.db.dispose()
    return Result(backend, config, events, seconds, write_count, attempts, received, spent, cpu=cpu)


async def run_stable(
    backend: str, config: str, args: argparse.Namespace, base_url: str, out: Path
) -> Result:
    """``run_one``, again if the PostgreSQL server restarted meanwhile (shared machines)."""
    for _ in range(3):
        server = pg_started_at() if backend == "postgresql" else None
        try:
            result = await run_one(
                backend,
                config,
                args.events,
                args.urls,
                base_url,
                out,
                args.timeout,
                args.breakdown,
                args.order == "by-url",
                args.analyze,
            )
        except Exception as exc:
            if backend != "postgresql" or pg_started_at() == server:
                raise
            print(f"  ({backend} {config}: {type(exc).__name__}, server restarted; again)")
            await asyncio.sleep(5)
            continue
        if server is None or pg_started_at() == server:
            return result
        print(f"  ({backend} {config}: server restarted during the run; again)")
    raise RuntimeError(f"{backend} {config}: the server kept restarting")


async def main_async(args: argparse.Namespace) -> list[Result]:
    results: list[Result] = []
    out = Path(args.receiver_log)
    out.unlink(missing_ok=True)
    with receiver_process(out) as base_url:
        for backend in args.backend:
            for _ in range(args.repeat):
                for config in args.config:
                    pair = args.ceiling and config == "batched"
                    before = await raw_ceiling(base_url, args.events, args.urls) if pair else 0.0
                    result = await run_stable(backend, config, args, base_url, out)
                    if pair:
                        after = await raw_ceiling(base_url, args.events, args.urls)
                        result.ceiling = (before + after) / 2
                        print(
                            f"  {backend:10} raw POST ceiling {result.ceiling:7.0f}/s (before "
                            f"{before:.0f}, after {after:.0f}); batched delivery = "
                            f"{result.rate / result.ceiling:.1%} of it",
                            flush=True,
                        )
                    print(
                        f"  {backend:10} {config:9} {result.events} events in "
                        f"{result.seconds:6.2f}s = {result.rate:7.0f}/s, "
                        f"{result.writes} write cycles "
                        f"({result.writes / result.events:.3f}/event), "
                        f"{result.attempts} attempts, {result.received} received, "
                        f"dispatcher CPU {result.cpu / result.events * 1000:.3f} ms/event",
                        flush=True,
                    )
                    for name, (calls, spent) in result.breakdown.items():
                        print(
                            f"      {name:15} {calls:6} calls {spent:7.2f}s "
                            f"({spent / calls * 1000:6.2f} ms each, "
                            f"{spent / result.seconds * 100:5.1f}% of the run)"
                        )
                    results.append(result)
    out.unlink(missing_ok=True)
    return results


def _passed_on(args: argparse.Namespace) -> list[str]:
    """This run's options for one child run, without --src, --repeat and --backend."""
    argv = ["-n", str(args.events), "--urls", str(args.urls), "--timeout", str(args.timeout)]
    argv += ["--loop", args.loop, "--order", args.order, "--receiver-log", args.receiver_log]
    for config in args.config:
        argv += ["--config", config]
    if args.ceiling:
        argv.append("--ceiling")
    if args.breakdown:
        argv.append("--breakdown")
    if args.analyze:
        argv.append("--analyze")
    return argv


def side_by_side(args: argparse.Namespace) -> None:
    """Each source tree in turn, in a child process importing stagehook from it.

    Alternating tree by tree within every round, so the trees share the machine's load.
    """
    trees = [entry.split("=", 1) for entry in args.src]
    print(f"machine: {machine()}")
    for round_no in range(args.repeat):
        for backend in args.backend:
            for label, path in trees:
                env = dict(os.environ, PYTHONPATH=str(Path(path).resolve()))
                child = subprocess.run(
                    [sys.executable, __file__, *_passed_on(args), "--backend", backend],
                    env=env,
                    capture_output=True,
                    text=True,
                    check=False,
                )
                lines = child.stdout.splitlines()[1:] or child.stderr.splitlines()[-3:]
                print(f"[round {round_no + 1}, {label}] {os.getloadavg()[0]:.1f} load")
                for line in lines:
                    print(f"  {line}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--events", type=int, default=5000)
    parser.add_argument("--urls", type=int, default=8, help="webhook URLs to spread over")
    parser.add_argument(
        "--backend", action="append", choices=["sqlite", "postgresql"], help="repeatable"
    )
    parser.add_argument(
        "--config", action="append", choices=list(CONFIGS), help="repeatable (default: both)"
    )
    parser.add_argument("--repeat", type=int, default=1)
    parser.add_argument("--timeout", type=float, default=300.0, help="per run, seconds")
    parser.add_argument(
        "--breakdown", action="store_true", help="time spent in claim/next_due/record/send"
    )
    parser.add_argument(
        "--ceiling", action="store_true", help="pair batched runs with the raw POST ceiling"
    )
    parser.add_argument(
        "--loop",
        choices=["uvloop", "asyncio"],
        default="asyncio",
        help="event loop for the dispatcher and the ceiling client (`stagehook serve` runs uvloop)",
    )
    parser.add_argument(
        "--order",
        choices=["interleaved", "by-url"],
        default="interleaved",
        help="events taking turns over the URLs (default), or all of one URL's first",
    )
    parser.add_argument(
        "--analyze",
        action="store_true",
        help="PostgreSQL: ANALYZE the fresh tables before delivering (autovacuum's steady "
        "state; a scratch database is seconds old)",
    )
    parser.add_argument("--receiver-log", default="/tmp/stagehook-bench-receiver.log")
    parser.add_argument(
        "--src",
        action="append",
        metavar="LABEL=PATH",
        help="side by side: run this script once per source tree (its src/ directory), "
        "alternating, every --repeat round and backend (repeatable)",
    )
    args = parser.parse_args()
    args.backend = args.backend or ["sqlite", "postgresql"]
    args.config = args.config or list(CONFIGS)
    if args.src:
        side_by_side(args)
        return
    if "postgresql" in args.backend:
        print(f"machine: {machine()}; PostgreSQL {pg_version()}")
    else:
        print(f"machine: {machine()}")
    if args.loop == "uvloop":
        import uvloop

        results = uvloop.run(main_async(args))
    else:
        results = asyncio.run(main_async(args))

    if len(args.config) < 2:
        return
    print("\nbackend     batched/s  unbatched/s  ratio  write cycles/event (batched, unbatched)")
    for backend in args.backend:
        mine = [r for r in results if r.backend == backend]
        fast = [r for r in mine if r.config == "batched"]
        slow = [r for r in mine if r.config == "unbatched"]
        fast_rate = sum(r.rate for r in fast) / len(fast)
        slow_rate = sum(r.rate for r in slow) / len(slow)
        fast_w = sum(r.writes / r.events for r in fast) / len(fast)
        slow_w = sum(r.writes / r.events for r in slow) / len(slow)
        print(
            f"{backend:10} {fast_rate:10.0f} {slow_rate:12.0f} {fast_rate / slow_rate:6.1f}x"
            f"  {fast_w:.3f}, {slow_w:.3f}"
        )


if __name__ == "__main__":
    main()

"""Wake-up latency: from the commit of a submit to the receiver getting the request.

One event at a time: ``store.tasks.apply_stage_actions`` submits one task (a real
transition that commits its event), and we time from the commit (a wake listener the
bench adds to ``store.db`` ahead of the dispatcher's, so it runs right after COMMIT) to
the moment the loopback receiver (tests/support/receiver.py, a thread of this process, same
monotonic clock) has read the request. Modes, each in a fresh scratch database:

* ``wake``: the dispatcher as shipped (in-process wake-up; on PostgreSQL also LISTEN).
* ``poll``: the dispatcher's wake listener removed after start
  (``store.db.remove_wake_listener(dispatcher.wake)``) and, on PostgreSQL, its LISTEN task
  replaced by a no-op, so only the ``poll_interval`` timer (1.0 s) finds new work. Each
  submit waits a random 0..poll_interval after the previous delivery, so commits land at
  a random phase of the poll timer, as real traffic does.
* ``worker`` (PostgreSQL): ``python -m stagehook worker`` in a separate process; the
  commit in this process reaches it only by NOTIFY -> LISTEN.

    python bench/wake_latency.py                       # both backends, all modes
    python bench/wake_latency.py --backend sqlite -n 100 --poll-events 20
"""

from __future__ import annotations

import argparse
import asyncio
import random
import subprocess
import sys
import time
from collections.abc import Callable
from functools import partial
from pathlib import Path

from _common import (
    ROOT,
    Project,
    machine,
    make_project,
    median,
    new_store,
    percentile,
    pg_version,
    scratch_database,
    settings_env,
    stable,
    submit,
)
from sqlalchemy import func, select
from tests.support.receiver import Receiver

from stagehook.delivery.dispatcher import Dispatcher
from stagehook.store.context import Store
from stagehook.store.outbox.records import DeliveryStatus
from stagehook.store.tables import deliveries, workers

POLL_INTERVAL = 1.0


class CommitClock:
    """A wake listener that notes when *our* submit committed.

    The listener runs on whichever thread committed (SQLite: the group-commit writer
    thread), so it listens while our submit is under way: only transactions that wrote
    events wake listeners, and the dispatcher writes none.
    """

    def __init__(self) -> None:
        self.active = False
        self.at = 0.0

    def __call__(self) -> None:
        if self.active:
            self.at = time.monotonic()

    def submit(self, store: Store, project: Project, task_uuid: str) -> tuple[str, float]:
        self.at = 0.0
        self.active = True
        try:
            uids = submit(store, project, task_uuid)
        finally:
            self.active = False
        assert self.at, "the submit's commit woke no listener"
        return uids[0], self.at


async def _no_listen(_wake: Callable[[], None], stop: asyncio.Event) -> None:
    await stop.wait()


def _delivered(store: Store) -> int:
    with store.db.read() as conn:
        query = select(func.count()).where(deliveries.c.status == DeliveryStatus.DELIVERED)
        return int(conn.execute(query).scalar_one())


async def measure(
    store: Store, project: Project, receiver: Receiver, clock: CommitClock, count: int, gap: float
) -> list[float]:
    """Submit ``count`` tasks one by one; latency of each, in seconds."""
    rng = random.Random(1)
    latencies: list[float] = []
    for i, task_uuid in enumerate(project.task_uuids[:count]):
        uid, committed = await asyncio.to_thread(clock.submit, store, project, task_uuid)
        got = await receiver.wait_for_async(i + 1, "/hook", timeout=30)
        arrival = next(r.at for r in got if r.webhook_id == uid)
        latencies.append(arrival - committed)
        # the delivery is recorded before the next submit, so runs don't overlap
        while await asyncio.to_thread(_delivered, store) < i + 1:
            await asyncio.sleep(0.005)
        await asyncio.sleep(rng.uniform(0, gap))
    return latencies


async def in_process(backend: str, mode: str, count: int, gap: float) -> list[float]:
    with scratch_database(backend) as (database_url, data_dir):
        store = new_store(database_url, data_dir, poll_interval=POLL_INTERVAL)
        clock = CommitClock()
        store.db.add_wake_listener(clock)
        try:
            async with Receiver() as receiver:
                project = make_project(store, receiver.url("/hook"), tasks=count)
                if mode == "poll":
                    store.db.listen = _no_listen  # type: ignore[method-assign]
                dispatcher = Dispatcher(store, worker_id=f"bench-{mode}")
                task = asyncio.create_task(dispatcher.run())
                await asyncio.sleep(0.5)  # started: its wake listener is registered
                if mode == "poll":
                    store.db.remove_wake_listener(dispatcher.wake)
                try:
                    return await measure(store, project, receiver, clock, count, gap)
                finally:
                    dispatcher.stop()
                    await task
        finally:
            store.db.dispose()


def _worker_registered(store: Store) -> bool:
    with store.db.read() as conn:
        return conn.execute(select(func.count()).select_from(workers)).scalar_one() > 0


async def cross_process(count: int, gap: float) -> list[float]:
    with scratch_database("postgresql") as (database_url, data_dir):
        store = new_store(database_url, data_dir, poll_interval=POLL_INTERVAL)
        clock = CommitClock()
        store.db.add_wake_listener(clock)
        log = Path(data_dir) / "worker.log"
        env = settings_env(database_url, data_dir, poll_interval=str(POLL_INTERVAL))
        try:
            async with Receiver() as receiver:
                project = make_project(store, receiver.url("/hook"), tasks=count)
                with log.open("ab") as handle:
                    worker = subprocess.Popen(
                        [sys.executable, "-m", "stagehook", "worker", "--id", "bench-worker"],
                        env=env,
                        cwd=ROOT,
                        stdout=handle,
                        stderr=subprocess.STDOUT,
                    )
                try:
                    deadline = time.monotonic() + 30
                    while not await asyncio.to_thread(_worker_registered, store):
                        if time.monotonic() > deadline or worker.poll() is not None:
                            raise RuntimeError("worker did not start:\n" + log.read_text()[-2000:])
                        await asyncio.sleep(0.1)
                    await asyncio.sleep(1.0)  # LISTEN is up a moment after registering
                    return await measure(store, project, receiver, clock, count, gap)
                finally:
                    worker.terminate()
                    try:
                        worker.wait(timeout=20)
                    except subprocess.TimeoutExpired:
                        worker.kill()
                        worker.wait(timeout=10)
        finally:
            store.db.dispose()


def run_mode(backend: str, mode: str, args: argparse.Namespace) -> list[float]:
    if mode == "worker":
        return asyncio.run(cross_process(args.events, args.gap))
    if mode == "wake":
        return asyncio.run(in_process(backend, mode, args.events, args.gap))
    return asyncio.run(in_process(backend, mode, args.poll_events, POLL_INTERVAL))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("-n", "--events", type=int, default=200, help="per wake-up mode")
    parser.add_argument("--poll-events", type=int, default=40, help="per polling mode")
    parser.add_argument("--backend", action="append", choices=["sqlite", "postgresql"])
    parser.add_argument("--gap", type=float, default=0.02, help="max pause between events")
    args = parser.parse_args()
    backends = args.backend or ["sqlite", "postgresql"]
    info = f"machine: {machine()}"
    if "postgresql" in backends:
        info += f"; PostgreSQL {pg_version()}"
    print(info + f"; poll_interval {POLL_INTERVAL}s")

    results: dict[tuple[str, str], list[float]] = {}
    for backend in backends:
        modes = ["wake", "poll"] + (["worker"] if backend == "postgresql" else [])
        for mode in modes:
            started = time.perf_counter()
            job = partial(run_mode, backend, mode, args)
            samples = stable(backend == "postgresql", f"{backend} {mode}", job)
            results[backend, mode] = samples
            print(
                f"  {backend:10} {mode:6} n={len(samples):3}  median {median(samples) * 1000:7.1f}"
                f" ms  p95 {percentile(samples, 95) * 1000:7.1f} ms  max "
                f"{max(samples) * 1000:7.1f} ms  ({time.perf_counter() - started:.0f}s)",
                flush=True,
            )

    print("\nratios (polling only / with wake-up; higher = the wake-up saves more):")
    for backend in backends:
        wake, poll = results[backend, "wake"], results[backend, "poll"]
        print(
            f"  {backend:10} in-process: median {median(poll) / median(wake):6.1f}x  "
            f"p95 {percentile(poll, 95) / percentile(wake, 95):6.1f}x"
        )
        if (backend, "worker") in results:
            other = results[backend, "worker"]
            print(
                f"  {backend:10} cross-process LISTEN/NOTIFY: median "
                f"{median(poll) / median(other):6.1f}x  p95 "
                f"{percentile(poll, 95) / percentile(other, 95):6.1f}x  "
                f"(cross-process / in-process median {median(other) / median(wake):.2f}x)"
            )


if __name__ == "__main__":
    main()

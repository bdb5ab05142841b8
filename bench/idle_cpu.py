"""CPU used by idle stagehook processes, against a busy-polling baseline.

Starts real processes (``python -m stagehook worker`` / ``serve``), each on its own scratch
database with nothing to deliver, waits until their dispatchers have registered, then
reads utime+stime from /proc/<pid>/stat over ``--window`` seconds (default 20). On
PostgreSQL the CPU of the server backends serving that process's database is reported
too. The baseline is a worker with ``poll_interval=0.01`` (what a dispatcher without a
wake-up would need for ~10 ms latency). Idle processes are measured together; each busy
baseline runs alone afterwards so they don't compete with each other for the 2 cores.

``worker+history`` is an idle SQLite worker whose deliveries table holds ``--history``
delivered rows (default 300k): idle cost should not grow with history.

    python bench/idle_cpu.py
    python bench/idle_cpu.py --backend sqlite --window 10
"""

from __future__ import annotations

import argparse
import contextlib
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from functools import partial
from pathlib import Path

import psycopg
from _common import (
    PG_ADMIN_URL,
    ROOT,
    bulk_events,
    insert_deliveries,
    machine,
    make_project,
    new_store,
    pg_version,
    scratch_database,
    settings_env,
    stable,
    wait_until,
)
from sqlalchemy import func, select

from stagehook.store.context import Store
from stagehook.store.outbox.records import DeliveryStatus
from stagehook.store.tables import workers

TICK = os.sysconf("SC_CLK_TCK")


@dataclass
class Spec:
    name: str
    backend: str
    command: str  # worker | serve
    poll_interval: float = 5.0
    history: int = 0


@dataclass
class Running:
    spec: Spec
    process: subprocess.Popen[bytes]
    store: Store
    dbname: str | None
    log: Path
    cpu: float = 0.0
    cpu_fine: float = 0.0
    db_cpu: float | None = None
    samples: dict[str, float] = field(default_factory=dict)


def cpu_seconds(pid: int) -> float:
    """utime + stime of a process (all its threads, live or exited), in seconds.

    /proc/<pid>/stat counts in clock ticks (10 ms), coarse for an idle process.
    """
    stat = Path(f"/proc/{pid}/stat").read_text()
    fields = stat[stat.rindex(")") + 2 :].split()
    return (int(fields[11]) + int(fields[12])) / TICK


def cpu_seconds_fine(pid: int) -> float:
    """Time on CPU summed over the live threads' schedstat (nanoseconds), in seconds."""
    total = 0
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(OSError):
            total += int((task / "schedstat").read_text().split()[0])
    return total / 1e9


def backend_pids(dbname: str) -> list[int]:
    with psycopg.connect(PG_ADMIN_URL, connect_timeout=5) as conn:
        rows = conn.execute(
            "SELECT pid FROM pg_stat_activity WHERE datname = %s", (dbname,)
        ).fetchall()
    return [int(r[0]) for r in rows]


def backends_cpu(dbname: str) -> dict[int, float]:
    out: dict[int, float] = {}
    for pid in backend_pids(dbname):
        with contextlib.suppress(OSError):
            out[pid] = cpu_seconds_fine(pid)
    return out


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _registered(store: Store) -> bool:
    with store.db.read() as conn:
        return conn.execute(select(func.count()).select_from(workers)).scalar_one() > 0


@contextlib.contextmanager
def start(spec: Spec) -> Iterator[Running]:
    with scratch_database(spec.backend) as (database_url, data_dir):
        store = new_store(database_url, data_dir)
        if spec.history:
            project = make_project(store, "http://127.0.0.1:9/hook")
            bulk_events(store, project, 1)
            now = store.clock.now()
            insert_deliveries(
                store, project, DeliveryStatus.DELIVERED, spec.history, now - spec.history
            )
        env = settings_env(database_url, data_dir, poll_interval=str(spec.poll_interval))
        env["STAGEHOOK_BOOTSTRAP_API_KEY"] = "shk_bench_idle"
        if spec.command == "serve":
            args = ["serve", "--host", "127.0.0.1", "--port", str(free_port())]
        else:
            args = ["worker", "--id", f"bench-{spec.name}"]
        log = data_dir / "process.log"
        with log.open("ab") as handle:
            process = subprocess.Popen(
                [sys.executable, "-m", "stagehook", *args],
                env=env,
                cwd=ROOT,
                stdout=handle,
                stderr=subprocess.STDOUT,
            )
        dbname = database_url.rsplit("/", 1)[1] if database_url else None
        try:
            yield Running(spec, process, store, dbname, log)
        finally:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait(timeout=10)
            store.db.dispose()


def measure(group: list[Spec], window: float) -> list[Running]:
    with contextlib.ExitStack() as stack:
        running = [stack.enter_context(start(spec)) for spec in group]
        for item in running:
            ok = wait_until(partial(_registered, item.store), timeout=60, interval=0.2)
            if not ok or item.process.poll() is not None:
                raise RuntimeError(f"{item.spec.name} did not start:\n{item.log.read_text()}")
        time.sleep(2.0)  # past start-up work (migrations, first claim, first heartbeat)
        before = {id(r): cpu_seconds(r.process.pid) for r in running}
        fine = {id(r): cpu_seconds_fine(r.process.pid) for r in running}
        db_before = {id(r): backends_cpu(r.dbname) for r in running if r.dbname}
        time.sleep(window)
        for r in running:
            r.cpu = cpu_seconds(r.process.pid) - before[id(r)]
            r.cpu_fine = cpu_seconds_fine(r.process.pid) - fine[id(r)]
            if r.dbname:
                after = backends_cpu(r.dbname)
                start_cpu = db_before[id(r)]
                r.db_cpu = sum(after[p] - start_cpu[p] for p in after if p in start_cpu)
        return running


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", action="append", choices=["sqlite", "postgresql"])
    parser.add_argument("--window", type=float, default=20.0, help="seconds measured")
    parser.add_argument("--history", type=int, default=300_000, help="0 to skip that run")
    parser.add_argument("--busy-poll", type=float, default=0.01, help="baseline poll_interval")
    args = parser.parse_args()
    backends = args.backend or ["sqlite", "postgresql"]
    info = f"machine: {machine()}"
    if "postgresql" in backends:
        info += f"; PostgreSQL {pg_version()}"
    print(info + f"; window {args.window:.0f}s")

    idle: list[Spec] = []
    busy: list[Spec] = []
    for backend in backends:
        idle.append(Spec("worker", backend, "worker"))
        idle.append(Spec("serve", backend, "serve"))
        if backend == "sqlite" and args.history:
            idle.append(Spec("worker+history", backend, "worker", history=args.history))
        busy.append(Spec("busy-poll worker", backend, "worker", poll_interval=args.busy_poll))

    uses_pg = "postgresql" in backends
    results = stable(uses_pg, "idle group", partial(measure, idle, args.window))
    for spec in busy:
        label = f"{spec.backend} {spec.name}"
        results += stable(
            spec.backend == "postgresql", label, partial(measure, [spec], args.window)
        )

    print(
        f"\n{'process':18} {'backend':10} {'poll s':>6} {'CPU s':>7} {'(sched)':>8} "
        f"{'CPU %':>6} {'DB CPU s':>9}"
    )
    for r in results:
        db = f"{r.db_cpu:9.3f}" if r.db_cpu is not None else f"{'-':>9}"
        print(
            f"{r.spec.name:18} {r.spec.backend:10} {r.spec.poll_interval:6.2f} {r.cpu:7.2f} "
            f"{r.cpu_fine:8.4f} {100 * r.cpu_fine / args.window:5.2f}% {db}"
        )
    print(
        "\nCPU s: utime+stime from /proc/<pid>/stat (10 ms ticks); (sched): the threads'"
        " schedstat, ns resolution; DB CPU s: the PostgreSQL backends of that database."
    )
    print("ratios (busy-poll baseline CPU / idle CPU, process only, sched; higher = idler):")
    for backend in backends:
        base = next(r for r in results if r.spec.backend == backend and r.spec.name[:4] == "busy")
        for r in results:
            if r.spec.backend == backend and r is not base:
                ratio = base.cpu_fine / r.cpu_fine if r.cpu_fine > 0 else float("inf")
                print(f"  {backend:10} {r.spec.name:18} {ratio:7.1f}x")


if __name__ == "__main__":
    main()

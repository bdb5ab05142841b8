"""Cost of one claim as the deliveries table grows: history, and a due backlog.

``history``: one ``store.outbox.claim.claim_due`` of 100 due rows with 10k vs 1M already-delivered
rows in the table. Delivered rows are outside the partial index ``ix_deliveries_due``, so
the ratio should be ~1. ``backlog``: one claim of 100 rows when 1k vs 50k rows are due
(a receiver was down, or a burst): a claim should cost O(limit), not O(backlog).

Rows are bulk-inserted with SQL (generate_series; a recursive CTE on SQLite), all
pointing at one stored event and one webhook (the foreign keys need no more). Each
timed claim runs in a transaction that is rolled back, so every repetition sees the same
table; the two sizes are measured alternately. PostgreSQL tables are ANALYZEd first
(steady state; ``--no-analyze`` skips it). The plan of the claim statement is printed.

    python bench/claim_scaling.py                         # PostgreSQL, both scenarios
    python bench/claim_scaling.py --backend sqlite --scenario history
"""

from __future__ import annotations

import argparse
import contextlib
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from functools import partial
from typing import Any

from _common import (
    Project,
    bulk_events,
    insert_deliveries,
    machine,
    make_project,
    median,
    new_store,
    percentile,
    pg_version,
    scratch_database,
    stable,
)
from sqlalchemy import Connection, event, func, select

from stagehook.store.context import Store
from stagehook.store.outbox import claim
from stagehook.store.outbox.records import DUE_STATUSES, DeliveryStatus
from stagehook.store.tables import deliveries

LIMIT = 100


@dataclass
class Table:
    label: str
    store: Store
    project: Project
    delivered: int
    due: int


@contextlib.contextmanager
def build(backend: str, label: str, delivered: int, due: int, analyze: bool) -> Iterator[Table]:
    with scratch_database(backend) as (database_url, data_dir):
        store = new_store(database_url, data_dir)
        try:
            project = make_project(store, "http://127.0.0.1:9/hook")
            bulk_events(store, project, 1)  # the event every bulk row points at
            with store.db.write() as conn:
                conn.execute(
                    deliveries.update().values(status=DeliveryStatus.DELIVERED, attempts=1)
                )
            now = store.clock.now()
            insert_deliveries(
                store, project, DeliveryStatus.DELIVERED, delivered - 1, now - 3600 - delivered
            )
            if due > LIMIT:
                insert_deliveries(store, project, DeliveryStatus.PENDING, due - LIMIT, now - 600)
            bulk_events(store, project, LIMIT)  # due now, through the real outbox
            if analyze and not store.db.is_sqlite:
                with store.db.engine.connect().execution_options(
                    isolation_level="AUTOCOMMIT"
                ) as conn:
                    conn.exec_driver_sql("VACUUM ANALYZE deliveries")
                    conn.exec_driver_sql("ANALYZE")
            yield Table(label, store, project, delivered, due)
        finally:
            store.db.dispose()


def _claim(conn: Connection, store: Store) -> int:
    got = claim.claim_due(
        conn,
        "bench",
        now=store.clock.now() + 1,
        lease_seconds=60,
        limit=LIMIT,
        per_url=LIMIT,
    )
    return len(got)


def time_claim(table: Table) -> tuple[float, int]:
    with table.store.db.engine.connect() as conn:
        transaction = conn.begin()
        started = time.perf_counter()
        got = _claim(conn, table.store)
        seconds = time.perf_counter() - started
        transaction.rollback()
    return seconds, got


def time_next_due(table: Table) -> float:
    with table.store.db.read() as conn:
        started = time.perf_counter()
        claim.next_due(conn, table.store.clock.now())
        return time.perf_counter() - started


def explain(table: Table, what: str) -> list[list[str]]:
    """Plans of the statements a claim (or next_due) runs on deliveries, as executed.

    The statements are captured with their parameters while the function runs, then
    explained one by one (PostgreSQL: EXPLAIN ANALYZE, inside a rolled-back transaction).
    """
    captured: list[tuple[str, Any]] = []

    def capture(_c: Any, _cur: Any, statement: str, parameters: Any, *_: Any) -> None:
        head = statement.lstrip().upper()
        if head.startswith(("SELECT", "UPDATE", "WITH")) and "DELIVERIES" in head:
            captured.append((statement, parameters))

    engine = table.store.db.engine
    event.listen(engine, "before_cursor_execute", capture)
    try:
        if what == "claim":
            time_claim(table)
        else:
            time_next_due(table)
    finally:
        event.remove(engine, "before_cursor_execute", capture)
    sqlite = table.store.db.is_sqlite
    prefix = "EXPLAIN QUERY PLAN " if sqlite else "EXPLAIN (ANALYZE, COSTS OFF) "
    plans: list[list[str]] = []
    with engine.connect() as conn:
        transaction = conn.begin()
        for statement, parameters in captured:
            rows = conn.exec_driver_sql(prefix + statement, parameters).all()
            first = " ".join(statement.split())[:90]
            if sqlite:
                plans.append([first] + [f"{r[0]:>3} {r[1]:>3} {r[3]}" for r in rows])
            else:
                plans.append([first] + [str(r[0]) for r in rows])
        transaction.rollback()
    return plans


def verdict(plans: list[list[str]]) -> str:
    """Does any statement use the partial index; does any read all of deliveries?"""
    lines = [line for plan in plans for line in plan[1:]]
    used = any("ix_deliveries_due" in line for line in lines)
    full = any(
        "Seq Scan on deliveries" in line
        or (re.search(r"\bSCAN (deliveries|d)\b", line) and "ix_deliveries_due" not in line)
        for line in lines
    )
    return (
        f"ix_deliveries_due used: {'yes' if used else 'NO'}; "
        f"full scan of deliveries: {'YES' if full else 'no'}"
    )


def count_rows(table: Table) -> tuple[int, int]:
    with table.store.db.read() as conn:
        total = conn.execute(select(func.count()).select_from(deliveries)).scalar_one()
        due = conn.execute(
            select(func.count()).where(deliveries.c.status.in_(DUE_STATUSES))
        ).scalar_one()
    return int(total), int(due)


def compare(
    backend: str, scenario: str, small: Table, big: Table, reps: int, show_plan: bool
) -> dict[str, float]:
    for table in (small, big):
        total, due = count_rows(table)
        print(f"  {table.label}: {total} rows in deliveries, {due} due")
        _, got = time_claim(table)  # warm caches; also checks the claim takes LIMIT rows
        if got != LIMIT:
            print(f"  WARNING: {table.label}: claim returned {got} rows, expected {LIMIT}")
    claims: dict[str, list[float]] = {small.label: [], big.label: []}
    dues: dict[str, list[float]] = {small.label: [], big.label: []}
    for _ in range(reps):
        for table in (small, big):
            claims[table.label].append(time_claim(table)[0])
            dues[table.label].append(time_next_due(table))
    out: dict[str, float] = {}
    for name, samples in (("claim", claims), ("next_due", dues)):
        a, b = samples[small.label], samples[big.label]
        ratio = median(b) / median(a)
        out[name] = ratio
        print(
            f"  {name:8} {small.label}: median {median(a) * 1000:7.2f} ms p95 "
            f"{percentile(a, 95) * 1000:7.2f} | {big.label}: median {median(b) * 1000:7.2f} ms "
            f"p95 {percentile(b, 95) * 1000:7.2f} | ratio {ratio:5.2f}x"
        )
    for what in ("claim", "next_due"):
        for table in (small, big):
            plans = explain(table, what)
            print(f"  {what} plan, {table.label}: {verdict(plans)}")
            if show_plan:
                for plan in plans:
                    print("    -- " + plan[0])
                    print("\n".join("    " + line for line in plan[1:]))
    return out


def scenario_run(
    backend: str, scenario: str, sizes: list[tuple[str, int, int]], args: argparse.Namespace
) -> dict[str, float]:
    started = time.perf_counter()
    with contextlib.ExitStack() as stack:
        small, big = (
            stack.enter_context(build(backend, label, d, u, args.analyze)) for label, d, u in sizes
        )
        print(f"  built in {time.perf_counter() - started:.1f}s", flush=True)
        return compare(backend, scenario, small, big, args.reps, args.plan)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--backend", action="append", choices=["postgresql", "sqlite"])
    parser.add_argument("--scenario", action="append", choices=["history", "backlog"])
    parser.add_argument("--small", type=int, default=10_000, help="delivered rows, small table")
    parser.add_argument("--big", type=int, default=1_000_000, help="delivered rows, big table")
    parser.add_argument("--backlog-small", type=int, default=1_000, help="due rows")
    parser.add_argument("--backlog-big", type=int, default=50_000, help="due rows")
    parser.add_argument("--reps", type=int, default=30)
    parser.add_argument("--no-analyze", dest="analyze", action="store_false")
    parser.add_argument("--plan", action="store_true", help="print the full plans")
    args = parser.parse_args()
    backends = args.backend or ["postgresql"]
    scenarios = args.scenario or ["history", "backlog"]
    info = f"machine: {machine()}"
    if "postgresql" in backends:
        info += f"; PostgreSQL {pg_version()}"
    print(info)
    summary: list[str] = []
    for backend in backends:
        for scenario in scenarios:
            if scenario == "history":
                sizes = [
                    (f"{args.small} delivered", args.small, LIMIT),
                    (f"{args.big} delivered", args.big, LIMIT),
                ]
            else:
                sizes = [
                    (f"{args.backlog_small} due", 1, args.backlog_small),
                    (f"{args.backlog_big} due", 1, args.backlog_big),
                ]
            print(f"\n{backend} / {scenario}: building tables ...", flush=True)
            job = partial(scenario_run, backend, scenario, sizes, args)
            ratios = stable(backend == "postgresql", f"{backend} {scenario}", job)
            summary.append(
                f"{backend:10} {scenario:8} {sizes[0][0]:>16} -> {sizes[1][0]:<16} "
                f"claim {ratios['claim']:6.2f}x   next_due {ratios['next_due']:6.2f}x"
            )
    print("\nsummary (median time of the big table / the small one; ~1 means it scales):")
    for line in summary:
        print("  " + line)


if __name__ == "__main__":
    main()

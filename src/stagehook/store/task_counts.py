"""How many tasks sit at each stage, by status: kept exact in the transition's transaction.

Every page of a project shows these counts; counting the project's tasks on each view
costs time in proportion to the project (60 ms at 100k tasks). Instead each change
adds its deltas here, in the same transaction as the task rows, so a count is always
exactly what ``COUNT(*)`` would say, and reading it costs the same at 10k or 1M tasks.

On PostgreSQL many submits at one stage would all update the same two rows and queue
on their row locks until each commit; so a key has up to ``SHARDS`` rows and a
transaction picks one at random (the count is the sum). With 8 shards, 16 concurrent
submits still had 0.8 backends waiting on a row lock on average; 32 leave a collision
rare. SQLite has one writer, nothing to spread: it keeps one row per key. Keys are
updated in sorted order, so two transactions never wait on each other in opposite
orders.
"""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Iterable
from typing import Any

from sqlalchemy import Connection, bindparam, func, select, text

from stagehook.store.prepared import Prepared, json_param, json_rows
from stagehook.store.tables import task_counts

SHARDS = 32
#: (stage_uuid, status) -> tasks added (negative: removed)
Key = tuple[str, str]

_UPSERT = Prepared(
    text(
        "INSERT INTO task_counts (project_hash, stage_uuid, status, shard, n) "
        "VALUES (:project_hash, :stage_uuid, :status, :shard, :n) "
        "ON CONFLICT (project_hash, stage_uuid, status, shard) "
        "DO UPDATE SET n = task_counts.n + excluded.n"
    )
)
_READ = (
    select(task_counts.c.stage_uuid, task_counts.c.status, func.sum(task_counts.c.n))
    .where(task_counts.c.project_hash == bindparam("project_hash"))
    .group_by(task_counts.c.stage_uuid, task_counts.c.status)
)


def add(conn: Connection, project_hash: str, deltas: Iterable[tuple[Key, int]]) -> None:
    """Apply ``(key, delta)`` pairs inside the caller's transaction."""
    shard = shard_for(conn)
    rows = [
        {"project_hash": project_hash, "stage_uuid": s, "status": st, "shard": shard, "n": n}
        for (s, st), n in summed(deltas)
    ]
    if rows:
        _UPSERT.run_many(conn, rows)


def summed(deltas: Iterable[tuple[Key, int]]) -> list[tuple[Key, int]]:
    """One non-zero delta per key, in key order (the order rows are locked in)."""
    total: Counter[Key] = Counter()
    for key, delta in deltas:
        total[key] += delta
    return [(key, n) for key, n in sorted(total.items()) if n]


def shard_for(conn: Connection) -> int:
    """The shard one transaction adds to (always 0 on SQLite)."""
    return 0 if conn.dialect.name == "sqlite" else random.randrange(SHARDS)


_COUNTED = (("item", "integer"), ("stage_uuid", "text"), ("status", "text"), ("n", "bigint"))


def upsert_cte(kept: str) -> str:
    """``add`` as a part of one PostgreSQL statement (store/tasks.py writes the
    transitions of several requests in one): the deltas of the rows whose ``item`` (the
    request they belong to) ``kept`` holds for (a condition on ``r.item``), summed per
    key, in key order; ``cte_params`` gives their values."""
    return (
        "counted AS (INSERT INTO task_counts (project_hash, stage_uuid, status, shard, n) "
        "SELECT CAST(:counted_project AS text), r.stage_uuid, r.status, :counted_shard, sum(r.n) "
        f"FROM {json_rows('counted', _COUNTED)} WHERE {kept} "
        "GROUP BY r.stage_uuid, r.status HAVING sum(r.n) <> 0 ORDER BY r.stage_uuid, r.status "
        "ON CONFLICT (project_hash, stage_uuid, status, shard) "
        "DO UPDATE SET n = task_counts.n + excluded.n)"
    )


def cte_params(
    conn: Connection, project_hash: str, deltas: Iterable[tuple[int, Key, int]]
) -> dict[str, Any]:
    """The values of ``upsert_cte``: each delta with the item it belongs to."""
    rows = [{"item": i, "stage_uuid": s, "status": st, "n": n} for i, (s, st), n in deltas if n]
    return {
        "counted": json_param(rows),
        "counted_project": project_hash,
        "counted_shard": shard_for(conn),
    }


def moved(before: Key, after: Key) -> list[tuple[Key, int]]:
    """The deltas of one task going from ``before`` to ``after``."""
    return [] if before == after else [(before, -1), (after, 1)]


def by_stage(conn: Connection, project_hash: str) -> dict[str, dict[str, int]]:
    """``{stage_uuid: {status: n}}`` with only the non-zero counts."""
    counts: dict[str, dict[str, int]] = {}
    for stage_uuid, status, n in conn.execute(_READ, {"project_hash": project_hash}):
        if n:
            counts.setdefault(stage_uuid, {})[status] = int(n)
    return counts


def rebuild(conn: Connection, project_hash: str) -> None:
    """Recount a project's tasks from the table (after rows were written in bulk by SQL)."""
    conn.execute(task_counts.delete().where(task_counts.c.project_hash == project_hash))
    conn.execute(
        text(
            "INSERT INTO task_counts (project_hash, stage_uuid, status, shard, n) "
            "SELECT project_hash, stage_uuid, status, 0, COUNT(*) FROM tasks "
            "WHERE project_hash = :p GROUP BY project_hash, stage_uuid, status"
        ),
        {"p": project_hash},
    )

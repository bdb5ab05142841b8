"""Many tasks fast: rows written straight into the tables with one SQL statement.

Going through the API would take hours for a million tasks; what the benchmarks need is
the tables in the state the API would leave them in (tasks, their label rows and history,
and the per-stage counts when the schema keeps them). Plain SQL on its own engine, so it
works on a database any checkout's server created.
"""

from __future__ import annotations

import random
import time

from _common import ANNOTATE, COMPLETE
from sqlalchemy import Engine, create_engine, inspect, text

_SERIES = {
    "postgresql": "SELECT g AS x FROM generate_series(0, :m - 1) AS g",
    "sqlite": "WITH RECURSIVE s(x) AS (SELECT 0 UNION ALL SELECT x + 1 FROM s WHERE x < :m - 1) "
    "SELECT x FROM s",
}
_NAME = {
    "postgresql": "(:{p} || lpad(x::text, 12, '0'))",
    "sqlite": "printf('%s%012d', :{p}, x)",
}


class BulkTasks:
    """Names of the generated tasks: task ``i`` has uuid ``task(i)``, label ``label(i)``.

    Task ``i`` sits at Annotate (NEW) when ``i % 10 < annotate_tenths``, else it is
    COMPLETED at Complete.
    """

    def __init__(self, count: int, annotate_tenths: int = 10) -> None:
        tag = f"{random.getrandbits(32):08x}"
        self.count = count
        self.annotate_tenths = annotate_tenths
        self._task = f"{tag}-0000-4000-8000-"
        self._label = f"{tag}-0000-4000-9000-"
        self._data = f"{tag}-0000-4000-a000-"

    def task(self, i: int) -> str:
        return f"{self._task}{i:012d}"

    def label(self, i: int) -> str:
        return f"{self._label}{i:012d}"

    def at_annotate(self, i: int) -> bool:
        return i % 10 < self.annotate_tenths

    def insert(self, database_url: str, project_hash: str) -> float:
        """Write the tasks, label rows and history; returns the seconds it took."""
        url = database_url.replace("postgresql://", "postgresql+psycopg://", 1)
        engine = create_engine(url)
        dialect = engine.dialect.name
        series = _SERIES[dialect]
        task, label, data = (_NAME[dialect].format(p=p) for p in ("tp", "lp", "dp"))
        params = {
            "m": self.count,
            "tp": self._task,
            "lp": self._label,
            "dp": self._data,
            "ph": project_hash,
            "annotate": ANNOTATE,
            "complete": COMPLETE,
            "tenths": self.annotate_tenths,
            "now": time.time(),
        }
        started = time.perf_counter()
        with engine.begin() as conn:
            conn.execute(
                text(
                    f"""INSERT INTO tasks (task_uuid, project_hash, data_hash, label_hash,
                        stage_uuid, status, assignee, updated_at)
                    SELECT {task}, :ph, {data}, {label},
                        CASE WHEN x % 10 < :tenths THEN :annotate ELSE :complete END,
                        CASE WHEN x % 10 < :tenths THEN 'NEW' ELSE 'COMPLETED' END,
                        NULL, :now
                    FROM ({series}) AS series"""
                ),
                params,
            )
            conn.execute(
                text(
                    f"""INSERT INTO label_rows (label_hash, project_hash, data_hash, labels,
                        version, updated_at)
                    SELECT {label}, :ph, {data}, '{{}}', 0, :now FROM ({series}) AS series"""
                ),
                params,
            )
            conn.execute(
                text(
                    f"""INSERT INTO task_history (task_uuid, project_hash, at, actor, action,
                        from_stage, to_stage, from_status, to_status)
                    SELECT {task}, :ph, :now, 'bench', 'CREATE', NULL, :annotate, NULL, 'NEW'
                    FROM ({series}) AS series"""
                ),
                params,
            )
            if "task_counts" in inspect(conn).get_table_names():
                conn.execute(text("DELETE FROM task_counts WHERE project_hash = :ph"), params)
                conn.execute(
                    text(
                        "INSERT INTO task_counts (project_hash, stage_uuid, status, shard, n) "
                        "SELECT project_hash, stage_uuid, status, 0, COUNT(*) FROM tasks "
                        "WHERE project_hash = :ph GROUP BY project_hash, stage_uuid, status"
                    ),
                    params,
                )
        if dialect != "sqlite":
            with engine.connect() as conn:
                conn.execution_options(isolation_level="AUTOCOMMIT").execute(
                    text("ANALYZE tasks; ANALYZE label_rows; ANALYZE task_history; CHECKPOINT")
                )
        else:
            _checkpoint(engine)
        engine.dispose()
        return time.perf_counter() - started


def _checkpoint(engine: Engine) -> None:
    """Leave the load on disk, as a server that has run a while would have it.

    The load's own commit checkpoints only part of its WAL when a reader is about (the
    server polls), and then SQLite does not fsync the database file: a million tasks left
    ~1 GB dirty in the page cache, and the server's first writes paid for flushing it
    (the label row PUT, the first write of the scale phase, measured 1.8-2.3x at 1M on a
    busy disk; docs/benchmarks.md, goal 7). A TRUNCATE checkpoint completes (waiting out
    readers), fsyncs the database file and empties the WAL.
    """
    with engine.connect() as conn:
        for _ in range(100):
            busy = conn.exec_driver_sql("PRAGMA wal_checkpoint(TRUNCATE)").scalar_one()
            if not busy:
                return
            time.sleep(0.1)
    raise RuntimeError("the bulk load's WAL could not be checkpointed")

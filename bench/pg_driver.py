"""psycopg 3 vs asyncpg on the statements the delivery loop is made of.

Measured side by side in one run against the same scratch database: the claim shape
(``UPDATE ... WHERE id IN (SELECT ... FOR UPDATE SKIP LOCKED) RETURNING``) and a
100-row result write, each as its own transaction. Prints per-transaction times and the
ratio. Run: ``pip install asyncpg && python bench/pg_driver.py`` (PostgreSQL at
127.0.0.1:5432; asyncpg is not a stagehook dependency, only this comparison uses it).
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import time
import uuid

import asyncpg
import psycopg

ADMIN = "postgresql://postgres@127.0.0.1:5432/test"
SETUP = """
CREATE TABLE q (id bigserial PRIMARY KEY, status text NOT NULL, due double precision NOT NULL,
                lease text, body bytea NOT NULL);
CREATE INDEX q_due ON q (due) WHERE status = 'pending';
INSERT INTO q (status, due, body) SELECT 'pending', g, '\\x7b7d' FROM generate_series(1, 200000) g;
ANALYZE q;
"""
CLAIM = """
UPDATE q SET lease = $1 WHERE id IN (
  SELECT id FROM q WHERE status = 'pending' AND lease IS NULL ORDER BY due LIMIT 100
  FOR UPDATE SKIP LOCKED) RETURNING id, body
"""
RECORD = "UPDATE q SET status = 'delivered', lease = NULL WHERE id = ANY($1)"


def with_psycopg(url: str, rounds: int) -> list[float]:
    times = []
    claim = CLAIM.replace("$1", "%s")
    record = RECORD.replace("$1", "%s")
    with psycopg.connect(url) as conn:
        for _ in range(rounds):
            started = time.perf_counter()
            with conn.transaction():
                ids = [row[0] for row in conn.execute(claim, ("w",)).fetchall()]
            with conn.transaction():
                conn.execute(record, (ids,))
            times.append(time.perf_counter() - started)
    return times


async def with_asyncpg(url: str, rounds: int) -> list[float]:
    times = []
    conn = await asyncpg.connect(url)
    try:
        for _ in range(rounds):
            started = time.perf_counter()
            async with conn.transaction():
                ids = [row["id"] for row in await conn.fetch(CLAIM, "w")]
            async with conn.transaction():
                await conn.execute(RECORD, ids)
            times.append(time.perf_counter() - started)
    finally:
        await conn.close()
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=300, help="claim+record rounds per driver")
    args = parser.parse_args()
    name = f"sh_bench_driver_{uuid.uuid4().hex[:8]}"
    with psycopg.connect(ADMIN, autocommit=True) as admin:
        admin.execute(f"CREATE DATABASE {name}")  # type: ignore[arg-type]
    url = ADMIN.rsplit("/", 1)[0] + "/" + name
    try:
        with psycopg.connect(url, autocommit=True) as conn:
            conn.execute(SETUP)  # type: ignore[arg-type]
        # alternate the drivers so neither gets the warmer cache
        results: dict[str, list[float]] = {"psycopg": [], "asyncpg": []}
        for _ in range(3):
            results["psycopg"] += with_psycopg(url, args.rounds // 3)
            results["asyncpg"] += asyncio.run(with_asyncpg(url, args.rounds // 3))
        medians = {k: statistics.median(v) * 1000 for k, v in results.items()}
        for driver, ms in medians.items():
            print(f"{driver:8s} claim 100 + record 100: median {ms:.2f} ms per round")
        print(f"ratio asyncpg/psycopg: {medians['asyncpg'] / medians['psycopg']:.2f}")
    finally:
        with psycopg.connect(ADMIN, autocommit=True) as admin:
            admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")  # type: ignore[arg-type]


if __name__ == "__main__":
    main()

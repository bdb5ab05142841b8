"""The event loop's own point reads (store/loop_reads.py): shared between concurrent
callers, yet never older than the caller's request."""

from __future__ import annotations

import asyncio

import pytest

from stagehook.store import auth_cache
from stagehook.store.db import Database


@pytest.fixture
def db(migrated_db: Database) -> Database:
    return migrated_db


def _bump(db: Database) -> None:
    with db.write() as conn:
        auth_cache.bump(conn)


def test_a_read_sees_every_commit_made_before_it_was_asked_for(db: Database) -> None:
    async def scenario() -> tuple[list[int], int]:
        stop = asyncio.Event()
        seen: list[int] = []

        async def reader() -> None:  # keeps reads in flight to share
            while not stop.is_set():
                seen.append(await auth_cache.current_epoch(db))
                await asyncio.sleep(0)  # SQLite reads in place: never suspends by itself

        readers = [asyncio.create_task(reader()) for _ in range(8)]
        after: list[int] = []
        for _ in range(40):
            await asyncio.to_thread(_bump, db)  # committed before the next read is asked
            after.append(await auth_cache.current_epoch(db))
        stop.set()
        await asyncio.gather(*readers)
        return after, len(seen)

    after, background = asyncio.run(scenario())
    assert after == list(range(1, 41))
    assert background > 40  # the concurrent readers ran all along

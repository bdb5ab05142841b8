"""``Database.read_many``: on SQLite, reads of many rows take turns (their per-row GIL
hand-offs would otherwise make each page cost twice the CPU); other reads do not wait."""

from __future__ import annotations

import threading

from stagehook.store.db import Database


def test_reads_of_many_rows_take_turns_on_sqlite_only(migrated_db: Database) -> None:
    db = migrated_db
    inside = threading.Event()
    release = threading.Event()
    second_in = threading.Event()

    def first() -> None:
        with db.read_many() as conn:
            conn.exec_driver_sql("SELECT 1")
            inside.set()
            release.wait(timeout=30)

    def second() -> None:
        with db.read_many() as conn:
            conn.exec_driver_sql("SELECT 1")
            second_in.set()

    holder = threading.Thread(target=first)
    holder.start()
    assert inside.wait(timeout=30)
    waiter = threading.Thread(target=second)
    waiter.start()
    with db.read() as conn:  # a plain read goes on meanwhile
        assert conn.exec_driver_sql("SELECT 2").scalar() == 2
    entered_alongside = second_in.wait(timeout=0.5)
    release.set()
    holder.join(timeout=30)
    waiter.join(timeout=30)
    assert second_in.is_set()
    assert entered_alongside is (not db.is_sqlite)

"""Group commit on SQLite: concurrent write requests share one transaction and one fsync.

SQLite has one writer and, with ``synchronous=FULL``, every COMMIT waits for an fsync of
the WAL (the largest single item in a profile of submits under load). One transaction
per request caps submits at one per COMMIT however many clients wait. Databases and logs
solve this the same way: the first waiting writer becomes the **leader**, takes every
request queued behind it, runs each in its own SAVEPOINT inside one ``BEGIN IMMEDIATE``
transaction and commits once; then it hands leadership to the next waiting request.

- A request that raises is rolled back to its savepoint alone; the others commit. (A
  batch of one needs no savepoint: its transaction is rolled back instead.)
- A request's caller hears back only after the COMMIT: nothing is acknowledged before
  it is durable, and every event still commits with its transition (same savepoint).
- If the COMMIT itself fails, every request of the batch gets that error: none of it
  was stored.
- No waiting for company: a leader takes what is queued *now*; under light load a batch
  is one request and costs what a plain transaction did.

PostgreSQL runs concurrent transactions and shares WAL flushes between them itself, so
there ``run`` is a plain write transaction.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from contextlib import AbstractContextManager
from typing import Any, Generic, TypeVar

from sqlalchemy import Connection

T = TypeVar("T")
#: ``Database.write``: one write transaction (BEGIN IMMEDIATE on SQLite).
WriteTransaction = Callable[[], AbstractContextManager[Connection]]

#: Requests per transaction at most (bounds how long one COMMIT keeps others waiting).
MAX_BATCH = 64


class _Job(Generic[T]):
    __slots__ = ("done", "error", "lead", "value", "work")

    def __init__(self, work: Callable[[Connection], T]) -> None:
        self.work = work
        self.done = threading.Event()
        self.lead = False
        self.value: T | None = None
        self.error: BaseException | None = None

    def result(self) -> T:
        if self.error is not None:
            raise self.error
        return self.value  # type: ignore[return-value]


class GroupCommit:
    def __init__(self, write: WriteTransaction, *, is_sqlite: bool) -> None:
        self._write = write
        self._is_sqlite = is_sqlite
        self._lock = threading.Lock()
        self._queue: list[_Job[Any]] = []
        self._leading = False

    @property
    def waiting(self) -> int:
        """Requests queued behind the running transaction."""
        with self._lock:
            return len(self._queue)

    def run(self, work: Callable[[Connection], T]) -> T:
        """``work(conn)`` in a write transaction; returns once it is committed."""
        if not self._is_sqlite:
            with self._write() as conn:
                return work(conn)
        job = _Job(work)
        with self._lock:
            self._queue.append(job)
            lead = not self._leading
            self._leading = True
        if not lead:
            job.done.wait()
            if not job.lead:
                return job.result()
        self._lead()
        return job.result()

    def _lead(self) -> None:
        with self._lock:
            batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
        try:
            self._commit(batch)
        finally:
            for job in batch:
                job.done.set()
            with self._lock:
                if self._queue:  # the next in line leads; we go back to our caller
                    successor = self._queue[0]
                    successor.lead = True
                    successor.done.set()
                else:
                    self._leading = False

    def _commit(self, batch: list[_Job[Any]]) -> None:
        try:
            with self._write() as conn:
                if len(batch) == 1:  # alone: its failure may roll back the transaction
                    batch[0].value = batch[0].work(conn)
                    return
                for job in batch:
                    try:
                        with conn.begin_nested():
                            job.value = job.work(conn)
                    except Exception as exc:
                        job.error = exc
        except BaseException as exc:  # a lone job, the BEGIN or the COMMIT failed: nothing stored
            for job in batch:
                if job.error is None:
                    job.error = exc
                    job.value = None

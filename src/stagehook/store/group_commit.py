"""Group commit on SQLite: concurrent write requests share one transaction and one fsync.

SQLite has one writer and, with ``synchronous=FULL``, every COMMIT waits for an fsync of
the WAL (the largest single item in a profile of submits under load). One transaction
per request caps submits at one per COMMIT however many clients wait. Databases and logs
solve this the same way, and so does this module: requests queue for **one writer
thread**, which takes every request queued *now*, runs each in its own SAVEPOINT inside
one ``BEGIN IMMEDIATE`` transaction and commits once.

- A request that raises is rolled back to its savepoint alone; the others commit. (A
  batch of one needs no savepoint: its transaction is rolled back instead.)
- A request's caller hears back only after the COMMIT: nothing is acknowledged before
  it is durable, and every event still commits with its transition (same savepoint).
- If the COMMIT itself fails, every request of the batch gets that error: none of it
  was stored.
- No waiting for company: under light load a batch is one request and costs what a
  plain transaction did.
- An ``async`` caller (the API's submit) awaits its request without a worker thread of
  its own: the event loop hands the work to the writer and is called back once per
  batch. A thread per waiting request, and waking each of them, cost a submit as much
  as its SQL did.

PostgreSQL runs concurrent transactions and shares WAL flushes between them itself, so
there a request is a plain write transaction (on a thread of a small pool, for
``run_async``).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from contextlib import AbstractContextManager
from typing import Any, Generic, TypeVar

from sqlalchemy import Connection

T = TypeVar("T")
P = TypeVar("P")
#: ``Database.write``: one write transaction (BEGIN IMMEDIATE on SQLite).
WriteTransaction = Callable[[], AbstractContextManager[Connection]]

#: Requests per transaction at most. The write lock is held for the whole batch, and a
#: dispatcher in another process (the worker child) waits for it: when the API fell
#: behind, a batch of 64 held the lock for 45-110 ms and the deliveries of every event
#: committed meanwhile waited with it (SQLite at 90 % of the submit capacity, p99 from
#: the answer to the receiver 62-70 ms, against 10-17 ms with 16). The COMMIT's fsync
#: is shared by 16 requests still; 16 closed-loop clients never queue more.
MAX_BATCH = 16


class Job(Generic[P, T]):
    """A request waiting for a writer thread (here, and store/statement_groups.py):
    what it asks (``payload``), and once settled its value or its error."""

    __slots__ = ("done", "error", "payload", "value")

    def __init__(self, payload: P, done: Callable[[], None]) -> None:
        self.payload = payload
        self.done = done  # called on the writer thread once the batch is settled
        self.value: T | None = None
        self.error: BaseException | None = None

    def result(self) -> T:
        if self.error is not None:
            raise self.error
        return self.value  # type: ignore[return-value]


class GroupCommit:
    def __init__(self, write: WriteTransaction, *, is_sqlite: bool, threads: int = 10) -> None:
        self._write = write
        self._is_sqlite = is_sqlite
        #: PostgreSQL's ``run_async``: transactions on these threads (one per pooled
        #: connection; a plain executor hop costs a third of anyio's ``to_thread``)
        self._threads = threads
        self._pool: ThreadPoolExecutor | None = None
        self._cond = threading.Condition()
        self._queue: list[Job[Any, Any]] = []
        self._writer: threading.Thread | None = None
        self._closed = False

    @property
    def waiting(self) -> int:
        """Requests queued behind the running transaction."""
        with self._cond:
            return len(self._queue)

    def run(self, work: Callable[[Connection], T]) -> T:
        """``work(conn)`` in a write transaction; returns once it is committed."""
        if not self._is_sqlite:
            with self._write() as conn:
                return work(conn)
        settled = threading.Event()
        job: Job[Callable[[Connection], T], T] = Job(work, settled.set)
        self._enqueue(job)
        settled.wait()
        return job.result()

    async def run_async(self, work: Callable[[Connection], T]) -> T:
        """``run`` for a coroutine: awaits the commit instead of holding a thread."""
        loop = asyncio.get_running_loop()
        if not self._is_sqlite:
            if self._pool is None:
                self._pool = ThreadPoolExecutor(self._threads, thread_name_prefix="stagehook-write")
            # The request is committed or not whatever happens to its caller meanwhile.
            return await asyncio.shield(loop.run_in_executor(self._pool, self.run, work))
        settled: asyncio.Future[None] = loop.create_future()

        job: Job[Callable[[Connection], T], T] = Job(work, settler(loop, settled))
        self._enqueue(job)
        # The request is committed or not whatever happens to its caller meanwhile.
        await asyncio.shield(settled)
        return job.result()

    def close(self) -> None:
        """Let the writer finish what is queued, then stop it."""
        if self._pool is not None:
            self._pool.shutdown(wait=True)
            self._pool = None
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            writer = self._writer
        if writer is not None and writer is not threading.current_thread():
            writer.join(timeout=30)

    def _enqueue(self, job: Job[Any, Any]) -> None:
        with self._cond:
            if self._writer is None or not self._writer.is_alive():
                self._closed = False
                self._writer = threading.Thread(
                    target=self._write_batches, name="stagehook-group-commit", daemon=True
                )
                self._writer.start()
            self._queue.append(job)
            self._cond.notify()

    def _write_batches(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                if not self._queue:
                    return
                batch, self._queue = self._queue[:MAX_BATCH], self._queue[MAX_BATCH:]
            try:
                self._commit(batch)
            finally:
                for job in batch:
                    job.done()

    def _commit(self, batch: list[Job[Any, Any]]) -> None:
        try:
            with self._write() as conn:
                if len(batch) == 1:  # alone: its failure may roll back the transaction
                    batch[0].value = batch[0].payload(conn)
                    return
                # Savepoints straight on the driver: SQLAlchemy's nested transactions
                # cost more than the statements (SQLite only: PostgreSQL never batches).
                cursor = conn.connection.dbapi_connection.cursor()  # type: ignore[union-attr]
                for job in batch:
                    cursor.execute("SAVEPOINT job")
                    try:
                        job.value = job.payload(conn)
                    except Exception as exc:
                        job.error = exc
                        cursor.execute("ROLLBACK TO SAVEPOINT job")
                    cursor.execute("RELEASE SAVEPOINT job")
                cursor.close()
        except BaseException as exc:  # a lone job, the BEGIN or the COMMIT failed: nothing stored
            for job in batch:
                if job.error is None:
                    job.error = exc
                    job.value = None


def settler(loop: asyncio.AbstractEventLoop, future: asyncio.Future[None]) -> Callable[[], None]:
    """For a writer thread: tell ``loop`` that the request ``future`` waits for is
    settled. A loop closed meanwhile (its caller gave up) is no one's concern: the
    thread goes on with the others."""

    def done() -> None:
        with contextlib.suppress(RuntimeError):  # the event loop is closed
            loop.call_soon_threadsafe(_settle, future)

    return done


def _settle(future: asyncio.Future[None]) -> None:
    if not future.done():
        future.set_result(None)

"""PostgreSQL: concurrent requests of one kind merged into the same statements.

A single-task submit on PostgreSQL is one read statement and one write statement
(store/tasks.py). Under load most of what it costs does not depend on how many tasks
those statements carry: psycopg's Python work per statement, the thread hop, the
executor starting a six-table plan, the commit and its WAL flush. Measured on one
connection, a statement pair carrying 4 tasks cost 0.31 ms of client CPU and 1.0 ms of
PostgreSQL's per task against 1.14 and 3.8 ms for one (docs/performance.md).

So, as SQLite's group commit (store/group_commit.py) does for its one writer, requests
that arrive together go out together: ``run`` queues an item, and a few threads each
take every item queued *now* and hand them to ``work_many(conn, items)`` at once, on a
``Database.statements`` connection (every statement a transaction of its own). The
work decides per item: a value, or an exception for that item alone.

- No waiting for company: under light load a group is one item.
- ``THREADS`` groups run side by side, so PostgreSQL's parallelism is kept; each takes
  at most ``MAX_ITEMS``.
- A caller hears back once its item's statements are done: nothing is acknowledged
  before its commit.
- If the work fails as a whole (it raised: the connection was lost), every item of the
  group gets that error. An error after the work returned (closing the connection)
  leaves each item its outcome: its statements ran.
"""

from __future__ import annotations

import asyncio
import copy
import logging
import threading
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from typing import Generic, TypeVar

from sqlalchemy import Connection

from stagehook.store.group_commit import Job, settler

log = logging.getLogger(__name__)

I = TypeVar("I")  # noqa: E741
R = TypeVar("R")

#: items per group at most
MAX_ITEMS = 64
#: groups in flight at once: 1 and 2 gave the same submits/s at 16 clients here (3 and
#: more a little less: smaller groups); with 2 a group waiting on a row lock does not
#: hold up every other submit
THREADS = 2

#: ``work_many(conn, items)``: per item its value, or the exception it alone raises
WorkMany = Callable[[Connection, Sequence[I]], Sequence["R | BaseException"]]


def _own(exc: BaseException) -> BaseException:
    """A copy of ``exc`` for one caller of several (each raises its own, its traceback
    not mixed into the others'), caused by the original."""
    try:
        mine = copy.copy(exc)
    except Exception:
        return exc
    mine.__cause__ = exc
    return mine


class StatementGroups(Generic[I, R]):
    def __init__(
        self,
        connect: Callable[[], AbstractContextManager[Connection]],
        work_many: WorkMany[I, R],
        *,
        name: str,
        threads: int = THREADS,
    ) -> None:
        self._connect = connect
        self._work_many = work_many
        self._name = name
        self._threads_wanted = threads
        self._cond = threading.Condition()
        self._queue: list[Job[I, R]] = []
        self._threads: list[threading.Thread] = []
        self._closed = False

    async def run(self, item: I) -> R:
        """``item``'s outcome once its group's statements are done (its exception raised)."""
        loop = asyncio.get_running_loop()
        settled: asyncio.Future[None] = loop.create_future()
        job: Job[I, R] = Job(item, settler(loop, settled))
        with self._cond:
            if self._closed:
                raise RuntimeError("the database is closed")
            self._threads = [t for t in self._threads if t.is_alive()]
            if len(self._threads) < self._threads_wanted:
                thread = threading.Thread(
                    target=self._serve,
                    name=f"{self._name}-{len(self._threads)}",
                    daemon=True,
                )
                self._threads.append(thread)
                thread.start()
            self._queue.append(job)
            self._cond.notify()
        # The item is written or not whatever happens to its caller meanwhile.
        await asyncio.shield(settled)
        return job.result()

    def close(self) -> None:
        """Let the threads finish what is queued, then stop them."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()
            threads = list(self._threads)
        for thread in threads:
            if thread is not threading.current_thread():
                thread.join(timeout=30)

    def _serve(self) -> None:
        while True:
            with self._cond:
                while not self._queue and not self._closed:
                    self._cond.wait()
                if not self._queue:
                    return  # closed, and nothing left
                jobs, self._queue = self._queue[:MAX_ITEMS], self._queue[MAX_ITEMS:]
            outcomes: Sequence[R | BaseException] | None = None
            try:
                with self._connect() as conn:
                    done = self._work_many(conn, [job.payload for job in jobs])
                    if len(done) != len(jobs):
                        raise AssertionError("work_many must return one outcome per item")
                    outcomes = done
            except BaseException as exc:
                if outcomes is None:  # no item got through: every one gets the error
                    outcomes = [exc] * len(jobs)
                else:  # after the statements: what they did stands
                    log.exception("a statement group's connection failed after its work")
            raised: set[int] = set()  # an error given to several items: each its own copy
            for job, outcome in zip(jobs, outcomes, strict=True):
                if isinstance(outcome, BaseException):
                    job.error = _own(outcome) if id(outcome) in raised else outcome
                    raised.add(id(outcome))
                else:
                    job.value = outcome
                job.done()

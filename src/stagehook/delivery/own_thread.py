"""The embedded dispatcher on an event loop of its own, in a thread of ``serve``.

On the API's event loop the dispatcher's claim -> send -> record cycle queued behind
every ready API callback: at 90 % of the submit capacity deliveries fell half a second
behind their commits and the backlog only grew (docs/benchmarks.md, goal 3). On its own
loop it waits for no request; the two threads share the interpreter (the GIL switches
between them at least every few milliseconds), and on SQLite its writes still go first
on the one write lock (``Database.write(urgent=True)``). So under load the API slows a
little and deliveries keep pace, instead of the API racing ahead of them.

A worker *process* does not share the interpreter at all: on a machine with several
cores ``serve`` starts one instead (``worker.worker_beside``; on SQLite it needs the
cross-process lock and wake-ups of ``store/sqlite_processes.py``). This thread is for
one core, platforms without those wake-ups, and apps built in-process (tests, ``demo``).
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator

from stagehook.delivery.dispatcher import Dispatcher
from stagehook.store.context import Store


@contextlib.asynccontextmanager
async def dispatcher_thread(store: Store) -> AsyncIterator[None]:
    """Deliver from a thread of this process for the block's lifetime; drain on exit."""
    dispatcher = Dispatcher(store)
    loop = _new_loop()
    failed: list[BaseException] = []

    def main() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(dispatcher.run())
        except BaseException as exc:  # surfaced to whoever stops us
            failed.append(exc)
        finally:
            loop.run_until_complete(loop.shutdown_default_executor())
            loop.close()

    thread = threading.Thread(target=main, name="stagehook-dispatcher", daemon=True)
    thread.start()
    try:
        yield
    finally:
        if not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # closed meanwhile: nothing to stop
                loop.call_soon_threadsafe(dispatcher.stop)
        await asyncio.to_thread(thread.join)
        if failed:
            raise failed[0]


def _new_loop() -> asyncio.AbstractEventLoop:
    try:
        import uvloop
    except ImportError:  # pragma: no cover - uvloop is a dependency; stay runnable without
        return asyncio.new_event_loop()
    return uvloop.new_event_loop()

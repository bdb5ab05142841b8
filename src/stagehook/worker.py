"""Wiring for ``worker``: a dispatcher in its own process, stopped cleanly by signals."""

from __future__ import annotations

import asyncio
import logging
import signal

from stagehook.config import Settings
from stagehook.delivery.dispatcher import Dispatcher
from stagehook.runtime import open_store

log = logging.getLogger(__name__)


async def _run(settings: Settings, worker_id: str | None) -> None:
    store = await asyncio.to_thread(open_store, settings)
    dispatcher = Dispatcher(store, worker_id)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, dispatcher.stop)
    log.info("worker %s started", dispatcher.worker_id)
    try:
        await dispatcher.run()
    finally:
        store.db.dispose()
    log.info("worker %s stopped", dispatcher.worker_id)


def run_worker(settings: Settings, worker_id: str | None = None) -> None:
    """Stop claiming on SIGTERM/SIGINT, finish or release in-flight work, exit 0."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    asyncio.run(_run(settings, worker_id))

"""Wiring for ``worker``: a dispatcher in its own process, stopped cleanly by signals."""

from __future__ import annotations

import asyncio
import contextlib
import ctypes
import logging
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Iterator

from stagehook.config import Settings
from stagehook.delivery.dispatcher import Dispatcher
from stagehook.runtime import open_store
from stagehook.serving import new_event_loop
from stagehook.store.sqlite_processes import WAKES_ACROSS_PROCESSES

log = logging.getLogger(__name__)


async def _run(settings: Settings, worker_id: str | None) -> None:
    store = await asyncio.to_thread(open_store, settings)
    dispatcher = Dispatcher(store, worker_id)
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(sig, dispatcher.stop)
    # which loop: the test of ``serve``'s worker child reads it
    log.info("worker %s started on %s", dispatcher.worker_id, type(loop).__module__.split(".")[0])
    try:
        await dispatcher.run()
    finally:
        store.db.dispose()
    log.info("worker %s stopped", dispatcher.worker_id)


def run_worker(settings: Settings, worker_id: str | None = None) -> None:
    """Stop claiming on SIGTERM/SIGINT, finish or release in-flight work, exit 0.

    Runs on the event loop ``serve`` runs on (uvloop where available): the sender's
    sockets, timers and the cycles' thread hops cost less there."""
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(levelname)s %(message)s")
    with asyncio.Runner(loop_factory=new_event_loop) as runner:
        runner.run(_run(settings, worker_id))


def separate_by_default(settings: Settings) -> bool:
    """Whether ``serve`` delivers from a worker child instead of its own event loop.

    The embedded dispatcher shares one interpreter with the API: under API load the two
    take turns on the GIL, so each submit pays for its delivery in the API's process and
    deliveries wait behind requests (docs/benchmarks.md, goals 1 and 3). A child process
    has its own interpreter, on a core of its own. It is woken as fast as an in-process
    signal: by LISTEN/NOTIFY on PostgreSQL, by the wake board on SQLite, whose writers
    also queue on a kernel lock instead of SQLite's busy sleeps
    (store/sqlite_processes.py; Linux only). One core gains nothing from a second
    process, so there the dispatcher stays in ``serve``. ``STAGEHOOK_DISPATCHER_PROCESS``
    decides instead when set (false: one process, about 100 MB less memory).
    """
    if settings.dispatcher_process is not None:
        sqlite = settings.effective_database_url.startswith("sqlite")
        return settings.dispatcher_process and (WAKES_ACROSS_PROCESSES or not sqlite)
    if (os.cpu_count() or 1) < 2:
        return False
    return WAKES_ACROSS_PROCESSES or not settings.effective_database_url.startswith("sqlite")


def _die_with_parent() -> None:
    """In the child: SIGTERM when ``serve`` dies, even by SIGKILL (Linux)."""
    if sys.platform.startswith("linux"):
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(1, signal.SIGTERM)  # PR_SET_PDEATHSIG


@contextlib.contextmanager
def worker_beside(settings: Settings) -> Iterator[None]:
    """``stagehook worker`` as a child for the block's lifetime; SIGTERM drains it. If it
    dies meanwhile, another is started (the dead one's leases are handed back by the
    usual heartbeat rule)."""
    child = _Child(settings)
    try:
        yield
    finally:
        child.stop()


class _Child:
    """The worker child, watched: started again after a death, with a backoff."""

    def __init__(self, settings: Settings) -> None:
        self._settings = settings
        self._env = dict(os.environ, STAGEHOOK_DATA_DIR=str(settings.data_dir))
        self._lock = threading.Lock()
        self._stopping = threading.Event()
        self._started = 0
        self._proc = self._spawn()
        self._watcher = threading.Thread(
            target=self._watch, name="stagehook-worker-child", daemon=True
        )
        self._watcher.start()

    def _spawn(self) -> subprocess.Popen[bytes]:
        self._started += 1
        worker_id = f"{socket.gethostname()}-serve-{os.getpid()}"
        if self._started > 1:
            worker_id += f"-{self._started}"
        self._spawned_at = time.monotonic()
        return subprocess.Popen(
            [sys.executable, "-m", "stagehook", "worker", "--id", worker_id],
            env=self._env,
            preexec_fn=_die_with_parent,
        )

    def _watch(self) -> None:
        backoff = 1.0
        while True:
            code = self._proc.wait()
            if self._stopping.is_set():
                return
            lived = time.monotonic() - self._spawned_at
            backoff = 1.0 if lived > 60 else backoff
            log.error(
                "the delivery worker child exited (code %s); starting another in %.0fs",
                code,
                backoff,
            )
            if self._stopping.wait(backoff):
                return
            with self._lock:
                if self._stopping.is_set():
                    return
                self._proc = self._spawn()
            backoff = min(backoff * 2, 30.0)

    def stop(self) -> None:
        with self._lock:
            self._stopping.set()
            child = self._proc
        child.send_signal(signal.SIGTERM)
        try:
            child.wait(timeout=self._settings.shutdown_grace_seconds + 10)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(timeout=10)
        self._watcher.join(timeout=10)

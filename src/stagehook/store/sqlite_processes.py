"""Several processes on one SQLite file: a write lock without sleeps, and wake-ups.

PostgreSQL queues writers in its lock manager and wakes other processes with NOTIFY.
SQLite offers neither: a writer that finds the file locked sleeps in its busy handler
(1, 2, 5, 10 … up to 100 ms between tries), and nothing tells another process that a
commit made work. So ``serve``'s API and its delivery worker child meet here:

- :class:`WriterLock` — every write transaction of ours takes an exclusive ``flock`` on
  ``<database>-writer.lock`` first. The kernel queues the waiters and wakes the next one
  the moment the holder lets go, so SQLite's ``BEGIN IMMEDIATE`` finds the file free and
  never sleeps. The lock dies with its process, even by kill -9.
- :class:`WakeBoard` — each listening process binds a Unix datagram socket in Linux's
  abstract namespace (no file, gone with the process) and leaves a marker file named after
  it in ``<database>-wake/``. A commit that made work sends one byte to every listener
  there but its own process's; the listener drains them and wakes its dispatcher. The
  listing is re-read when the directory changes (and at least every second); a marker
  whose socket refuses (its process died) is removed by the first sender to find so.

Linux only for the wake-ups (abstract sockets); elsewhere ``serve`` keeps the dispatcher
in its own process (``worker.separate_by_default``).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

log = logging.getLogger(__name__)

#: Abstract socket names: "\0" + this prefix + a random token.
_PREFIX = "stagehook-wake-"
#: A cached listing is re-read after this long even if the directory's mtime stayed the
#: same (its granularity can hide a marker created within one tick of the last listing).
_RELIST_AFTER = 1.0

WAKES_ACROSS_PROCESSES = sys.platform.startswith("linux")
#: ``flock`` exists on every POSIX system, not on Windows (one process there).
SHARED_WRITER_LOCK = sys.platform != "win32"


class WriterLock:
    """An exclusive ``flock`` held across each write transaction (see module docstring).

    One per ``Database``; its threads already take turns on an in-process lock, so one
    open file is enough.
    """

    def __init__(self, database: Path) -> None:
        self._fd = os.open(f"{database}-writer.lock", os.O_RDWR | os.O_CREAT, 0o600)

    @contextlib.contextmanager
    def hold(self) -> Iterator[None]:
        import fcntl  # POSIX only (SHARED_WRITER_LOCK)

        fcntl.flock(self._fd, fcntl.LOCK_EX)  # releases the GIL while it waits
        try:
            yield
        finally:
            fcntl.flock(self._fd, fcntl.LOCK_UN)

    def close(self) -> None:
        with contextlib.suppress(OSError):
            os.close(self._fd)


class WakeBoard:
    """Wake the dispatchers of other processes on one database file."""

    def __init__(self, database: Path) -> None:
        self.directory = Path(f"{database}-wake")
        self._sender = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)  # Linux only
        self._sender.setblocking(False)
        self._own: set[str] = set()  # tokens this process listens on
        #: (directory mtime, when listed, tokens) — replaced whole, read without a lock
        self._listing: tuple[int, float, tuple[str, ...]] = (-1, 0.0, ())

    def ring(self) -> None:
        """After a commit that made work (any thread): one byte to each other listener."""
        for token in self._listeners():
            if token in self._own:
                continue
            try:
                self._sender.sendto(b"w", _address(token))
            except BlockingIOError:
                pass  # its queue is full of wake-ups already
            except (ConnectionRefusedError, FileNotFoundError):
                self._forget(token)  # nobody bound: its process is gone
            except OSError as exc:
                log.debug("wake-up to %s failed: %s", token, exc)

    def _listeners(self) -> tuple[str, ...]:
        try:
            mtime = os.stat(self.directory).st_mtime_ns
        except OSError:
            return ()
        seen, listed_at, tokens = self._listing
        now = time.monotonic()
        if mtime != seen or now - listed_at > _RELIST_AFTER:
            with contextlib.suppress(OSError):
                tokens = tuple(p.name for p in self.directory.iterdir())
            self._listing = (mtime, now, tokens)
        return tokens

    def _forget(self, token: str) -> None:
        with contextlib.suppress(OSError):
            (self.directory / token).unlink()

    async def listen(self, wake: Callable[[], None], stop: asyncio.Event) -> None:
        """Call ``wake`` (on this loop) whenever another process rings, until ``stop``.

        The marker is put back within a second if anything removed it (a sender that
        could not reach this socket, from another network namespace; a cleaner).
        If the board cannot be joined (no directory), it says so once and the
        dispatcher goes on polling.
        """
        if not WAKES_ACROSS_PROCESSES:
            await stop.wait()
            return
        token = secrets.token_hex(8)
        marker = self.directory / token
        loop = asyncio.get_running_loop()
        with socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM) as listener:
            listener.setblocking(False)
            listener.bind(_address(token))

            def drain() -> None:
                with contextlib.suppress(BlockingIOError):
                    while listener.recv(64):
                        pass
                wake()

            self._own.add(token)
            loop.add_reader(listener.fileno(), drain)
            try:
                joined = self._post(marker)
                wake()  # anything committed before we listened (the marker is up now)
                while joined and not stop.is_set():
                    with contextlib.suppress(TimeoutError):
                        await asyncio.wait_for(stop.wait(), timeout=1.0)
                    joined = self._post(marker)
                await stop.wait()
            finally:
                loop.remove_reader(listener.fileno())
                self._own.discard(token)
                marker.unlink(missing_ok=True)

    def _post(self, marker: Path) -> bool:
        """Put up this listener's marker if it is not there; False if it cannot be."""
        try:
            if not marker.exists():
                self.directory.mkdir(mode=0o700, exist_ok=True)
                marker.touch(mode=0o600)
        except OSError as exc:
            log.warning("cannot join the wake board %s: %s", self.directory, exc)
            return False
        return True

    def close(self) -> None:
        self._sender.close()


def _address(token: str) -> str:
    return f"\0{_PREFIX}{token}"

"""store/sqlite_processes.py: the write lock other processes queue on, and the wake board."""

from __future__ import annotations

import asyncio
import subprocess
import sys
import threading
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import Connection

from stagehook.store.db import Database
from stagehook.store.migrate import migrate
from stagehook.store.sqlite_processes import WAKES_ACROSS_PROCESSES, WakeBoard
from tests.support.waiting import wait_until

pytestmark = pytest.mark.skipif(not WAKES_ACROSS_PROCESSES, reason="Linux wake-ups")

_TRY_LOCK = """
import fcntl, os, sys
fd = os.open(sys.argv[1], os.O_RDWR)
try:
    fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
except BlockingIOError:
    print("held")
else:
    print("free")
"""


def _lock_seen_from_another_process(lock_file: Path) -> str:
    done = subprocess.run(
        [sys.executable, "-c", _TRY_LOCK, str(lock_file)],
        capture_output=True,
        text=True,
        timeout=30,
        check=True,
    )
    return done.stdout.strip()


def test_a_write_transaction_holds_the_lock_other_processes_queue_on(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'one.db'}")
    migrate(db)
    lock_file = tmp_path / "one.db-writer.lock"
    assert _lock_seen_from_another_process(lock_file) == "free"
    with db.write() as conn:
        conn.exec_driver_sql("SELECT 1")
        assert _lock_seen_from_another_process(lock_file) == "held"
    assert _lock_seen_from_another_process(lock_file) == "free"
    with pytest.raises(RuntimeError), db.write():
        raise RuntimeError("a failed transaction lets go too")
    assert _lock_seen_from_another_process(lock_file) == "free"
    db.dispose()


def test_a_writer_waits_for_another_process_then_goes_on(tmp_path: Path) -> None:
    """A second process holding the lock makes our write wait (no error, no SQLite busy
    timeout), and it commits the moment the lock is let go."""
    db = Database(f"sqlite:///{tmp_path / 'two.db'}")
    migrate(db)
    holder = subprocess.Popen(
        [
            sys.executable,
            "-c",
            "import fcntl, os, sys; fd = os.open(sys.argv[1], os.O_RDWR | os.O_CREAT);"
            " fcntl.flock(fd, fcntl.LOCK_EX); print('held', flush=True); sys.stdin.readline()",
            str(tmp_path / "two.db-writer.lock"),
        ],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert holder.stdout is not None and holder.stdin is not None
    assert holder.stdout.readline().strip() == "held"
    committed = threading.Event()

    def write() -> None:
        with db.write() as conn:
            conn.exec_driver_sql("UPDATE auth_epoch SET value = value + 1")
        committed.set()

    writer = threading.Thread(target=write)
    writer.start()
    assert not committed.wait(0.5)  # queued behind the other process
    holder.stdin.write("\n")
    holder.stdin.flush()
    assert holder.wait(timeout=30) == 0
    writer.join(timeout=30)
    assert committed.is_set()
    db.dispose()


@pytest.fixture
def board_listening(tmp_path: Path) -> Iterator[tuple[WakeBoard, list[int]]]:
    """A board listening on its own loop in a thread (as another process would)."""
    board = WakeBoard(tmp_path / "w.db")
    wakes: list[int] = []
    loop = asyncio.new_event_loop()
    stop = asyncio.Event()

    async def run() -> None:
        await board.listen(lambda: wakes.append(1), stop)

    thread = threading.Thread(target=loop.run_until_complete, args=(run(),))
    thread.start()
    wait_until(lambda: len(list(board.directory.glob("*"))) == 1, what="a listener")
    wait_until(lambda: len(wakes) == 1, what="the first wake-up (work from before)")
    yield board, wakes
    loop.call_soon_threadsafe(stop.set)
    thread.join(timeout=30)
    loop.close()
    board.close()


def test_a_ring_wakes_every_listener_but_its_own(
    tmp_path: Path, board_listening: tuple[WakeBoard, list[int]]
) -> None:
    listening, wakes = board_listening
    other = WakeBoard(tmp_path / "w.db")  # another process's board on the same file
    other.ring()
    wait_until(lambda: len(wakes) == 2, what="a wake-up from the other board")
    listening.ring()  # its own ring does not come back to it
    other.ring()
    wait_until(lambda: len(wakes) == 3, what="the next wake-up")
    assert len(wakes) == 3
    other.close()


def test_a_dead_listeners_marker_is_removed_by_the_next_ring(tmp_path: Path) -> None:
    board = WakeBoard(tmp_path / "w.db")
    board.directory.mkdir()
    (board.directory / "0123456789abcdef").touch()  # its process was SIGKILLed
    board.ring()
    assert list(board.directory.iterdir()) == []
    board.close()


def test_a_failed_wake_up_does_not_fail_the_committed_write(tmp_path: Path) -> None:
    """The wake-up after a commit is a hint: if it fails (here the board's directory is
    a plain file), the write is stored and its caller hears so."""
    db = Database(f"sqlite:///{tmp_path / 'f.db'}")
    migrate(db)
    Path(f"{tmp_path / 'f.db'}-wake").write_text("not a directory")

    def work(conn: Connection) -> str:
        conn.exec_driver_sql("UPDATE auth_epoch SET value = value + 1")
        db.notify(conn)
        return "stored"

    with db.read() as conn:
        before = conn.exec_driver_sql("SELECT value FROM auth_epoch").scalar()
    assert db.write_grouped(work) == "stored"
    with db.read() as conn:
        assert conn.exec_driver_sql("SELECT value FROM auth_epoch").scalar() == before + 1
    db.dispose()


def test_a_listener_puts_its_marker_back(
    tmp_path: Path, board_listening: tuple[WakeBoard, list[int]]
) -> None:
    """A marker removed under a live listener (a sender in another network namespace
    found its socket unreachable; a cleaner) is back within seconds, and rings reach it."""
    board, wakes = board_listening
    (marker,) = board.directory.iterdir()
    marker.unlink()
    wait_until(lambda: marker.exists(), what="the marker back")
    other = WakeBoard(tmp_path / "w.db")
    other.ring()
    wait_until(lambda: len(wakes) == 2, what="a wake-up through the new marker")
    other.close()

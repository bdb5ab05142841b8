"""Start-up shared by ``serve``, ``worker`` and tests: settings -> a ready store."""

from __future__ import annotations

import os
import sys
from pathlib import Path

from stagehook.clock import Clock
from stagehook.config import Settings
from stagehook.connection import KEY_FILE
from stagehook.store.context import Store
from stagehook.store.db import Database
from stagehook.store.migrate import migrate
from stagehook.store.secret_box import seal_plaintext
from stagehook.store.users import bootstrap_admin


def open_store(
    settings: Settings, clock: Clock | None = None, *, run_migrations: bool = True
) -> Store:
    protect_files(settings.data_dir, settings.effective_database_url)
    db = Database(settings.effective_database_url, pool_size=settings.db_pool_size)
    if run_migrations:
        migrate(db)
    store = Store(db=db, clock=clock or Clock(), settings=settings)
    if run_migrations:
        seal_plaintext(store)
    return store


def protect_files(data_dir: Path, url: str) -> None:
    """Data directory 0700 and a SQLite database (with -wal, -shm) 0600, before it opens.

    SQLite creates the -wal and -shm files with the main file's mode, so creating that
    one 0600 first covers all three.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    os.chmod(data_dir, 0o700)
    if not url.startswith("sqlite:///"):
        return
    path = Path(url.removeprefix("sqlite:///"))
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, 0o600))
    for suffix in ("", "-wal", "-shm"):
        sibling = path.with_name(path.name + suffix)
        if sibling.exists():
            os.chmod(sibling, 0o600)


def bootstrap(store: Store) -> None:
    """On an empty database create the admin key; a generated one is shown once."""
    created = bootstrap_admin(store, store.settings.bootstrap_api_key)
    if created is None or store.settings.bootstrap_api_key:
        return
    data_dir = store.settings.data_dir
    data_dir.mkdir(parents=True, exist_ok=True)
    path = Path(data_dir) / KEY_FILE
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w") as handle:
        handle.write(created + "\n")
    os.chmod(path, 0o600)
    print(
        f"stagehook: created the admin API key {created}\n"
        f"stagehook: it is shown only once; a copy is in {path} (mode 0600)",
        file=sys.stderr,
        flush=True,
    )

"""Apply Alembic migrations; safe to run from several hosts at once."""

from __future__ import annotations

from importlib import resources

from alembic import command
from alembic.config import Config
from sqlalchemy import text

from stagehook.store.db import Database

#: Any constant works; it only has to be the same in every process.
_MIGRATION_LOCK = 0x57A6E400C


def alembic_config() -> Config:
    cfg = Config()
    cfg.set_main_option("script_location", str(resources.files("stagehook.store") / "migrations"))
    return cfg


def migrate(db: Database) -> None:
    """Upgrade to head. PostgreSQL holds an advisory lock so concurrent runs queue up."""
    cfg = alembic_config()
    with db.engine.connect() as conn:
        if not db.is_sqlite:
            conn.execute(text("SELECT pg_advisory_lock(:k)"), {"k": _MIGRATION_LOCK})
            conn.commit()
        try:
            cfg.attributes["connection"] = conn
            command.upgrade(cfg, "head")
            conn.commit()
        finally:
            if not db.is_sqlite:
                conn.execute(text("SELECT pg_advisory_unlock(:k)"), {"k": _MIGRATION_LOCK})
                conn.commit()

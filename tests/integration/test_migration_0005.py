"""Migration 0005 counts the tasks a database already holds."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from sqlalchemy import text

from stagehook.store import task_counts
from stagehook.store.db import Database
from stagehook.store.migrate import alembic_config


def test_upgrade_counts_existing_tasks(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'old.db'}")
    cfg = alembic_config()
    with db.engine.connect() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "0001")
        conn.commit()
    with db.write() as conn:
        conn.execute(
            text(
                "INSERT INTO projects (project_hash, title, workflow, workflow_version, created_at)"
                " VALUES ('p', 'p', '{}', 1, 0)"
            )
        )
        for i, (stage, status) in enumerate([("a", "NEW")] * 3 + [("b", "COMPLETED")] * 2):
            conn.execute(
                text(
                    "INSERT INTO tasks (task_uuid, project_hash, data_hash, label_hash,"
                    " stage_uuid, status, updated_at) VALUES (:t, 'p', :t, :t, :s, :st, 0)"
                ),
                {"t": f"t{i}", "s": stage, "st": status},
            )
    with db.engine.connect() as conn:
        cfg.attributes["connection"] = conn
        command.upgrade(cfg, "head")
        conn.commit()
    with db.read() as conn:
        assert task_counts.by_stage(conn, "p") == {"a": {"NEW": 3}, "b": {"COMPLETED": 2}}
    db.dispose()

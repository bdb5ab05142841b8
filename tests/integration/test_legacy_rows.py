"""Rows stored before the API refused lone surrogates read back after migration 0003."""

from __future__ import annotations

import importlib.util
from pathlib import Path
from types import ModuleType

from sqlalchemy import text

import stagehook.store
from stagehook.store.context import Store
from tests.support.api import Api
from tests.support.workflows import basic_workflow

MIGRATION = (
    Path(stagehook.store.__file__).parent / "migrations/versions/0003_sessions_and_secrets.py"
)


def migration() -> ModuleType:
    spec = importlib.util.spec_from_file_location("migration_0003", MIGRATION)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_the_migration_repairs_a_stored_lone_surrogate(api: Api, store: Store) -> None:
    dataset_hash, _ = api.dataset_with_units(1)
    project_hash = api.create_project("p", [dataset_hash], workflow=basic_workflow())[
        "project_hash"
    ]
    label_hash = api.tasks(project_hash)[0]["label_hash"]
    # What the API used to store on SQLite: a lone surrogate escape (next to a valid pair).
    legacy = '{"bad": "a\\ud800b", "ok": "\\ud83d\\ude00"}'
    with store.db.write() as conn:
        if store.db.is_sqlite:
            conn.execute(
                text("UPDATE label_rows SET labels = :doc WHERE label_hash = :h"),
                {"doc": legacy, "h": label_hash},
            )
        migration().repair_lone_surrogates(conn)
    labels = api.get_label_row(project_hash, label_hash)["labels"]
    if store.db.is_sqlite:
        assert labels == {"bad": "a\ufffdb", "ok": "\U0001f600"}
    else:  # PostgreSQL never stored one; the repair leaves rows alone
        assert labels == {}

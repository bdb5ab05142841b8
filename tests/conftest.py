from __future__ import annotations

import os

import pytest

from tests.support.backends import drop_pg_template, make_pg_template, pg_available


def pytest_sessionstart(session: pytest.Session) -> None:
    reason = pg_available()
    if reason is None:
        make_pg_template()
        os.environ["STAGEHOOK_TEST_PG_READY"] = "1"
    elif os.environ.get("CI"):
        raise pytest.UsageError(f"PostgreSQL is required in CI but unreachable: {reason}")


def pytest_sessionfinish(session: pytest.Session) -> None:
    if os.environ.pop("STAGEHOOK_TEST_PG_READY", None):
        drop_pg_template()

"""Watching the statements an engine runs, for the length of a block."""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from typing import Any

from sqlalchemy import Engine, event


@contextlib.contextmanager
def listening(engine: Engine, listener: Any) -> Iterator[None]:
    """``listener`` sees every statement ``engine`` runs (``before_cursor_execute``),
    for the block."""
    event.listen(engine, "before_cursor_execute", listener)
    try:
        yield
    finally:
        event.remove(engine, "before_cursor_execute", listener)


@contextlib.contextmanager
def captured(engine: Engine, starts: str) -> Iterator[list[tuple[str, Any]]]:
    """Every statement (with its parameters) run on ``engine`` meanwhile that starts
    with ``starts``."""
    seen: list[tuple[str, Any]] = []

    def capture(_c: Any, _cur: Any, statement: str, params: Any, *_rest: Any) -> None:
        if statement.lstrip().startswith(starts):
            seen.append((statement, params))

    with listening(engine, capture):
        yield seen

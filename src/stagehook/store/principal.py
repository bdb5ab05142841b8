"""Who is making a request: the user behind an API key or a browser session."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Principal:
    user_id: str
    username: str
    is_admin: bool

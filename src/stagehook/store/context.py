"""What every store operation needs: the database, the clock and the settings."""

from __future__ import annotations

import base64
import uuid
from dataclasses import dataclass, field

from stagehook.clock import Clock
from stagehook.config import Settings
from stagehook.errors import InvalidInput
from stagehook.store.auth_cache import AuthCache
from stagehook.store.db import Database

#: Largest id a database row can have (BIGINT); larger numbers in requests are refused.
MAX_ID = 2**63 - 1


@dataclass
class Store:
    """The handle every service function takes: the database, the clock and the settings."""

    db: Database
    clock: Clock
    settings: Settings
    auth: AuthCache = field(default_factory=AuthCache)


def new_hash() -> str:
    return str(uuid.uuid4())


def encode_cursor(seq: int) -> str:
    return base64.urlsafe_b64encode(str(seq).encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> int:
    if not cursor:
        return 0
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        value = int(base64.urlsafe_b64decode(padded.encode()).decode())
    except (ValueError, UnicodeDecodeError) as exc:
        raise InvalidInput("cursor is not valid; pass the next_cursor of a previous page") from exc
    if not 0 <= value <= MAX_ID:
        raise InvalidInput("cursor is not valid; pass the next_cursor of a previous page")
    return value

"""Standard Webhooks signatures, so receivers can verify with any compliant library.

Signing delegates to the ``standardwebhooks`` package rather than re-implementing the
HMAC, so what we send is by construction what its ``Webhook.verify`` accepts.
"""

from __future__ import annotations

import functools
import math
from collections.abc import Sequence
from datetime import UTC, datetime

from standardwebhooks import Webhook


def _utc(timestamp: datetime) -> datetime:
    # Webhook.sign() stamps the tzinfo as UTC without converting, so a naive or
    # non-UTC time would silently sign a different second than the header says.
    if timestamp.tzinfo is None:
        raise ValueError("signing timestamp must be timezone-aware")
    return timestamp.astimezone(UTC)


@functools.lru_cache(maxsize=1024)
def _signer(secret: str) -> Webhook:
    """One ``Webhook`` per secret: it decodes the key once, not on every delivery."""
    return Webhook(secret)


def signature_header(secrets: Sequence[str], msg_id: str, timestamp: datetime, body: bytes) -> str:
    """One ``v1,<sig>`` per secret: during a rotation receivers on either secret verify."""
    if not secrets:
        raise ValueError("at least one signing secret is required")
    moment = _utc(timestamp)
    data = body.decode("utf-8")
    unique = dict.fromkeys(secrets)
    return " ".join(_signer(secret).sign(msg_id, moment, data) for secret in unique)


def build_headers(
    secrets: Sequence[str], msg_id: str, timestamp: datetime, body: bytes, user_agent: str
) -> dict[str, str]:
    """Every header a delivery request carries, signed for ``body`` as sent."""
    return {
        "content-type": "application/json",
        "user-agent": user_agent,
        "webhook-id": msg_id,
        "webhook-timestamp": str(math.floor(_utc(timestamp).timestamp())),
        "webhook-signature": signature_header(secrets, msg_id, timestamp, body),
    }

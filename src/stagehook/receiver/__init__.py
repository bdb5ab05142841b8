"""Receive stagehook webhooks: verify signatures, parse events, enforce source addresses.

This package is what receivers import, so it depends only on ``stagehook.events`` and
``standardwebhooks`` (no server, database or HTTP client code comes along)::

    from stagehook.receiver import verify, Allowlist, webhook_app
"""

from __future__ import annotations

from stagehook.receiver.allowlist import Allowlist
from stagehook.receiver.asgi import webhook_app
from stagehook.receiver.verify import InvalidEvent, ReceiveError, VerificationError, verify

__all__ = [
    "Allowlist",
    "InvalidEvent",
    "ReceiveError",
    "VerificationError",
    "verify",
    "webhook_app",
]

"""Check that a request really came from stagehook before trusting its body.

``standardwebhooks.Webhook.verify`` has a fixed 5-minute tolerance and raises unhelpful
errors on malformed signature lists, so the checks are done here, with the package's
``sign`` computing the expected signature to stay byte-compatible with it.
"""

from __future__ import annotations

import hmac
import time
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime

from pydantic import ValidationError
from standardwebhooks import Webhook

from stagehook.events import TaskCompletedEvent, TaskSubmittedEvent, parse_event

DEFAULT_TOLERANCE = 300.0


class ReceiveError(Exception):
    """Base for everything that makes a received webhook unusable."""


class VerificationError(ReceiveError):
    """The request is not provably from the sender (headers, timestamp or signature)."""


class InvalidEvent(ReceiveError):
    """Authentic, but the body is not an event this SDK understands."""


def webhooks_for(secret_or_secrets: str | Sequence[str]) -> list[Webhook]:
    secrets = [secret_or_secrets] if isinstance(secret_or_secrets, str) else secret_or_secrets
    if not secrets:
        raise ValueError("at least one webhook secret is required")
    return [Webhook(secret) for secret in secrets]


def check_signature(
    webhooks: Sequence[Webhook],
    headers: Mapping[str, str],
    body: bytes,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
) -> None:
    """Raise :class:`VerificationError` unless one signature matches one secret."""
    lowered = {key.lower(): value for key, value in headers.items()}
    msg_id = lowered.get("webhook-id", "")
    stamp = lowered.get("webhook-timestamp", "")
    signatures = lowered.get("webhook-signature", "")
    if not (msg_id and stamp and signatures):
        missing = [
            name
            for name in ("webhook-id", "webhook-timestamp", "webhook-signature")
            if not lowered.get(name)
        ]
        raise VerificationError(f"missing header(s): {', '.join(missing)}")
    try:
        seconds = int(stamp)
    except ValueError:
        raise VerificationError("webhook-timestamp is not an integer") from None
    # Replays of a captured request are refused once they are older than the tolerance.
    skew = time.time() - seconds
    if skew > tolerance:
        raise VerificationError("webhook-timestamp is too old")
    if skew < -tolerance:
        raise VerificationError("webhook-timestamp is in the future")
    try:
        data = body.decode("utf-8")
    except UnicodeDecodeError:
        raise VerificationError("body is not UTF-8") from None
    moment = datetime.fromtimestamp(seconds, UTC)
    offered = [sig for sig in signatures.split() if sig.startswith("v1,")]
    for webhook in webhooks:
        expected = webhook.sign(msg_id, moment, data).encode()
        if any(hmac.compare_digest(expected, sig.encode()) for sig in offered):
            return
    raise VerificationError("no matching signature")


def verify(
    secret_or_secrets: str | Sequence[str],
    headers: Mapping[str, str],
    body: bytes,
    *,
    tolerance: float = DEFAULT_TOLERANCE,
) -> TaskSubmittedEvent | TaskCompletedEvent:
    """Verify a delivery and return its typed event.

    Pass several secrets while rotating: a request signed with any of them is accepted.
    """
    check_signature(webhooks_for(secret_or_secrets), headers, body, tolerance=tolerance)
    return parse_body(body)


def parse_body(body: bytes) -> TaskSubmittedEvent | TaskCompletedEvent:
    try:
        return parse_event(body)
    except ValidationError as exc:
        raise InvalidEvent(f"not a stagehook event: {exc.error_count()} problem(s)") from exc

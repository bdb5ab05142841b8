"""What an attempt's result means for its delivery: pure, so every branch is testable."""

from __future__ import annotations

import random
from dataclasses import dataclass

from stagehook.delivery.retry import apply_retry_after, delay_for
from stagehook.store.outbox.records import DeliveryStatus


@dataclass(frozen=True)
class AttemptResult:
    """What the sender saw. ``status_code`` is None when no HTTP answer arrived."""

    status_code: int | None
    duration_ms: float
    error_class: str | None = None
    error: str | None = None
    response_excerpt: str | None = None
    retry_after: float | None = None

    @property
    def success(self) -> bool:
        return self.status_code is not None and 200 <= self.status_code < 300


@dataclass(frozen=True)
class Decision:
    status: DeliveryStatus
    next_attempt_at: float
    disable_reason: str | None = None


def decide(
    result: AttemptResult,
    *,
    attempts_made: int,
    retry_base: int,
    schedule: list[float],
    jitter: float,
    now: float,
    rng: random.Random,
) -> Decision:
    """``attempts_made`` includes this attempt; the schedule restarts at ``retry_base``."""
    if result.success:
        return Decision(DeliveryStatus.DELIVERED, now)
    if result.status_code == 410:
        return Decision(DeliveryStatus.FAILED, now, "receiver answered 410 Gone")
    delay = delay_for(schedule, attempts_made - retry_base, jitter, rng)
    if delay is None:
        return Decision(DeliveryStatus.FAILED, now)
    if result.status_code in (429, 503):
        delay = apply_retry_after(delay, result.retry_after)
    return Decision(DeliveryStatus.RETRYING, now + delay)

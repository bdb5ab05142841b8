"""When to try a failed delivery again: pure arithmetic, so it is tested without clocks."""

from __future__ import annotations

import math
import random
from collections.abc import Sequence
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime

#: When the schedule says "retry immediately" (a 0 entry) a receiver's Retry-After can
#: still ask us to wait, but no longer than this: there is no scheduled delay to scale.
RETRY_AFTER_CAP_WHEN_IMMEDIATE = 60.0


def delay_for(
    schedule: Sequence[float], attempt: int, jitter: float, rng: random.Random
) -> float | None:
    """Seconds to wait before the next attempt, or None when the delivery has failed.

    ``attempt`` counts attempts already made, so ``schedule[attempt]`` is the wait before
    the next one (``schedule[0]`` is the wait before the very first attempt). Jitter
    spreads retries of a burst of failures so they don't hit the receiver in lockstep.
    """
    if attempt < 0:
        raise ValueError("attempt cannot be negative")
    if not 0 <= jitter <= 1:
        raise ValueError("jitter is a fraction between 0 and 1")
    if attempt >= len(schedule):
        return None
    base = float(schedule[attempt])
    if jitter == 0 or base == 0:
        return base
    return max(0.0, base * (1 + rng.uniform(-jitter, jitter)))


def parse_retry_after(value: str | None, now: datetime) -> float | None:
    """Seconds a ``Retry-After`` header asks for (delay-seconds or HTTP-date), else None."""
    if value is None or not (text := value.strip()):
        return None
    try:
        seconds = float(text)
    except ValueError:
        pass
    else:
        return seconds if math.isfinite(seconds) and seconds >= 0 else None
    try:
        moment = parsedate_to_datetime(text)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return max(0.0, (moment - now).total_seconds())


def apply_retry_after(scheduled: float, retry_after: float | None) -> float:
    """Honour a receiver's Retry-After within [1x, 2x] of our own scheduled delay.

    Never sooner than scheduled (a receiver can't make us hammer it), never more than
    double (a receiver can't park a delivery forever). With a scheduled delay of 0 the
    request is honoured up to ``RETRY_AFTER_CAP_WHEN_IMMEDIATE`` seconds.
    """
    if retry_after is None:
        return scheduled
    if scheduled <= 0:
        return min(retry_after, RETRY_AFTER_CAP_WHEN_IMMEDIATE)
    return min(max(retry_after, scheduled), 2 * scheduled)
